// CPU profiles of the measured part of a benchmark, for `profile-summary`: `--cpu-prof <dir>` (or
// REWIND_BENCH_CPU_PROF=<dir>). Child processes get node's own `--cpu-prof` (written when they exit)
// plus a window file that bounds the summary to the measured part; a Rewind running inside the
// benchmark process is profiled through the inspector from start to stop, in the same format.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { stringArg } from './stats.ts';

/** V8's sampling interval for both ways, node's `--cpu-prof-interval` default. */
const SAMPLING_INTERVAL_US = 1000;
export const WINDOW_FILE = 'window.json';

/** The directory to write profiles into, if profiling was asked for. */
export function cpuProfileDir(args: readonly string[]): string | undefined {
  const dir = stringArg(args, '--cpu-prof', process.env['REWIND_BENCH_CPU_PROF'] ?? '');
  return dir ? path.resolve(dir) : undefined;
}

/** Node arguments that make a child process write its CPU profile into `dir` when it exits. */
export async function childProfileArgs(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-interval=${SAMPLING_INTERVAL_US}`];
}

/** Now on the clock of V8's profile timestamps (monotonic, microseconds). */
export function profileClockMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Bounds the summary of the profiles in `dir` to [start, end] (from profileClockMicros). */
export async function writeProfileWindow(dir: string, startMicros: number, endMicros: number): Promise<void> {
  await writeFile(path.join(dir, WINDOW_FILE), JSON.stringify({ startMicros, endMicros }));
}

/** Profiles this process until the returned function is called, which writes `<dir>/<name>.cpuprofile`. */
export async function profileThisProcess(dir: string, name: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    await writeFile(path.join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
  };
}

interface CpuReading {
  /** Per process: its own CPU and that of its reaped children (its git processes). */
  processes: { ownMs: number; childrenMs: number }[];
  machine: { busy: number; total: number };
}

/**
 * CPU used by the given processes (and their git children) and by the whole machine (every
 * process, all cores) from now until the returned function is called; Linux /proc.
 */
export async function cpuMeter(pids: readonly number[]): Promise<() => Promise<unknown>> {
  const before = await readCpu(pids);
  return async () => {
    const after = await readCpu(pids);
    const busy = after.machine.busy - before.machine.busy;
    return {
      processes: pids.map((pid, i) => ({
        pid,
        ownCpuMs: after.processes[i]!.ownMs - before.processes[i]!.ownMs,
        childrenCpuMs: after.processes[i]!.childrenMs - before.processes[i]!.childrenMs,
      })),
      machineBusyShare: Number((busy / (after.machine.total - before.machine.total)).toFixed(3)),
    };
  };
}

const MS_PER_TICK = 10; // USER_HZ 100

async function readCpu(pids: readonly number[]): Promise<CpuReading> {
  const processes = await Promise.all(
    pids.map(async (pid) => {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      // After the command name (which may hold spaces): utime, stime, cutime, cstime are fields 14-17.
      const field = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = (n: number): number => Number(field[n - 3]);
      return {
        ownMs: (ticks(14) + ticks(15)) * MS_PER_TICK,
        childrenMs: (ticks(16) + ticks(17)) * MS_PER_TICK,
      };
    }),
  );
  const ticks = (await readFile('/proc/stat', 'utf8'))
    .split('\n')[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  // Not busy: idle and iowait.
  return { processes, machine: { busy: total - ticks[3]! - ticks[4]!, total } };
}
