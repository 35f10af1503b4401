// `rewind start` listens where it is told (--host 127.0.0.1: loopback only), and stops by itself
// on SIGTERM, whatever is configured: the drain closes every
// connection and timer it opened (Redis connections of the Slack replay guard, the alert and
// GitHub webhook dedupe, the queues and workers, informers, the Lease, open dashboard event
// streams), so the process exits with code 0 instead of waiting for a SIGKILL. Each optional
// component gets a run of its own: the real CLI against the sandbox and a real Redis.
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { ChildWorker } from '../../src/sandbox/child-worker.ts';
import { deletePrefix } from '../../src/sandbox/loop.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/sandbox.ts';
import { redisUrl } from '../global-setup.ts';
import { measureCliStartMs, startServing } from '../helpers/cli.ts';

/** One start on the busy 2-core machine, with generous room (redis, informers, lease). */
const START_MS = (await measureCliStartMs()) + 30_000;
/**
 * From SIGTERM to exit: measured 0.05 to 0.2 s on the shared 2-core machine for an idle runtime
 * (no job to finish); a hundred times that for a busy one. A connection left open keeps the
 * process alive until it is killed.
 */
const EXIT_MS = 20_000;

let sandbox: Sandbox;
let dir: string;
let redis: Redis;
const prefixes: string[] = [];
let replica: ChildWorker | undefined;
const streams: http.ClientRequest[] = [];

beforeAll(async () => {
  sandbox = await startSandbox({ podReadyMs: 100 });
  dir = await mkdtemp(path.join(tmpdir(), 'rewind-shutdown-'));
  redis = new Redis(redisUrl());
});

afterEach(async () => {
  for (const stream of streams.splice(0)) stream.destroy();
  await replica?.stop();
  replica = undefined;
});

afterAll(async () => {
  for (const prefix of prefixes) await deletePrefix(redis, prefix);
  redis.disconnect();
  await sandbox.stop();
  await rm(dir, { recursive: true, force: true });
});

interface Case {
  name: string;
  config: Record<string, unknown>;
  env?: Record<string, string>;
  /** Something to have open while SIGTERM arrives. */
  during?: (url: string) => Promise<void>;
}

const GITHUB = {
  type: 'github',
  // Nothing is asked of the forge while no pull request exists: a closed port is enough.
  apiUrl: 'http://127.0.0.1:9/api/v3',
  owner: 'fleet-org',
  repo: 'fleet',
  tokenEnv: 'GITHUB_TOKEN',
  webhookSecretEnv: 'GITHUB_WEBHOOK_SECRET',
};

/** Opens the dashboard's event stream and waits for its first bytes. */
async function openEventStream(url: string): Promise<void> {
  const req = http.get(`${url}/api/events`);
  streams.push(req);
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  expect(res.statusCode).toBe(200);
  await once(res, 'data');
  res.on('data', () => undefined);
}

const CASES: Case[] = [
  { name: 'leader election (the default)', config: {} },
  { name: 'no leader election', config: { leaderElection: { enabled: false } } },
  {
    name: 'Slack slash command (replay guard, user groups)',
    config: {
      chatops: {
        slack: {
          signingSecretEnv: 'SLACK_SIGNING_SECRET',
          botTokenEnv: 'SLACK_BOT_TOKEN',
          allowedUsers: ['U0ONCALL01'],
        },
      },
    },
    env: { SLACK_SIGNING_SECRET: 'slack-secret', SLACK_BOT_TOKEN: 'xoxb-test' },
  },
  {
    name: 'alert webhooks (dedupe)',
    config: { alerts: { alertmanager: { tokenEnv: 'ALERT_TOKEN' }, flux: { hmacSecretEnv: 'FLUX_KEY' } } },
    env: { ALERT_TOKEN: 'alert-token', FLUX_KEY: 'flux-key' },
  },
  {
    name: 'GitHub forge and ChatOps (webhook dedupe, comment queue and worker)',
    config: { forge: GITHUB },
    env: { GITHUB_TOKEN: 'ghp_test', GITHUB_WEBHOOK_SECRET: 'webhook-secret' },
  },
  {
    name: 'notifications (Slack webhook, Slack bot, JSON webhook)',
    config: {
      notifications: {
        slack: { webhookUrlEnv: 'SLACK_WEBHOOK_URL', botTokenEnv: 'SLACK_BOT_TOKEN', channel: '#ops' },
        webhook: { url: 'http://127.0.0.1:9/hook' },
      },
    },
    env: { SLACK_WEBHOOK_URL: 'http://127.0.0.1:9/slack', SLACK_BOT_TOKEN: 'xoxb-test' },
  },
  { name: 'dashboard with an open event stream', config: {}, during: openEventStream },
];

/** A rewind.yaml for the sandbox with a Redis prefix of its own, plus `config`. */
async function writeConfig(config: Record<string, unknown>): Promise<string> {
  const prefix = `rewind-test-start-${process.pid}-${Date.now()}`;
  prefixes.push(prefix);
  const file = path.join(dir, `${prefix}.yaml`);
  await writeFile(
    file,
    stringify({
      redis: { url: redisUrl(), prefix },
      kubernetes: { kubeconfig: sandbox.kubeconfigPath },
      git: { workdir: path.join(dir, prefix), allowFileRemotes: true },
      leaderElection: { name: prefix },
      ...config,
    }),
  );
  return file;
}

/** Whether a TCP connection to host:port is accepted. */
async function accepts(host: string, port: number): Promise<boolean> {
  const socket = net.connect(port, host);
  try {
    await once(socket, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

describe('rewind start --host', () => {
  // 127.0.0.2 reaches this machine through the loopback interface too (Linux routes 127.0.0.0/8
  // there), but only a socket bound to every interface accepts connections addressed to it.
  it.each([
    { name: '--host 127.0.0.1: loopback only', host: '127.0.0.1', yaml: {}, printed: '127.0.0.1' },
    {
      name: 'server.host 127.0.0.1: loopback only',
      host: undefined,
      yaml: { host: '127.0.0.1' },
      printed: '127.0.0.1',
    },
    {
      name: 'the default: every interface (0.0.0.0, as a Pod needs)',
      host: undefined,
      yaml: {},
      printed: '0.0.0.0',
    },
  ])(
    '$name',
    async ({ host, yaml, printed }) => {
      const file = await writeConfig({ leaderElection: { enabled: false }, server: yaml });
      const started = await startServing(
        ['start', '--config', file, '--listen', '0', ...(host ? ['--host', host] : [])],
        {},
        START_MS,
      );
      replica = started.replica;
      const port = Number(started.address.split(':')[1]);
      expect(started.address).toBe(`${printed}:${port}`);
      expect(await accepts('127.0.0.1', port)).toBe(true);
      expect(await accepts('127.0.0.2', port)).toBe(printed === '0.0.0.0');
    },
    START_MS + 10_000,
  );
});

describe('rewind start stops by itself on SIGTERM', () => {
  it.each(CASES)(
    '$name',
    async ({ config, env = {}, during }) => {
      const file = await writeConfig(config);
      const started = await startServing(
        ['start', '--config', file, '--listen', '0', '--host', '127.0.0.1'],
        env,
        START_MS,
      );
      replica = started.replica;
      const { child } = replica;
      const { url } = started;
      await during?.(url);

      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const outcome = await Promise.race([
        exited.then(([code, signal]) => ({ code: code as number | null, signal: signal as string | null })),
        new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), EXIT_MS)),
      ]);
      expect(outcome, replica.output()).toEqual({ code: 0, signal: null });
    },
    START_MS + EXIT_MS + 10_000,
  );
});
