// `rewind worker <role>` in its own process, for crash tests: only the REWIND_* variables given
// reach it, its output is kept for failure messages, and it is killed at cleanup if still alive.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ChildWorker {
  child: ChildProcess;
  output: () => string;
  /** Kills it (SIGKILL) if it still runs; for afterEach. */
  stop: () => Promise<void>;
}

export function spawnWorker(role: string, configFile: string, env: Record<string, string>): ChildWorker {
  return spawnRewind(['worker', role, '--config', configFile], env);
}

/**
 * `rewind <args>` (e.g. `start --config F --listen 0`, a whole replica) in its own process;
 * `nodeArgs` go to node itself (the benchmarks' `--cpu-prof`).
 */
export function spawnRewind(
  args: readonly string[],
  env: Record<string, string>,
  nodeArgs: readonly string[] = [],
): ChildWorker {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REWIND_')));
  const child = spawn(process.execPath, [...nodeArgs, 'bin/rewind.mjs', ...args], {
    cwd: ROOT,
    env: { ...base, REWIND_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += String(d)));
  child.stderr?.on('data', (d: Buffer) => (output += String(d)));
  return {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await once(child, 'exit');
      }
    },
  };
}
