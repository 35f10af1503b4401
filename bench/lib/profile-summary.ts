// `npm run bench -- profile-summary <dir>`: where the CPU of the .cpuprofile files in
// <dir> went (all files summed: several processes of one run). Bounded to the window the benchmark
// wrote (window.json) if there is one. Each sample lasts until the next one (the last until the
// profile's end), as in Chrome's DevTools. Positions are file:line in the code V8 ran: tsx's
// transpiled TypeScript has its whitespace removed, so for a .ts file the function name is what
// identifies it. Profiles of other threads than the main one (node names them
// CPU.<date>.<time>.<pid>.<thread>.<n>; thread 1 is tsx's loader) are left out: idle all along. Areas: each busy sample goes to the
// innermost frame of its stack in a listed library or in Rewind's own code (src/<dir>, workers), or
// to `sandbox` if the test harness is anywhere in it (the storm runs Rewind next to the sandbox).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { WINDOW_FILE } from './cpu-profile.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}
interface Window {
  startMicros: number;
  endMicros: number;
}

/** Libraries whose time is reported on its own; Rewind's own code is reported per directory. */
const LIBRARIES: readonly (readonly [string, (url: string) => boolean])[] = [
  ['node:child_process', (u) => u === 'node:child_process' || u === 'node:internal/child_process'],
  ['ioredis', (u) => u.includes('/node_modules/ioredis/')],
  ['bullmq', (u) => u.includes('/node_modules/bullmq/')],
  ['@kubernetes/client-node', (u) => u.includes('/node_modules/@kubernetes/client-node/')],
];
/** `src/git`, `src/pipeline`, `workers`, ...: the directory of one of Rewind's own files. */
const ownDirectory = (url: string): string | undefined =>
  url.includes('/node_modules/') ? undefined : /\/(src\/[^/]+|workers|bench)\//.exec(url)?.[1];
/** The test harness (sandbox cluster, forge, Flux syncer; the benchmark itself) wins over the rest. */
const isHarness = (url: string): boolean => ['src/sandbox', 'bench'].includes(ownDirectory(url) ?? '');

const IDLE = '(idle)';
const OTHER_THREAD = /^CPU\.\d+\.\d+\.\d+\.[1-9]\d*\.\d+\.cpuprofile$/;

/** The innermost frame of the stack that is in a listed library or in Rewind's own code decides. */
function areaOf(stack: readonly CallFrame[]): string {
  const leaf = stack[0]!.functionName;
  if (leaf === IDLE || leaf === '(garbage collector)' || leaf === '(program)') return leaf;
  if (stack.some((f) => isHarness(f.url))) return 'sandbox';
  for (const { url } of stack) {
    const area = LIBRARIES.find(([, matches]) => matches(url))?.[0] ?? ownDirectory(url);
    if (area) return area;
  }
  return 'other';
}

const label = (f: CallFrame): string => `${f.functionName || '(anonymous)'} ${f.url}:${f.lineNumber + 1}`;

/** Microseconds of each profile node's own samples, clipped to the window. */
function selfMicros(profile: CpuProfile, window: Window | undefined): Map<number, number> {
  const self = new Map<number, number>();
  let at = profile.startTime;
  const times = profile.timeDeltas.map((delta) => (at += delta));
  profile.samples.forEach((id, i) => {
    const start = Math.max(times[i]!, window?.startMicros ?? -Infinity);
    const end = Math.min(times[i + 1] ?? profile.endTime, window?.endMicros ?? Infinity);
    if (end > start) self.set(id, (self.get(id) ?? 0) + end - start);
  });
  return self;
}

interface Totals {
  sampled: number;
  idle: number;
  self: Map<string, number>;
  inclusive: Map<string, number>;
  areas: Map<string, number>;
}

function add(map: Map<string, number>, key: string, micros: number): void {
  map.set(key, (map.get(key) ?? 0) + micros);
}

function account(profile: CpuProfile, window: Window | undefined, totals: Totals): number {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  let sampled = 0;
  for (const [id, micros] of selfMicros(profile, window)) {
    const stack: CallFrame[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at))
      stack.push(byId.get(at)!.callFrame);
    sampled += micros;
    totals.sampled += micros;
    const area = areaOf(stack);
    add(totals.areas, area, micros);
    if (area === IDLE) {
      totals.idle += micros;
      continue;
    }
    add(totals.self, label(stack[0]!), micros);
    // A recursive function counts once per sample.
    for (const name of new Set(stack.filter((f) => f.functionName !== '(root)').map(label)))
      add(totals.inclusive, name, micros);
  }
  return sampled;
}

export async function summarise(dir: string): Promise<unknown> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile') && !OTHER_THREAD.test(f)).sort();
  if (files.length === 0) throw new Error(`no .cpuprofile files in ${dir}`);
  const window = await readFile(path.join(dir, WINDOW_FILE), 'utf8').then(
    (text) => JSON.parse(text) as Window,
    () => undefined,
  );
  const totals: Totals = { sampled: 0, idle: 0, self: new Map(), inclusive: new Map(), areas: new Map() };
  const perFile = [];
  for (const file of files) {
    const profile = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CpuProfile;
    const idleBefore = totals.idle;
    const sampled = account(profile, window, totals);
    perFile.push({ file, sampledMs: ms(sampled), busyMs: ms(sampled - (totals.idle - idleBefore)) });
  }
  const busy = totals.sampled - totals.idle;
  const ranked = (map: Map<string, number>, n: number) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([fn, micros]) => ({ fn, ms: ms(micros), shareOfBusy: share(micros, busy) }));
  return {
    dir,
    ...(window ? { windowMs: ms(window.endMicros - window.startMicros) } : {}),
    files: perFile,
    sampledMs: ms(totals.sampled),
    busyMs: ms(busy),
    idleShare: share(totals.idle, totals.sampled),
    areas: Object.fromEntries(
      [...totals.areas]
        .filter(([area]) => area !== IDLE)
        .sort((a, b) => b[1] - a[1])
        .map(([area, micros]) => [area, { ms: ms(micros), shareOfBusy: share(micros, busy) }]),
    ),
    topSelf: ranked(totals.self, 15),
    topTotal: ranked(totals.inclusive, 10),
  };
}

const ms = (micros: number): number => Math.round(micros / 1000);
const share = (part: number, whole: number): number => (whole ? Number((part / whole).toFixed(3)) : 0);

export async function run(args: string[]): Promise<unknown> {
  const [dir] = args;
  if (!dir) throw new Error('usage: npm run bench -- profile-summary <dir>');
  return summarise(path.resolve(dir));
}
