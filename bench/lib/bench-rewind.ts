// Rewind as the MTTR benchmarks run it: every role in one process against a sandbox, no grace
// period, short verify polling; gone without a trace afterwards (runtime, Redis keys, git workdir).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { parseConfig } from '../../src/config/index.ts';
import type { GitProcessObserver } from '../../src/git/repo.ts';
import { silentLogger } from '../../src/logging.ts';
import { deletePrefix } from '../../src/sandbox/loop.ts';
import type { Sandbox } from '../../src/sandbox/sandbox.ts';
import { type Runtime, startRuntime } from '../../workers/runtime.ts';

export interface BenchRewind {
  readonly runtime: Runtime;
  close(): Promise<void>;
}

export async function startBenchRewind(options: {
  readonly sandbox: Sandbox;
  readonly redisUrl: string;
  readonly fastPath: boolean;
  readonly gitObserver?: GitProcessObserver;
}): Promise<BenchRewind> {
  const workdir = await mkdtemp(path.join(tmpdir(), 'rewind-bench-'));
  const prefix = `rewind-bench-${process.pid}-${Date.now()}`;
  const config = parseConfig(
    {
      redis: { url: options.redisUrl, prefix },
      kubernetes: { kubeconfig: options.sandbox.kubeconfigPath },
      git: { workdir, allowFileRemotes: true },
      policy: { gracePeriod: '0s', verifyTimeout: '120s', fastPath: options.fastPath },
    },
    { env: {} },
  );
  const runtime = await startRuntime({
    config,
    roles: ['detector', 'rollback', 'verifier'],
    log: silentLogger(),
    env: {},
    verifyIntervalMs: 50,
    detector: { debounceMs: 5 },
    ...(options.gitObserver ? { gitObserver: options.gitObserver } : {}),
  }).catch(async (error: unknown) => {
    await rm(workdir, { recursive: true, force: true });
    throw error;
  });
  return {
    runtime,
    async close() {
      await runtime.close();
      const redis = new Redis(options.redisUrl);
      await deletePrefix(redis, prefix).finally(() => redis.disconnect());
      await rm(workdir, { recursive: true, force: true });
    },
  };
}
