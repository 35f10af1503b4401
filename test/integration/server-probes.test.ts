// /healthz and /readyz tell the truth: readiness fails while Redis or the API server is unreachable
// (and says which), liveness fails only when the informers are wedged past their bound, and no
// probe hangs. Real sandbox API server, real Redis, each behind a TCP proxy the test can cut or
// black-hole; the whole runtime with its HTTP server.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { localRedisUrl } from '../../src/demo/redis.ts';
import { silentLogger } from '../../src/logging.ts';
import { deletePrefix } from '../../src/sandbox/loop.ts';
import { kubeconfigYaml, startSandbox } from '../../src/sandbox/sandbox.ts';
import { listenHttp } from '../../src/server/http.ts';
import { type Role, startRuntime } from '../../workers/runtime.ts';
import { type TcpProxy, startTcpProxy } from '../helpers/tcp-proxy.ts';
import { until } from '../helpers/wait.ts';

/** The check bound (2 s) plus generous room for a busy machine: a probe must answer within it. */
const PROBE_ANSWER_MS = 10_000;

interface Setup {
  url: string;
  api: TcpProxy;
  redis: TcpProxy;
  sandbox: Awaited<ReturnType<typeof startSandbox>>;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function setup(options: { wedgedAfter: string; roles?: Role[] }): Promise<Setup> {
  const sandbox = await startSandbox({ podReadyMs: 100 });
  cleanups.push(() => sandbox.stop());
  const api = await startTcpProxy(new URL(sandbox.url));
  cleanups.push(() => api.close());
  const redisUrl = new URL(localRedisUrl());
  const redis = await startTcpProxy(redisUrl);
  cleanups.push(() => redis.close());
  const dir = await mkdtemp(path.join(tmpdir(), 'rewind-probes-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const kubeconfig = path.join(dir, 'kubeconfig');
  await writeFile(kubeconfig, kubeconfigYaml(api.url));
  const prefix = `rewind-test-probes-${process.pid}-${Date.now()}`;
  const config = parseConfig(
    {
      redis: { url: `redis://${new URL(redis.url).host}`, prefix },
      kubernetes: { kubeconfig },
      git: { workdir: path.join(dir, 'git'), allowFileRemotes: true },
      detection: { wedgedAfter: options.wedgedAfter },
    },
    { env: {} },
  );
  const runtime = await startRuntime({
    config,
    roles: options.roles ?? ['detector', 'rollback', 'verifier'],
    log: silentLogger(),
    env: {},
    lockDurationMs: 3000,
    // A short stall timeout, so a quiet watch is re-made (and proves itself current) every half second.
    detector: { inactivityMs: 500, debounceMs: 10 },
  });
  const direct = new Redis(redisUrl.toString());
  cleanups.push(async () => {
    await deletePrefix(direct, prefix);
    direct.disconnect();
  });
  cleanups.push(() => runtime.close());
  const http = await listenHttp({ port: 0, host: '127.0.0.1', log: silentLogger() });
  http.serve(runtime);
  cleanups.push(() => http.close());
  return { url: http.url, api, redis, sandbox };
}

async function probe(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(PROBE_ANSWER_MS) });
  return { status: response.status, body: await response.text() };
}

describe('health probes', () => {
  it('readiness fails while the API server or Redis is unreachable and says which; liveness stays up through a short outage', async () => {
    const { url, redis, sandbox } = await setup({ wedgedAfter: '60s' });
    expect(await probe(`${url}/healthz`)).toEqual({ status: 200, body: 'ok\n' });
    expect(await probe(`${url}/readyz`)).toEqual({ status: 200, body: 'ready\n' });

    // The API server stops (connections refused), for several informer stall timeouts.
    await sandbox.api.close();
    await until(async () => (await probe(`${url}/readyz`)).status === 503, 'readyz to fail', 20_000);
    const apiDown = await probe(`${url}/readyz`);
    expect(apiDown.body).toMatch(/^kubernetes API server unreachable: /);
    expect(apiDown.body).not.toMatch(/redis/);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(await probe(`${url}/healthz`)).toEqual({ status: 200, body: 'ok\n' });
    await sandbox.api.listen();
    await until(async () => (await probe(`${url}/readyz`)).status === 200, 'readyz to recover', 30_000);

    // Redis goes away: every connection cut, new ones refused.
    redis.cut();
    await until(async () => (await probe(`${url}/readyz`)).status === 503, 'readyz to fail on Redis', 20_000);
    const redisDown = await probe(`${url}/readyz`);
    expect(redisDown.body).toMatch(/^redis unreachable: /);
    expect(redisDown.body).not.toMatch(/kubernetes/);
    expect(await probe(`${url}/healthz`)).toEqual({ status: 200, body: 'ok\n' });
    redis.heal();
    await until(
      async () => (await probe(`${url}/readyz`)).status === 200,
      'readyz to recover from Redis',
      30_000,
    );
  });

  it('liveness fails when the informers are wedged past their bound (the API server accepts connections and never answers), readiness fails without hanging, and both recover', async () => {
    const { url, api } = await setup({ wedgedAfter: '3s' });
    expect((await probe(`${url}/healthz`)).status).toBe(200);
    api.blackHole();
    // Every informer goes silent; each is named once it passes the bound.
    const wedged = async (): Promise<{ status: number; body: string }> => probe(`${url}/healthz`);
    await until(
      async () => /^informer deployments has not synced/m.test((await wedged()).body),
      'healthz to name the wedged deployments informer',
      30_000,
    );
    const answer = await wedged();
    expect(answer.status).toBe(503);
    expect(answer.body).toMatch(/^informer deployments has not synced for \d+s \(bound 3s/m);
    const started = Date.now();
    const notReady = await probe(`${url}/readyz`);
    expect(notReady).toEqual({
      status: 503,
      body: 'kubernetes API server unreachable: no answer within 2000 ms\n',
    });
    expect(Date.now() - started).toBeLessThan(PROBE_ANSWER_MS);
    // The informers abandon the unanswered watches and watch again once the server answers.
    api.heal();
    await until(async () => (await probe(`${url}/healthz`)).status === 200, 'healthz to recover', 30_000);
    await until(async () => (await probe(`${url}/readyz`)).status === 200, 'readyz to recover', 30_000);
  });

  it('a process without a detector (another role, or a follower) is live and ready', async () => {
    const { url } = await setup({ wedgedAfter: '3s', roles: ['rollback', 'verifier'] });
    await new Promise((resolve) => setTimeout(resolve, 3500));
    expect(await probe(`${url}/healthz`)).toEqual({ status: 200, body: 'ok\n' });
    expect(await probe(`${url}/readyz`)).toEqual({ status: 200, body: 'ready\n' });
  });
});
