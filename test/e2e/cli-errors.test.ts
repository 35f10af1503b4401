import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisUrl } from '../global-setup.ts';

const run = promisify(execFile);

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function rewind(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  return run('node', ['bin/rewind.mjs', ...args], {
    env: { ...process.env, REWIND_LOG_LEVEL: 'silent', ...env },
    timeout: 30_000,
  }).then(
    (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
  );
}

describe('rewind start refuses to half-start, with a message that says what to fix', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rewind-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reports every problem of a malformed config with its key path', async () => {
    const file = path.join(dir, 'bad.yaml');
    await writeFile(file, 'redis: {urll: x}\npolicy: {mode: auto}\n');
    const result = await rewind(['start', '--config', file]);
    expect(result.code).toBe(78);
    expect(result.err).toContain('redis.urll: unknown key; did you mean "url"?');
    expect(result.err).toContain('policy.mode: must be one of auto-merge, propose, observe');
  });

  it('says so when the YAML itself is broken', async () => {
    const file = path.join(dir, 'broken.yaml');
    await writeFile(file, 'redis:\n  url: [unclosed\n');
    const result = await rewind(['start', '--config', file]);
    expect(result.code).toBe(78);
    expect(result.err).toMatch(/line \d+/);
  });

  it('names the unreachable Redis and how to point Rewind elsewhere', async () => {
    const port = await closedPort();
    const result = await rewind(['start', '--listen', '0'], {
      REWIND_REDIS_URL: `redis://127.0.0.1:${port}`,
    });
    expect(result.code).toBe(1);
    expect(result.err).toContain(`Cannot reach Redis at redis://127.0.0.1:${port}`);
    expect(result.err).toContain('REWIND_REDIS_URL');
  });

  it('names the unreachable cluster and how to point Rewind elsewhere, without leaking the token', async () => {
    const port = await closedPort();
    const kubeconfig = path.join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "http://127.0.0.1:' +
          port +
          '", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: ghp_abcdefghijklmnopqrstuvwxyz0123456789}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
      ].join('\n'),
    );
    const result = await rewind(['start', '--listen', '0'], {
      REWIND_REDIS_URL: redisUrl(),
      REWIND_KUBERNETES_KUBECONFIG: kubeconfig,
    });
    expect(result.code).toBe(1);
    expect(result.err).toContain(`Cannot reach the Kubernetes API server at http://127.0.0.1:${port}`);
    expect(result.err).toContain('kubernetes.kubeconfig');
    expect(result.err + result.out).not.toContain('ghp_abcdefghijklmnopqrstuvwxyz0123456789');
  });
});

describe('rewind start on a port already in use', () => {
  it('says which port and what to do, exits non-zero, and starts nothing (no worker, no Redis keys)', async () => {
    const { startSandbox } = await import('../../src/sandbox/sandbox.ts');
    const { Redis } = await import('ioredis');
    // A cluster and Redis that answer, so that only the port can stop it.
    const sandbox = await startSandbox();
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '0.0.0.0', resolve));
    const { port } = taken.address() as net.AddressInfo;
    const prefix = `rewind-test-port-${process.pid}-${Date.now()}`;
    const redis = new Redis(redisUrl());
    try {
      const result = await rewind(['start', '--listen', String(port)], {
        REWIND_REDIS_URL: redisUrl(),
        REWIND_REDIS_PREFIX: prefix,
        REWIND_KUBERNETES_KUBECONFIG: sandbox.kubeconfigPath,
      });
      expect(result.code, result.err).not.toBe(0);
      expect(result.err).toContain(`port ${port} is in use`);
      expect(result.err).toContain('--listen');
      expect(result.err).not.toMatch(/^\s+at /m); // a message, not a crash's stack trace
      expect(result.err + result.out).not.toContain('rewind started');
      expect(await redis.keys(`${prefix}*`)).toEqual([]);
    } finally {
      redis.disconnect();
      await new Promise<void>((resolve) => taken.close(() => resolve()));
      await sandbox.stop();
    }
  }, 60_000);
});

describe('rewind sandbox checks its flags before it starts anything', () => {
  it('refuses a malformed --forge-user, exits non-zero and writes no kubeconfig', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'rewind-cli-sandbox-'));
    try {
      const kubeconfig = path.join(dir, 'kubeconfig');
      const result = await rewind([
        'sandbox',
        '--forge',
        '--forge-user',
        'wanda:write:T1',
        '--kubeconfig',
        kubeconfig,
      ]);
      expect(result.code).not.toBe(0);
      expect(result.err).toContain('TOKEN must have at least 8 characters');
      await expect(readFile(kubeconfig)).rejects.toThrow(/ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
