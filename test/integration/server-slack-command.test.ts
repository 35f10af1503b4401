import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChatActor, ChatChannel, ChatCommandExecutor } from '../../src/chatops/executor.ts';
import { type ChatCommand, namedApp } from '../../src/chatops/grammar.ts';
import { ChatOpsService } from '../../src/chatops/service.ts';
import { slackExecutor } from '../../src/chatops/slack-executor.ts';
import { slackSignatureOf } from '../../src/chatops/slack-signature.ts';
import { SlackUserGroups } from '../../src/chatops/slack-user-groups.ts';
import { type RewindConfig, parseConfig } from '../../src/config/index.ts';
import { appRef } from '../../src/domain/app-ref.ts';
import { parseCommitSha } from '../../src/domain/commit-sha.ts';
import { newIncident } from '../../src/domain/incident.ts';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import { systemClock } from '../../src/pipeline/ports.ts';
import { RedisIncidentStore } from '../../src/queue/incident-store.ts';
import { type HttpReceiver, startHttpReceiver } from '../../src/sandbox/http-receiver.ts';
import { type SlackCommandEndpoint, createSlackCommandEndpoint } from '../../src/server/slack-command.ts';
import { redisUrl } from '../global-setup.ts';
import { recordingLogger, until } from '../helpers/wait.ts';

const SECRET = `slack-signing-${randomUUID()}`;
const PREFIX = `rewind-test:slack:${randomUUID()}:`;
const ALICE = 'U0ALICE01';
const BOB = 'U0BOB0001';
const CAROL = 'U0CAROL01';
const ONCALL = 'S0ONCALL1';

interface Call {
  command: ChatCommand;
  actor: ChatActor;
  channel: ChatChannel;
}

/** Records every command it is given and answers with a fixed text. */
class RecordingExecutor implements ChatCommandExecutor {
  readonly calls: Call[] = [];
  fail = false;
  targetApp(command: ChatCommand) {
    return Promise.resolve(namedApp(command));
  }
  execute(command: ChatCommand, actor: ChatActor, channel: ChatChannel): Promise<string> {
    this.calls.push({ command, actor, channel });
    if (this.fail) return Promise.reject(new Error('queue down xoxb-1234567890-secret'));
    return Promise.resolve(`Rolled back ${'app' in command && command.app ? command.app.name : '?'}: PR #7`);
  }
}

let redis: Redis;
let receiver: HttpReceiver;
let elsewhere: HttpReceiver;
let slackApi: HttpReceiver;
let server: http.Server;
let endpoint: SlackCommandEndpoint;
let url: string;
let config: RewindConfig;
const executor = new RecordingExecutor();
const logs: string[] = [];

beforeAll(async () => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  receiver = await startHttpReceiver();
  elsewhere = await startHttpReceiver();
  // Stands in for Slack's Web API: usergroups.list with include_users.
  slackApi = await startHttpReceiver({
    body: JSON.stringify({ ok: true, usergroups: [{ id: ONCALL, users: [CAROL] }] }),
  });
  config = parseConfig(
    {
      chatops: {
        slack: {
          signingSecretEnv: 'SLACK_SIGNING_SECRET',
          botTokenEnv: 'SLACK_BOT_TOKEN',
          allowedUsers: [ALICE],
          allowedGroups: [ONCALL],
          apps: [{ app: 'flux-system/payments', allowedUsers: [BOB] }],
          responseUrlHosts: ['hooks.slack.com', receiver.host],
          allowInsecureResponseUrls: true,
        },
      },
    },
    { env: { SLACK_SIGNING_SECRET: SECRET, SLACK_BOT_TOKEN: 'xoxb-test-token-0000' } },
  );
  const groups = new SlackUserGroups({ token: 'xoxb-test-token-0000', apiUrl: `${slackApi.url}/api/` });
  endpoint = endpointFor(executor, (user) => groups.groupsOf(user));
  [server, url] = await serve(endpoint);
});

/** The endpoint under test, with this file's secret, config, replay prefix and logs. */
function endpointFor(
  runner: ChatCommandExecutor,
  groupsOf?: (userId: string) => Promise<readonly string[]>,
): SlackCommandEndpoint {
  return createSlackCommandEndpoint({
    signingSecret: SECRET,
    config: config.chatops.slack,
    executor: runner,
    ...(groupsOf ? { groupsOf } : {}),
    dedupe: { redis, prefix: PREFIX },
    log: recordingLogger(logs),
    responseTimeoutMs: 5_000,
  });
}

async function serve(served: SlackCommandEndpoint): Promise<[http.Server, string]> {
  const listening = http.createServer(served.handler);
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
  return [listening, `http://127.0.0.1:${(listening.address() as AddressInfo).port}/webhooks/slack`];
}

afterEach(async () => {
  await endpoint.idle();
  executor.calls.length = 0;
  executor.fail = false;
});

afterAll(async () => {
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await Promise.all([receiver.close(), elsewhere.close(), slackApi.close()]);
  const all = logs.join('\n');
  expect(all).not.toContain(SECRET);
  expect(all).not.toContain('v0=');
  expect(all).not.toContain('xoxb-1234567890-secret');
  expect(all).not.toContain('/commands/');
});

function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

function commandBody(overrides: Record<string, string> = {}): string {
  return form({
    token: 'legacy-verification-token',
    team_id: 'T0TEAM001',
    team_domain: 'acme',
    channel_id: 'C0OPS0001',
    channel_name: 'ops',
    user_id: ALICE,
    user_name: 'alice',
    command: '/rollback',
    text: 'flux-system/podinfo -- bad image',
    response_url: `${receiver.url}/commands/T0TEAM001/1234/secretpart`,
    trigger_id: `${Date.now()}.${Math.random()}`,
    ...overrides,
  });
}

async function post(
  body: string,
  options: { timestamp?: number; signature?: string; secret?: string; to?: string } = {},
): Promise<{ status: number; json: { text?: string; response_type?: string; error?: string } }> {
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const signature = options.signature ?? slackSignatureOf(options.secret ?? SECRET, timestamp, body);
  const response = await fetch(options.to ?? url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': timestamp,
      'x-slack-signature': signature,
    },
    body,
  });
  return { status: response.status, json: (await response.json()) as { text?: string } };
}

describe('POST /webhooks/slack', () => {
  it('runs a correctly signed command from an allowed user and posts the outcome to response_url', async () => {
    const before = receiver.received.length;
    const reply = await post(commandBody());
    expect(reply.status).toBe(200);
    expect(reply.json.response_type).toBe('ephemeral');
    expect(reply.json.text).toContain('flux-system/podinfo');
    await until(() => receiver.received.length > before, 'the outcome on response_url');
    await endpoint.idle();
    expect(executor.calls).toHaveLength(1);
    const call = executor.calls[0]!;
    expect(call.command).toEqual({
      kind: 'rollback',
      app: { engine: 'flux-kustomization', namespace: 'flux-system', name: 'podinfo' },
      reason: 'bad image',
    });
    expect(call.actor).toEqual({ kind: 'slack', userId: ALICE, userName: 'alice', teamId: 'T0TEAM001' });
    expect(call.channel).toEqual({
      kind: 'slack',
      teamId: 'T0TEAM001',
      channelId: 'C0OPS0001',
      channelName: 'ops',
      // Stable per request (its response_url), so a retry finds the incident it started.
      requestId: expect.stringMatching(/^slack-[0-9a-f]{24}$/),
    });
    const posted = receiver.received.at(-1)!;
    expect(posted.path).toBe('/commands/T0TEAM001/1234/secretpart');
    expect(posted.json).toMatchObject({ response_type: 'in_channel', text: 'Rolled back podinfo: PR #7' });
  });

  it('refuses a bad signature with 401 and runs nothing', async () => {
    const reply = await post(commandBody(), { secret: 'not-the-secret' });
    expect(reply.status).toBe(401);
    const tampered = await post(commandBody(), { signature: `v0=${'0'.repeat(64)}` });
    expect(tampered.status).toBe(401);
    const malformed = await post(commandBody(), { signature: 'sha256=abc' });
    expect(malformed.status).toBe(401);
    expect(executor.calls).toHaveLength(0);
  });

  it('refuses a stale or far-future timestamp with 401 even when correctly signed', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await post(commandBody(), { timestamp: now - 301 })).status).toBe(401);
    expect((await post(commandBody(), { timestamp: now + 3600 })).status).toBe(401);
    expect(executor.calls).toHaveLength(0);
  });

  it('refuses a replayed request: the same signed request runs once', async () => {
    const body = commandBody();
    const timestamp = Math.floor(Date.now() / 1000);
    expect((await post(body, { timestamp })).status).toBe(200);
    const replay = await post(body, { timestamp });
    expect(replay.status).toBe(401);
    expect(replay.json.error).toContain('replayed');
    await endpoint.idle();
    expect(executor.calls).toHaveLength(1);
  });

  it('refuses a user who is not allowed, with a reply that says why, and runs nothing', async () => {
    const before = receiver.received.length;
    const reply = await post(commandBody({ user_id: BOB, user_name: 'bob' }));
    expect(reply.status).toBe(200);
    expect(reply.json.response_type).toBe('ephemeral');
    expect(reply.json.text).toContain('not allowed');
    await endpoint.idle();
    expect(executor.calls).toHaveLength(0);
    expect(receiver.received.length).toBe(before);
  });

  it("lets an app's own allow-list replace the global one for that app only", async () => {
    const bobOnPayments = await post(commandBody({ user_id: BOB, text: 'flux-system/payments' }));
    expect(bobOnPayments.json.text).not.toContain('not allowed');
    const aliceOnPayments = await post(commandBody({ text: 'flux-system/payments' }));
    expect(aliceOnPayments.json.text).toContain('not allowed');
    const bobGlobalPause = await post(commandBody({ user_id: BOB, text: 'pause' }));
    expect(bobGlobalPause.json.text).toContain('not allowed');
    await endpoint.idle();
    expect(executor.calls.map((c) => [c.actor.kind === 'slack' && c.actor.userId, c.command.kind])).toEqual([
      [BOB, 'rollback'],
    ]);
  });

  it('authorizes by Slack user group, looked up through the Web API', async () => {
    const reply = await post(commandBody({ user_id: CAROL, user_name: 'carol', text: 'status' }));
    expect(reply.json.text).not.toContain('not allowed');
    await endpoint.idle();
    expect(executor.calls).toHaveLength(1);
    expect(executor.calls[0]!.actor).toMatchObject({ userId: CAROL, groups: [ONCALL] });
    expect(slackApi.received.at(-1)!.path).toBe('/api/usergroups.list');
    expect(slackApi.received.at(-1)!.headers.authorization).toBe('Bearer xoxb-test-token-0000');
  });

  it('never calls a response_url outside the allowed hosts, and runs nothing then', async () => {
    const forged = [
      `${elsewhere.url}/commands/x`,
      `http://user:pw@${receiver.host}/commands/x`,
      `https://hooks.slack.com.evil.example/commands/x`,
      `https://hooks.slack.com:8443/commands/x`,
      `file:///etc/passwd`,
      'not a url',
    ];
    for (const responseUrl of forged) {
      const reply = await post(commandBody({ response_url: responseUrl }));
      expect(reply.status).toBe(200);
      expect(reply.json.text).toContain('response_url is not allowed');
    }
    await endpoint.idle();
    expect(executor.calls).toHaveLength(0);
    expect(elsewhere.received).toHaveLength(0);
  });

  it('answers help and malformed commands at once without running anything', async () => {
    const help = await post(commandBody({ text: 'help' }));
    expect(help.json.text).toContain('/rollback status');
    const bad = await post(commandBody({ text: 'flux-system/podinfo not-a-sha extra' }));
    expect(bad.json.response_type).toBe('ephemeral');
    expect(bad.json.text).toContain('Usage');
    await endpoint.idle();
    expect(executor.calls).toHaveLength(0);
  });

  it('quotes a refused name without bidi, zero-width or control characters, and escaped for Slack', async () => {
    const name = 'flux-system/pod\u202Eofni\u200B\u0007<!channel>';
    const refused = await post(commandBody({ text: name }));
    expect(refused.json.response_type).toBe('ephemeral');
    const text = refused.json.text ?? '';
    expect(text).toContain('pod');
    for (const c of ['\u202E', '\u200B', '\u0007']) expect(text).not.toContain(c);
    expect(text).not.toContain('<!channel>');
    expect(text).toContain('&lt;!channel&gt;');
    await endpoint.idle();
  });

  it('refuses a signed body that is not a slash command (400) or too large (413)', async () => {
    expect((await post(form({ user_id: ALICE, text: 'status' }))).status).toBe(400);
    expect((await post(commandBody({ user_id: 'alice' }))).status).toBe(400);
    expect((await post(commandBody({ text: 'x'.repeat(20_000) }))).status).toBe(413);
    expect(executor.calls).toHaveLength(0);
  });

  it('reports a command that could not run, without its error details', async () => {
    executor.fail = true;
    const before = receiver.received.length;
    expect((await post(commandBody())).status).toBe(200);
    await until(() => receiver.received.length > before, 'the failure on response_url');
    const posted = receiver.received.at(-1)!;
    expect(posted.json).toMatchObject({ response_type: 'ephemeral' });
    expect(posted.body).toContain('could not run');
    expect(posted.body).not.toContain('xoxb');
  });
});

describe('response_url policy', () => {
  it('does not accept http:// unless the test-only switch is on', async () => {
    const config = parseConfig(
      {
        chatops: {
          slack: { signingSecretEnv: 'S', allowedUsers: [ALICE], responseUrlHosts: [receiver.host] },
        },
      },
      { env: { S: SECRET } },
    );
    const strict = createSlackCommandEndpoint({
      signingSecret: SECRET,
      config: config.chatops.slack,
      executor,
      dedupe: { redis, prefix: PREFIX },
      log: recordingLogger(logs),
    });
    const strictServer = http.createServer(strict.handler);
    await new Promise<void>((resolve) => strictServer.listen(0, '127.0.0.1', resolve));
    const before = receiver.received.length;
    const body = commandBody();
    const timestamp = String(Math.floor(Date.now() / 1000));
    const response = await fetch(`http://127.0.0.1:${(strictServer.address() as AddressInfo).port}/`, {
      method: 'POST',
      headers: {
        'x-slack-request-timestamp': timestamp,
        'x-slack-signature': slackSignatureOf(SECRET, timestamp, body),
      },
      body,
    });
    expect(((await response.json()) as { text: string }).text).toContain('response_url is not allowed');
    await strict.idle();
    await new Promise<void>((resolve) => strictServer.close(() => resolve()));
    expect(executor.calls).toHaveLength(0);
    expect(receiver.received.length).toBe(before);
  });
});

describe('Slack commands run by the ChatOps service', () => {
  const notUsed = (): never => {
    throw new Error('cancel touches only the incidents');
  };
  let store: RedisIncidentStore;
  let real: SlackCommandEndpoint;
  let realServer: http.Server;
  let realUrl: string;
  let n = 0;

  beforeAll(async () => {
    store = new RedisIncidentStore(redis, `${PREFIX}incidents:`);
    const service = new ChatOpsService({
      config,
      cluster: { get: notUsed, list: notUsed, annotate: notUsed, create: notUsed } as never,
      git: { commitsWithPrefix: notUsed, parentOf: notUsed, latestChangeOf: notUsed, validateRange: notUsed },
      incidents: store,
      requests: { incidentFor: notUsed, claimIncident: notUsed },
      enqueueRollback: notUsed,
      clock: systemClock,
      log: recordingLogger(logs),
    });
    real = endpointFor(slackExecutor(service, config.chatops));
    [realServer, realUrl] = await serve(real);
  });

  afterAll(async () => {
    await real.idle();
    await new Promise<void>((resolve) => realServer.close(() => resolve()));
  });

  /** An incident of `app` at Detected, stored in Redis. */
  async function detected(app: string): Promise<IncidentRecord> {
    const incident = newIncident({
      app: appRef('flux-kustomization', 'flux-system', app),
      badRevision: parseCommitSha((++n).toString(16).padStart(40, 'b')),
      reason: 'HealthCheckFailed',
      message: 'failing',
      at: new Date(),
    });
    const outcome = await store.create({
      ...incident,
      details: { trigger: 'engine', dryRun: false },
      updatedAt: new Date().toISOString(),
    });
    if (outcome.kind !== 'saved') throw new Error('expected a new incident');
    return outcome.record;
  }

  it("authorizes cancel by the incident's app: its own allow-list, not the global one", async () => {
    const incident = await detected('payments');
    const alice = await post(commandBody({ text: `cancel ${incident.id}` }), { to: realUrl });
    expect(alice.json.text).toContain('not allowed to run this command for app flux-system/payments');
    await real.idle();
    expect((await store.get(incident.id))!.conditions.at(-1)!.type).toBe('Detected');

    const before = receiver.received.length;
    const bob = await post(commandBody({ user_id: BOB, user_name: 'bob', text: `cancel ${incident.id}` }), {
      to: realUrl,
    });
    expect(bob.json.text).not.toContain('not allowed');
    await real.idle();
    expect((await store.get(incident.id))!.conditions.at(-1)).toMatchObject({
      type: 'Ignored',
      reason: 'Cancelled',
    });
    expect(receiver.received.length).toBe(before + 1);
  });

  it('records the verified Slack user id as who acted, never only the self-chosen user name', async () => {
    const incident = await detected('podinfo');
    // Alice renames herself after someone else: the record still names her user id.
    await post(commandBody({ user_name: 'bob', text: `cancel ${incident.id}` }), { to: realUrl });
    await real.idle();
    const record = (await store.get(incident.id))!;
    expect(record.details.cancelledBy).toMatch(new RegExp(`^slack:${ALICE} \\(bob\\) \\(Slack #ops\\)`));
    expect(record.conditions.at(-1)!.message).toContain(`slack:${ALICE}`);
    expect(JSON.parse(receiver.received.at(-1)!.body)).toMatchObject({
      text: expect.stringContaining(`Cancelled by slack:${ALICE} (bob)`),
    });
  });
});
