// The whole bot on the sandbox, for e2e tests and the fault campaign (bench/faults.ts): sandbox
// cluster, sample fleet, Redis under a unique prefix (keys deleted afterwards), and a runtime with
// the roles asked for. Not under test/ because the benchmarks drive the same loop.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { parseConfig, type RewindConfig } from '../config/index.ts';
import { freePort, localRedisUrl } from '../demo/redis.ts';
import { isTerminal } from '../domain/incident.ts';
import { createLogger, silentLogger } from '../logging.ts';
import {
  type FaultOptions,
  type CommitMessageSettings,
  type ProtectionOptions,
  type SandboxForge,
  startSandboxForge,
} from '../sandbox/forge/server.ts';
import type { ForgeUserInput } from '../sandbox/forge/users.ts';
import type { DashboardOptions } from '../server/dashboard/dashboard.ts';
import { alertEndpoints } from '../server/alert-webhooks.ts';
import { type HttpListener, listenHttp } from '../server/http.ts';
import type { IncidentRecord } from '../pipeline/incident-record.ts';
import {
  BROKEN_IMAGE_GLOB,
  type Fleet,
  createFleet,
  readyFor,
  waitForKustomization,
} from '../sandbox/scenario.ts';
import { type Sandbox, type SandboxOptions, startSandbox } from '../sandbox/sandbox.ts';
import { type Role, type Runtime, startRuntime } from '../../workers/runtime.ts';

/** A long installation-style token: it must never appear in logs, Redis or PR bodies. */
export const GITHUB_TEST_TOKEN = `ghs_${'A1b2C3d4E5'.repeat(30)}`;

/**
 * Deletes every key under the prefix in one server-side script (SCAN MATCH + UNLINK), so a running
 * installation sees it as one instant loss of its Redis, not keys vanishing one by one.
 */
const DELETE_PREFIX = `
local cursor = "0"
local deleted = 0
repeat
  local page = redis.call("SCAN", cursor, "MATCH", ARGV[1], "COUNT", 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    deleted = deleted + redis.call("UNLINK", key)
  end
until cursor == "0"
return deleted
`;

export async function deletePrefix(redis: Redis, prefix: string): Promise<number> {
  return (await redis.eval(DELETE_PREFIX, 0, `${prefix}*`)) as number;
}

export interface Loop {
  sandbox: Sandbox;
  fleet: Fleet;
  forge?: SandboxForge;
  /** Where the forge delivers signed webhooks (Rewind's HTTP server), with a forge. */
  webhookUrl?: string;
  /** Rewind's HTTP server (health, metrics, dashboard), with a forge, alert endpoints or `http`. */
  httpUrl?: string;
  env: Record<string, string>;
  config: RewindConfig;
  configInput: Record<string, unknown>;
  runtime: Runtime;
  workdir: string;
  /** This loop's Redis key prefix (a second runtime on it shares the installation's state). */
  prefix: string;
  /** Waits until the incident for `badSha` is final; returns it. */
  finalIncident(badSha: string, timeoutMs?: number): Promise<IncidentRecord>;
  /** Deletes every key under this loop's Redis prefix (what losing Redis looks like to it). */
  flushPrefix(): Promise<number>;
  /** Closes the runtime and starts a new one on the same config (what a pod restart looks like). */
  restartRuntime(): Promise<void>;
  stop(): Promise<void>;
}

export interface LoopOptions {
  policy?: Record<string, unknown>;
  roles?: Role[];
  timeout?: string;
  /** Revert through pull requests on a sandbox forge (with a webhook into Rewind's HTTP server). */
  forge?: {
    protection?: ProtectionOptions;
    faults?: FaultOptions;
    pollInterval?: string;
    mergeMethod?: 'merge' | 'squash' | 'rebase';
    /** The forge repository's default merge/squash commit messages (GitHub's defaults otherwise). */
    commitMessages?: Partial<CommitMessageSettings>;
    /** More people on the forge (ChatOps: their role and personal token). */
    users?: ForgeUserInput[];
  };
  /** `chatops` config keys. */
  chatops?: Record<string, unknown>;
  /** Per-app policy overrides (the `apps` config key). */
  apps?: Record<string, unknown>[];
  /** Overrides of the `git` config keys (default: file remotes allowed, the sandbox's). */
  git?: Record<string, unknown>;
  /** Where Rewind's logs go (default: nowhere). */
  logTo?: NodeJS.WritableStream;
  /** Default: REDIS_URL or the local default. */
  redisUrl?: string;
  /** How often the verifier looks again (default 100 ms: tests; a storm of hundreds wants Rewind's 1 s). */
  verifyIntervalMs?: number;
  /** The `worker` config keys (e.g. a low `concurrency` so a storm's incidents run in batches). */
  worker?: Record<string, unknown>;
  /** Detector timings (e.g. a short re-offer period for Redis-loss tests). */
  detector?: { resyncMs?: number; reofferMs?: number };
  /** The `alerts` config keys (alert endpoints on Rewind's HTTP server); their *Env keys name `env`. */
  alerts?: Record<string, unknown>;
  /** The `notifications` config keys, and the environment its *Env keys name. */
  notifications?: Record<string, unknown>;
  env?: Record<string, string>;
  /** The sandbox's authorization mode and audit log (an RBAC sandbox serves https). */
  access?: SandboxOptions['access'];
  /**
   * The kubeconfig Rewind runs with, made once the sandbox and fleet are up (e.g. installing
   * deploy/ and minting its ServiceAccount's token); default: the sandbox admin's.
   */
  kubeconfigFor?: (sandbox: Sandbox) => Promise<string>;
  /** How long a simulated Pod takes to become Ready (default 100 ms; longer widens a rollout's window). */
  podReadyMs?: number;
  /** Serve Rewind's HTTP listener without a forge too (always served with one). */
  http?: boolean;
  dashboard?: DashboardOptions;
}

let counter = 0;

export async function startLoop(options: LoopOptions = {}): Promise<Loop> {
  const redisUrl = options.redisUrl ?? localRedisUrl();
  const sandbox = await startSandbox({
    podReadyMs: options.podReadyMs ?? 100,
    unreadyImages: [BROKEN_IMAGE_GLOB],
    ...(options.access ? { access: options.access } : {}),
  });
  const fleet = await createFleet({ sandbox, timeout: options.timeout ?? '4s', replicas: 2 });
  const workdir = await mkdtemp(path.join(tmpdir(), 'rewind-e2e-'));
  const prefix = `rewind-test-${process.pid}-${Date.now()}-${counter++}`;
  const env: Record<string, string> = { ...options.env };
  let forge: SandboxForge | undefined;
  let forgeConfig: Record<string, unknown> = { type: 'direct-push' };
  let http: HttpListener | undefined;
  let webhookRedis: Redis | undefined;
  let alertRedis: Redis | undefined;
  const httpPort = await freePort();
  if (options.forge) {
    env['TEST_GITHUB_TOKEN'] = GITHUB_TEST_TOKEN;
    env['TEST_WEBHOOK_SECRET'] = 'webhook-secret-for-tests';
    forge = await startSandboxForge({
      repoDir: fleet.remote,
      owner: 'fleet-org',
      repo: 'fleet',
      token: GITHUB_TEST_TOKEN,
      webhook: { url: `http://127.0.0.1:${httpPort}/webhooks/github`, secret: 'webhook-secret-for-tests' },
      users: [
        { login: 'alice', email: 'alice@example.com', name: 'Alice Developer' },
        ...(options.forge.users ?? []),
      ],
      ...(options.forge.protection ? { protection: options.forge.protection } : {}),
      ...(options.forge.faults ? { faults: options.forge.faults } : {}),
      ...(options.forge.commitMessages ? { commitMessages: options.forge.commitMessages } : {}),
    });
    forgeConfig = {
      type: 'github',
      apiUrl: forge.url,
      owner: 'fleet-org',
      repo: 'fleet',
      tokenEnv: 'TEST_GITHUB_TOKEN',
      webhookSecretEnv: 'TEST_WEBHOOK_SECRET',
      pollInterval: options.forge.pollInterval ?? '30s',
      ...(options.forge.mergeMethod ? { mergeMethod: options.forge.mergeMethod } : {}),
    };
  }
  const configInput = {
    redis: { url: redisUrl, prefix },
    kubernetes: { kubeconfig: (await options.kubeconfigFor?.(sandbox)) ?? sandbox.kubeconfigPath },
    git: { workdir: path.join(workdir, 'git'), allowFileRemotes: true, ...options.git },
    forge: forgeConfig,
    policy: { gracePeriod: '500ms', verifyTimeout: '40s', ...options.policy },
    ...(options.notifications ? { notifications: options.notifications } : {}),
    ...(options.chatops ? { chatops: options.chatops } : {}),
    ...(options.apps ? { apps: options.apps } : {}),
    ...(options.alerts ? { alerts: options.alerts } : {}),
    ...(options.worker ? { worker: options.worker } : {}),
  };
  const config = parseConfig(configInput, { env });
  const log = options.logTo ? createLogger({ level: 'debug', destination: options.logTo }) : silentLogger();
  const start = (): Promise<Runtime> =>
    startRuntime({
      config,
      roles: options.roles ?? ['detector', 'rollback', 'verifier'],
      log,
      env,
      verifyIntervalMs: options.verifyIntervalMs ?? 100,
      lockDurationMs: 3000,
      detector: { debounceMs: 10, ...options.detector },
      github: { minWriteGapMs: 20, retryBaseDelayMs: 20, retryAfterBaseMs: 20 },
      chatopsFollowIntervalMs: 200,
    });
  let runtime = await start();
  const serve = (): void =>
    http?.serve(
      runtime,
      forge && webhookRedis
        ? { secret: env['TEST_WEBHOOK_SECRET']!, redis: webhookRedis, prefix }
        : undefined,
      undefined,
      alertRedis
        ? alertEndpoints({
            config: config.alerts,
            env,
            redis: alertRedis,
            prefix,
            raise: runtime.raiseAlert,
            log,
          })
        : undefined,
    );
  if (forge || options.http || options.alerts) {
    if (forge || options.alerts) webhookRedis = new Redis(redisUrl);
    alertRedis = options.alerts ? webhookRedis : undefined;
    http = await listenHttp({
      port: httpPort,
      host: '127.0.0.1',
      log,
      ...(options.dashboard ? { dashboard: options.dashboard } : {}),
    });
    serve();
  }
  const redis = new Redis(redisUrl);
  await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(await fleet.head()));
  const flushPrefix = (): Promise<number> => deletePrefix(redis, prefix);
  const loop: Loop = {
    sandbox,
    fleet,
    ...(forge ? { forge, webhookUrl: `http://127.0.0.1:${httpPort}/webhooks/github` } : {}),
    ...(http ? { httpUrl: http.url } : {}),
    env,
    config,
    configInput,
    runtime,
    workdir,
    prefix,
    async finalIncident(badSha, timeoutMs = 45_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const record = (await runtime.incidents.list(50)).find((r) => r.badRevision === badSha);
        if (record && isTerminal(record.conditions.at(-1)!.type)) return record;
        if (Date.now() > deadline) {
          throw new Error(
            `incident for ${badSha} not final: ${JSON.stringify(record?.conditions ?? 'none')}`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    flushPrefix,
    async restartRuntime() {
      await runtime.close();
      runtime = await start();
      loop.runtime = runtime;
      serve();
    },
    async stop() {
      await http?.close();
      await forge?.stop();
      await runtime.close();
      webhookRedis?.disconnect();
      await flushPrefix();
      redis.disconnect();
      await sandbox.stop();
      await fleet.cleanup();
      await rm(workdir, { recursive: true, force: true });
    },
  };
  return loop;
}

/**
 * Revert commits on the remote branch carrying `Rewind-Incident: <id>` (merge commits left out:
 * Rewind writes the trailer on the merge of its pull request too).
 */
export async function revertCommitsFor(fleet: Fleet, incidentId: string): Promise<string[]> {
  await fleet.work.fetch('origin');
  const out = await fleet.work.raw([
    'log',
    '--no-merges',
    '--format=%H',
    `--grep=Rewind-Incident: ${incidentId}`,
    'origin/main',
  ]);
  return out.split('\n').filter(Boolean);
}
