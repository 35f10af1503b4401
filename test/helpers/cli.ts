// `rewind <args>` in its own process, as a person runs it, for e2e tests; and what starting one
// costs on this machine right now, so tests that run several size their timeout from it.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type ChildWorker, spawnRewind } from '../../src/sandbox/child-worker.ts';
import { until } from './wait.ts';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** Runs `rewind <args>` (logs silenced); a non-zero exit is a result, not an error. */
export function rewindCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return run(process.execPath, ['bin/rewind.mjs', ...args], {
    cwd: ROOT,
    env: { ...process.env, REWIND_LOG_LEVEL: 'silent', ...env },
  }).then(
    (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
  );
}

/**
 * Milliseconds one `rewind rollback` process takes to load its modules and refuse a config error,
 * measured now. Each start costs about 2.3 s of CPU (tsx, @kubernetes/client-node): measured 5 s of
 * wall time on the shared 2-core machine, 8 to 16 s with two to four CPU hogs beside it.
 */
export async function measureCliStartMs(): Promise<number> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rewind-cli-start-'));
  try {
    const config = path.join(dir, 'rewind.yaml');
    await writeFile(config, 'redis: {urll: x}\n');
    const started = Date.now();
    await rewindCli(['rollback', 'flux-system/podinfo', '--config', config]);
    return Date.now() - started;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * `rewind <args>` serving HTTP (start, or worker with --listen) in its own process, once it is
 * ready (/readyz answers 200, so its signal handlers are in place): the address it printed and a
 * URL to reach it from this machine. The caller stops it (replica.stop) at cleanup.
 */
export async function startServing(
  args: readonly string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ replica: ChildWorker; address: string; url: string }> {
  const replica = spawnRewind(args, env);
  try {
    let address = '';
    await until(
      () => {
        if (replica.child.exitCode !== null) throw new Error(`rewind exited early:\n${replica.output()}`);
        address = /listening on http:\/\/(\S+)/.exec(replica.output())?.[1] ?? '';
        return address !== '';
      },
      'the listening address',
      timeoutMs,
    );
    const url = `http://127.0.0.1:${address.slice(address.lastIndexOf(':') + 1)}`;
    await until(
      async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200,
      `rewind to be ready\n${replica.output()}`,
      timeoutMs,
      100,
    );
    return { replica, address, url };
  } catch (error) {
    await replica.stop();
    throw error;
  }
}
