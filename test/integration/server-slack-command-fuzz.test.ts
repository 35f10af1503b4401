// Anyone holding the Slack signing secret can send any bytes. Thousands of signed, seeded-random
// slash-command bodies with one part broken must never answer 5xx, never crash the server, and never
// run a command that is malformed, from someone not allowed, or without an allowed response_url.
// Same seed, same bodies: a failure names the seed and the body to replay.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatCommandExecutor } from '../../src/chatops/executor.ts';
import { COMMAND_PREFIX, namedApp, parseCommand } from '../../src/chatops/grammar.ts';
import { slackSignatureOf } from '../../src/chatops/slack-signature.ts';
import { parseConfig } from '../../src/config/index.ts';
import { mulberry32 } from '../../src/sandbox/forge/faults.ts';
import { type HttpReceiver, startHttpReceiver } from '../../src/sandbox/http-receiver.ts';
import { type SlackCommandEndpoint, createSlackCommandEndpoint } from '../../src/server/slack-command.ts';
import { redisUrl } from '../global-setup.ts';
import { recordingLogger } from '../helpers/wait.ts';

const SEED = 20_250_109;
const REQUESTS = 3_000;
const CONCURRENCY = 8;
const SECRET = `slack-signing-${randomUUID()}`;
const PREFIX = `rewind-test:slack-fuzz:${randomUUID()}:`;
const ALLOWED = 'U0ALLOWED';

let redis: Redis;
let receiver: HttpReceiver;
let server: http.Server;
let endpoint: SlackCommandEndpoint;
let url: string;
const executed: string[] = [];

beforeAll(async () => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  receiver = await startHttpReceiver();
  const config = parseConfig(
    {
      chatops: {
        slack: {
          signingSecretEnv: 'S',
          allowedUsers: [ALLOWED],
          responseUrlHosts: [receiver.host],
          allowInsecureResponseUrls: true,
        },
      },
    },
    { env: { S: SECRET } },
  );
  const executor: ChatCommandExecutor = {
    targetApp: (command) => Promise.resolve(namedApp(command)),
    execute: (command, actor) => {
      executed.push(`${actor.kind === 'slack' ? actor.userId : '?'} ${command.kind}`);
      return Promise.resolve('done');
    },
  };
  endpoint = createSlackCommandEndpoint({
    signingSecret: SECRET,
    config: config.chatops.slack,
    executor,
    dedupe: { redis, prefix: PREFIX },
    log: recordingLogger([]),
  });
  server = http.createServer(endpoint.handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/slack`;
});

afterAll(async () => {
  await endpoint.idle();
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await receiver.close();
});

const WORDS = [
  '/rollback',
  'status',
  'pause',
  'resume',
  'cancel',
  'help',
  '--',
  'flux-system/podinfo',
  'ks/flux-system/podinfo',
  'app/argocd/guestbook',
  'hr/default/x',
  'a/b/c/d',
  'UPPER/Case',
  'inc-ks.flux-system.podinfo-0123456789ab',
  'abcdef1',
  'ABCDEF1234',
  'zzzzzzz',
  '\u0000',
  '\u202e',
  '%00',
  '&user_id=U0ALLOWED',
  '`',
  '\n',
  '😀',
];

interface Case {
  body: string;
  /** Whether a correct implementation may run this request's command. */
  mayRun: boolean;
}

function generate(random: () => number, i: number): Case {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const text = Array.from({ length: Math.floor(random() * 6) }, () => pick(WORDS)).join(
    random() < 0.8 ? ' ' : '',
  );
  const fields: Record<string, string> = {
    team_id: 'T0TEAM001',
    channel_id: 'C0OPS0001',
    channel_name: 'ops',
    user_id: ALLOWED,
    user_name: 'allowed',
    command: '/rollback',
    text,
    response_url: `${receiver.url}/commands/${i}`,
  };
  let broken = true;
  switch (pick(['none', 'none', 'none', 'https', 'drop', 'user', 'url', 'id', 'bytes', 'long'] as const)) {
    case 'none':
      broken = false;
      break;
    case 'drop':
      delete fields[pick(['team_id', 'channel_id', 'user_id', 'command', 'text', 'response_url'])];
      break;
    case 'user':
      fields['user_id'] = pick(['U0SOMEONE', 'W0OTHER01', 'u0allowed', '', 'U0ALLOWED ', 'U0ALLOWED\u0000']);
      break;
    case 'url':
      fields['response_url'] = pick([
        'https://example.com/x',
        `http://${receiver.host}@evil.example/`,
        'javascript:alert(1)',
        `http://localhost:${receiver.host.split(':')[1]}/x`,
        '',
      ]);
      break;
    case 'https':
      // https on an allowed host is a good response_url (the post fails here: no TLS on the receiver).
      fields['response_url'] = `https://${receiver.host}/x/${i}`;
      broken = false;
      break;
    case 'id':
      fields[pick(['team_id', 'channel_id'])] = pick(['', 'x', 'T'.repeat(200), '../../etc']);
      break;
    case 'bytes':
      return {
        body: Array.from({ length: Math.floor(random() * 400) }, () =>
          String.fromCharCode(Math.floor(random() * 256)),
        ).join(''),
        mayRun: false,
      };
    case 'long':
      fields['text'] = 'flux-system/podinfo -- ' + 'x'.repeat(1_000 + Math.floor(random() * 20_000));
      break;
  }
  const parsed = parseCommand(`${COMMAND_PREFIX} ${fields['text'] ?? ''}`);
  return {
    body: new URLSearchParams(fields).toString(),
    mayRun: !broken && parsed.ok && parsed.command.kind !== 'help',
  };
}

describe('signed slash-command fuzz', () => {
  it(`answers ${REQUESTS} seeded signed bodies without 5xx and runs only well-formed, allowed commands (seed ${SEED})`, async () => {
    const random = mulberry32(SEED);
    const cases = Array.from({ length: REQUESTS }, (_, i) => generate(random, i));
    const statuses = new Map<number, number>();
    let next = 0;
    let expectedRuns = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= cases.length) return;
        const c = cases[i]!;
        const timestamp = String(Math.floor(Date.now() / 1000));
        const response = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'x-slack-request-timestamp': timestamp,
            'x-slack-signature': slackSignatureOf(SECRET, timestamp, c.body),
          },
          body: c.body,
        });
        const text = await response.text();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status >= 500) throw new Error(`seed ${SEED} body #${i} -> ${response.status} ${text}`);
        if (c.mayRun) expectedRuns++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await endpoint.idle();
    // Every run was an allowed user's well-formed command, and every such command ran.
    expect(executed.every((e) => e.startsWith(`${ALLOWED} `))).toBe(true);
    expect(executed.length).toBe(expectedRuns);
    expect(expectedRuns).toBeGreaterThan(100);
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
  }, 240_000);
});
