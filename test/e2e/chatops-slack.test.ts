// ChatOps from Slack through the whole bot: a correctly signed `/rollback`
// from an allowed user runs the same pipeline as an automatic rollback (one revert, verified) and
// reports to the request's response_url; a bad signature, a stale timestamp or a user not allowed
// changes nothing.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { slackSignatureOf } from '../../src/chatops/slack-signature.ts';
import { isTerminal } from '../../src/domain/incident.ts';
import { silentLogger } from '../../src/logging.ts';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import { type HttpReceiver, startHttpReceiver } from '../../src/sandbox/http-receiver.ts';
import { readyFor, waitForKustomization } from '../../src/sandbox/scenario.ts';
import { createSlackCommandEndpoint } from '../../src/server/slack-command.ts';
import { redisUrl } from '../global-setup.ts';
import { type Loop, revertCommitsFor, startLoop } from '../helpers/loop.ts';
import { until } from '../helpers/wait.ts';

const SECRET = 'slack-signing-secret-for-e2e';
const ALLOWED = 'U0ONCALL01';
const OTHER = 'U0VISITOR1';

describe('/rollback from Slack, end to end', () => {
  let loop: Loop | undefined;
  let server: http.Server | undefined;
  let receiver: HttpReceiver | undefined;
  let redis: Redis | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await receiver?.close();
    redis?.disconnect();
    await loop?.stop();
    loop = undefined;
  });

  it('an allowed user rolls back podinfo and hears back; forged, stale or unauthorized requests change nothing', async () => {
    receiver = await startHttpReceiver();
    loop = await startLoop({
      chatops: {
        slack: {
          signingSecretEnv: 'SLACK_SIGNING_SECRET',
          allowedUsers: [ALLOWED],
          responseUrlHosts: [receiver.host],
          allowInsecureResponseUrls: true,
        },
      },
      env: { SLACK_SIGNING_SECRET: SECRET },
    });
    const { sandbox, fleet, runtime, config } = loop;
    redis = new Redis(redisUrl());
    const endpoint = createSlackCommandEndpoint({
      signingSecret: SECRET,
      config: config.chatops.slack,
      executor: runtime.chatops.slack,
      dedupe: { redis, prefix: `${config.redis.prefix}:slack-request:` },
      log: silentLogger(),
    });
    server = http.createServer(endpoint.handler);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/slack`;

    const good = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.5.1');
    fleet.notifyPush();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(good));
    // A change a person wants gone (it is healthy, so nothing automatic happens).
    const unwanted = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.5.2');
    fleet.notifyPush();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(unwanted));

    let n = 0;
    const post = async (user: string, options: { secret?: string; age?: number } = {}) => {
      const body = new URLSearchParams({
        team_id: 'T0TEAM0001',
        channel_id: 'C0OPS00001',
        channel_name: 'ops',
        user_id: user,
        user_name: user.toLowerCase(),
        command: '/rollback',
        text: 'flux-system/podinfo -- 6.5.2 breaks checkout',
        response_url: `${receiver!.url}/commands/T0TEAM0001/${++n}/token`,
        trigger_id: `trigger-${n}`,
      }).toString();
      const timestamp = String(Math.floor(Date.now() / 1000) - (options.age ?? 0));
      return fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-slack-request-timestamp': timestamp,
          'x-slack-signature': slackSignatureOf(options.secret ?? SECRET, timestamp, body),
        },
        body,
      });
    };

    // Refused: a forged signature, a stale timestamp, a user not allowed.
    expect((await post(ALLOWED, { secret: 'not-the-secret' })).status).toBe(401);
    expect((await post(ALLOWED, { age: 600 })).status).toBe(401);
    const refused = await post(OTHER);
    expect(refused.status).toBe(200);
    expect(((await refused.json()) as { text: string }).text).toMatch(/not allowed/i);
    await endpoint.idle();
    expect(await runtime.incidents.list(10)).toEqual([]);
    expect(receiver.received).toEqual([]);

    // Allowed: acknowledged at once, then the outcome posted to response_url.
    const accepted = await post(ALLOWED);
    expect(accepted.status).toBe(200);
    await endpoint.idle();
    let incident: IncidentRecord | undefined;
    await until(
      async () => {
        incident = (await runtime.incidents.list(10)).find((r) => isTerminal(r.conditions.at(-1)!.type));
        return incident !== undefined;
      },
      'the ChatOps incident to end',
      90_000,
      100,
    );
    expect(incident!.conditions.at(-1)?.type).toBe('Converged');
    expect(incident!.details.trigger).toBe('chatops');
    expect(incident!.culprit).toBe(unwanted);
    const reverts = await revertCommitsFor(fleet, incident!.id);
    expect(reverts).toHaveLength(1);
    const message = await fleet.work.raw(['log', '-1', '--format=%B', reverts[0]!]);
    expect(message).toContain('6.5.2 breaks checkout');
    expect(message).toMatch(/Slack #ops/);
    // Who asked is the verified user id, not the name the user chose for themselves.
    expect(message).toContain(`Requested by slack:${ALLOWED} (${ALLOWED.toLowerCase()}) on Slack`);
    expect(incident!.details.requestedBy).toMatch(new RegExp(`^slack:${ALLOWED} `));
    const replies = receiver.received.map((r) => JSON.parse(r.body) as { text: string });
    expect(replies).toHaveLength(1);
    expect(replies[0]!.text).toContain(incident!.id);
  }, 180_000);
});
