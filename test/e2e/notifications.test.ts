import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentNotice } from '../../src/notify/incident-notice.ts';
import { type HttpReceiver, startHttpReceiver } from '../../src/sandbox/http-receiver.ts';
import { EVENT } from '../../src/sandbox/resources.ts';
import { type Loop, startLoop } from '../helpers/loop.ts';
import { until } from '../helpers/wait.ts';

const BROKEN = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';
const WEBHOOK_KEY = 'notify-signing-key-for-tests';

describe('notifications and outcome Events, end to end', () => {
  let loop: Loop | undefined;
  const receivers: HttpReceiver[] = [];
  afterEach(async () => {
    await loop?.stop();
    loop = undefined;
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  it('announces a NeedsHuman incident once to a JSON webhook and a Slack incoming webhook, and writes an Event on the Kustomization', async () => {
    const webhook = await startHttpReceiver();
    const slack = await startHttpReceiver();
    receivers.push(webhook, slack);
    loop = await startLoop({
      // No budget: every automatic rollback needs a person.
      policy: { budgets: { perHour: 0, perDay: 0, cooldown: '0s' } },
      notifications: {
        slack: { webhookUrlEnv: 'TEST_SLACK_WEBHOOK_URL' },
        webhook: { url: `${webhook.url}/rewind`, secretEnv: 'TEST_NOTIFY_KEY' },
      },
      env: { TEST_SLACK_WEBHOOK_URL: `${slack.url}/services/T0/B0/secret`, TEST_NOTIFY_KEY: WEBHOOK_KEY },
    });
    const { sandbox, fleet } = loop;
    const bad = await fleet.setPodinfoImage(BROKEN);
    fleet.notifyPush();
    const incident = await loop.finalIncident(bad);
    expect(incident.conditions.at(-1)).toMatchObject({ type: 'NeedsHuman', reason: 'BudgetExhausted' });

    const noticesOf = (condition: string): IncidentNotice[] =>
      webhook.received.map((r) => r.json as IncidentNotice).filter((n) => n.condition === condition);
    await until(() => noticesOf('NeedsHuman').length > 0, 'the NeedsHuman notice', 20_000);
    await until(() => slack.received.length >= 2, 'the Slack messages (Detected, NeedsHuman)', 20_000);
    // Let retries, re-offers and resyncs happen: still exactly one notice per transition.
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    expect(noticesOf('NeedsHuman')).toHaveLength(1);
    expect(noticesOf('Detected')).toHaveLength(1);
    expect(webhook.received).toHaveLength(2);
    const notice = noticesOf('NeedsHuman')[0]!;
    expect(notice).toMatchObject({
      type: 'rewind.incident',
      version: 1,
      incident: incident.id,
      reason: 'BudgetExhausted',
      app: { engine: 'flux-kustomization', namespace: fleet.namespace, name: 'podinfo' },
      badRevision: bad,
    });
    const delivery = webhook.received.find((r) => (r.json as IncidentNotice).condition === 'NeedsHuman')!;
    expect(delivery.headers['x-rewind-delivery']).toBe(notice.key);
    expect(delivery.headers['x-rewind-signature']).toBe(
      `sha256=${createHmac('sha256', WEBHOOK_KEY).update(delivery.body).digest('hex')}`,
    );

    expect(slack.received).toHaveLength(2);
    expect(slack.received.every((r) => r.path === '/services/T0/B0/secret')).toBe(true);
    const slackTexts = slack.received.map((r) => (r.json as { text: string }).text);
    expect(slackTexts.filter((t) => t.includes('needs a person'))).toHaveLength(1);
    expect(slackTexts.join('\n')).toContain(`${fleet.namespace}/podinfo`);

    const events = sandbox.store
      .list(EVENT, { namespace: fleet.namespace, fieldSelector: 'involvedObject.name=podinfo' })
      .filter((e) => e['reason'] === 'RollbackNeedsHuman');
    expect(events).toHaveLength(1);
    expect(events[0]!['type']).toBe('Warning');
    expect(String(events[0]!['message'])).toContain('BudgetExhausted');
    expect((events[0]!['involvedObject'] as { kind: string }).kind).toBe('Kustomization');
  }, 120_000);
});
