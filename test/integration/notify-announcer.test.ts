import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObjectJson } from '../../src/cluster/informer.ts';
import { parseCommitSha } from '../../src/domain/commit-sha.ts';
import type { ConditionType } from '../../src/domain/incident.ts';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import { incidentRecordFor } from '../../src/pipeline/incident-from-job.ts';
import { jsonWebhookChannel } from '../../src/notify/json-webhook-channel.ts';
import { RedisIncidentStore } from '../../src/queue/incident-store.ts';
import { slackWebhookChannel } from '../../src/notify/slack-webhook-channel.ts';
import { transitionAnnouncer } from '../../src/notify/transition-announcer.ts';
import { type HttpReceiver, startHttpReceiver } from '../../src/sandbox/http-receiver.ts';
import { redisUrl } from '../global-setup.ts';
import { recordingLogger } from '../helpers/wait.ts';

const PREFIX = `rewind-test:announce:${randomUUID()}`;
let redis: Redis;
const receivers: HttpReceiver[] = [];

beforeAll(() => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  await Promise.all(receivers.map((r) => r.close()));
});

function recordAt(id: string, ...steps: [ConditionType, string][]): IncidentRecord {
  return {
    id,
    app: { engine: 'flux-kustomization', namespace: 'flux-system', name: 'podinfo' },
    badRevision: parseCommitSha('a'.repeat(40)),
    conditions: steps.map(([type, reason], i) => ({
      type,
      reason,
      message: `${type} happened`,
      at: new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString(),
    })),
    details: { trigger: 'engine', dryRun: false },
    updatedAt: new Date().toISOString(),
  };
}

/** Records Events written through the ClusterPort verbs the announcer uses. */
function recordingCluster() {
  const events: { reason: string; type: string; message: string }[] = [];
  return {
    events,
    get: () =>
      Promise.resolve({
        apiVersion: 'x/v1',
        kind: 'Kustomization',
        metadata: { name: 'podinfo' },
      } as KubeObjectJson),
    recordEvent: (_o: KubeObjectJson, type: 'Normal' | 'Warning', reason: string, message: string) => {
      events.push({ type, reason, message });
      return Promise.resolve();
    },
  };
}

describe('transition announcer', () => {
  it('announces a transition once however often it is replayed, and a later condition again', async () => {
    const receiver = await startHttpReceiver();
    receivers.push(receiver);
    const cluster = recordingCluster();
    const announce = transitionAnnouncer({
      redis,
      prefix: `${PREFIX}:a`,
      channels: [jsonWebhookChannel({ url: receiver.url })],
      cluster,
      log: recordingLogger([]),
    });
    const detected = recordAt('inc-a', ['Detected', 'Detected']);
    const needsHuman = recordAt('inc-a', ['Detected', 'Detected'], ['NeedsHuman', 'BudgetExhausted']);
    await Promise.all([announce(detected), announce(detected), announce(detected)]);
    await announce(needsHuman);
    await announce(needsHuman);
    expect(receiver.received.map((r) => (r.json as { condition: string }).condition)).toEqual([
      'Detected',
      'NeedsHuman',
    ]);
    expect(cluster.events.map((e) => [e.type, e.reason])).toEqual([['Warning', 'RollbackNeedsHuman']]);
  });

  it('writes an Event for every terminal outcome except those the verifier writes', async () => {
    const cluster = recordingCluster();
    const announce = transitionAnnouncer({
      redis,
      prefix: `${PREFIX}:b`,
      channels: [],
      cluster,
      log: recordingLogger([]),
    });
    await announce(recordAt('inc-s', ['Detected', 'D'], ['Superseded', 'NewerRevision']));
    await announce(recordAt('inc-i', ['Detected', 'D'], ['Ignored', 'ObserveMode']));
    await announce(recordAt('inc-f', ['Detected', 'D'], ['Failed', 'JobFailed']));
    await announce(recordAt('inc-v', ['Detected', 'D'], ['Failed', 'VerifyTimeout']));
    await announce(recordAt('inc-r', ['Detected', 'D'], ['Failed', 'RolloutFailed']));
    await announce(recordAt('inc-c', ['Detected', 'D'], ['Converged', 'LastGoodReplicaSet']));
    expect(cluster.events.map((e) => e.reason)).toEqual([
      'RollbackSuperseded',
      'RollbackIgnored',
      'RollbackGaveUp',
    ]);
  });

  it('never fails or stalls on a failing or silent endpoint, and logs without the URL', async () => {
    const failing = await startHttpReceiver({ status: 500 });
    const silent = await startHttpReceiver({ delayMs: 60_000 });
    const fine = await startHttpReceiver();
    receivers.push(failing, silent, fine);
    const logs: string[] = [];
    const announce = transitionAnnouncer({
      redis,
      prefix: `${PREFIX}:c`,
      channels: [
        jsonWebhookChannel({ url: `${failing.url}/hook?token=s3cr3t` }),
        slackWebhookChannel(`${silent.url}/services/T/B/s3cr3t`, 60_000),
        jsonWebhookChannel({ url: fine.url }),
      ],
      timeoutMs: 500,
      log: recordingLogger(logs),
    });
    await expect(announce(recordAt('inc-c', ['Detected', 'Detected']))).resolves.toBeUndefined();
    expect(fine.received).toHaveLength(1);
    expect(failing.received).toHaveLength(1);
    expect(logs.filter((l) => l.includes('announcement failed'))).toHaveLength(2);
    expect(logs.join('\n')).not.toContain('s3cr3t');
  });

  it('sends no token and no Slack markup of a Detected record, and stores none in Redis', async () => {
    const webhook = await startHttpReceiver();
    const slack = await startHttpReceiver();
    receivers.push(webhook, slack);
    const token = `ghp_${'Zz09Yy18Xx27'.repeat(3)}`;
    const store = new RedisIncidentStore(redis, `${PREFIX}:d`);
    // The detector's Detected record: the engine's message as the cluster reported it.
    const record = incidentRecordFor(
      {
        incidentId: 'inc-ks.flux-system.podinfo-0123456789ab',
        app: { engine: 'flux-kustomization', namespace: 'flux-system', name: 'podinfo' },
        badRevision: 'a'.repeat(40),
        trigger: 'engine',
        reason: 'BuildFailed',
        message: `kustomize build failed: git clone https://x-access-token:${token}@github.com/o/r: ${token} \u202E`,
        detectedAt: new Date().toISOString(),
        manual: false,
        dryRun: false,
      },
      new Date(),
    );
    const subject = `bump <!channel> <https://evil.example/login|Approve rollback> ${token}`;
    const created = await store.create({
      ...record,
      details: { ...record.details, culpritSubject: subject },
    });
    if (created.kind !== 'saved') throw new Error('expected a new record');

    const stored = (await redis.get(`${PREFIX}:d:incident:${record.id}`)) ?? '';
    expect(stored).toContain('kustomize build failed');
    expect(stored).not.toContain(token);
    expect(stored).not.toContain('\u202E');

    const announce = transitionAnnouncer({
      redis,
      prefix: `${PREFIX}:d`,
      channels: [
        jsonWebhookChannel({ url: webhook.url }),
        slackWebhookChannel(`${slack.url}/services/T/B/x`, 5_000),
      ],
      log: recordingLogger([]),
    });
    await announce(created.record);

    expect(webhook.received).toHaveLength(1);
    expect(webhook.received[0]!.body.toString()).not.toContain(token);
    expect((webhook.received[0]!.json as { message: string }).message).toContain('[REDACTED]');
    const text = (slack.received[0]!.json as { text: string }).text;
    expect(text).not.toContain(token);
    expect(text).not.toContain('<!channel>');
    expect(text).not.toContain('<https://evil.example');
    expect(text).toContain('&lt;!channel&gt; &lt;https://evil.example/login|Approve rollback&gt;');
  });
});
