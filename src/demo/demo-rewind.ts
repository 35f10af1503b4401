// Rewind as the demo runs it: every role in this process against the scenario's sandbox, Redis under a
// fresh prefix, and either direct pushes or pull requests on a sandbox forge over the fleet's bare
// repository. The configuration names no engine: Rewind finds Kustomizations and Applications itself.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { parseConfig } from '../config/index.ts';
import { silentLogger } from '../logging.ts';
import { type SandboxForge, startSandboxForge } from '../sandbox/forge/server.ts';
import { deletePrefix } from '../sandbox/loop.ts';
import { type Runtime, startRuntime } from '../../workers/runtime.ts';
import type { LogLine } from './incident-report.ts';
import type { DemoRedis } from './redis.ts';

export type DemoForge = 'direct-push' | 'github';

export interface DemoRewindOptions {
  redis: DemoRedis;
  kubeconfigPath: string;
  /** The fleet's bare repository (the sandbox forge serves it). */
  remote: string;
  forge: DemoForge;
  log: LogLine;
  /** Registers what must be stopped, in start order. */
  cleanups: (() => Promise<void>)[];
}

export interface DemoRewind {
  runtime: Runtime;
  sandboxForge?: SandboxForge;
}

export async function startDemoRewind(options: DemoRewindOptions): Promise<DemoRewind> {
  const { log, cleanups, redis } = options;
  log(`redis             ${redis.url}${redis.owned ? ' (private redis-server started for the demo)' : ''}`);
  const workdir = await mkdtemp(path.join(tmpdir(), 'rewind-demo-'));
  cleanups.push(() => rm(workdir, { recursive: true, force: true }));
  const env: Record<string, string> = {};
  let forgeConfig: Record<string, unknown> = { type: 'direct-push' };
  let sandboxForge: SandboxForge | undefined;
  if (options.forge === 'github') {
    // The sandbox forge speaks GitHub's REST API over the fleet's bare repository; Rewind talks to
    // it with the real Octokit, exactly as it would to api.github.com.
    env['REWIND_DEMO_GITHUB_TOKEN'] = `ghp_demo${randomBytes(16).toString('hex')}`;
    const started = await startSandboxForge({
      repoDir: options.remote,
      owner: 'fleet-org',
      repo: 'fleet',
      token: env['REWIND_DEMO_GITHUB_TOKEN'],
      users: [{ login: 'alice', email: 'alice@example.com', name: 'Alice Developer' }],
    });
    sandboxForge = started;
    cleanups.push(() => started.stop());
    forgeConfig = {
      type: 'github',
      apiUrl: started.url,
      owner: 'fleet-org',
      repo: 'fleet',
      tokenEnv: 'REWIND_DEMO_GITHUB_TOKEN',
    };
    log(`sandbox forge     ${started.url}   (GitHub REST subset; Octokit baseUrl)`);
  }
  const prefix = `rewind-demo-${process.pid}-${Date.now()}-${randomBytes(3).toString('hex')}`;
  // The demo's keys go with it: a demo run leaves nothing in the Redis it borrowed.
  cleanups.push(async () => {
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      await deletePrefix(client, prefix);
    } finally {
      client.disconnect();
    }
  });
  const config = parseConfig(
    {
      redis: { url: redis.url, prefix },
      kubernetes: { kubeconfig: options.kubeconfigPath },
      git: { workdir, allowFileRemotes: true },
      forge: forgeConfig,
      policy: { gracePeriod: '1s', verifyTimeout: '45s' },
    },
    { env },
  );
  const runtime = await startRuntime({
    config,
    roles: ['detector', 'rollback', 'verifier'],
    log: silentLogger(),
    env,
    verifyIntervalMs: 100,
    detector: { debounceMs: 10 },
    github: { minWriteGapMs: 50, retryBaseDelayMs: 50, retryAfterBaseMs: 50 },
  });
  cleanups.push(() => runtime.close());
  return { runtime, ...(sandboxForge ? { sandboxForge } : {}) };
}
