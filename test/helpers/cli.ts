// `rewind <args>` in its own process, as a person runs it, for e2e tests; and what starting one
// costs on this machine right now, so tests that run several size their timeout from it.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

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
