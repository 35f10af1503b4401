// The benchmarks' profile summary: self and inclusive time per function, idle share, module areas
// and the benchmark's window, on a hand-made .cpuprofile whose answers are known.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { summarise } from '../../bench/lib/profile-summary.ts';

const SRC = 'file:///repo/src';
const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });

// root -> idle; root -> runIncident (pipeline) -> revert (git) -> spawn (child_process);
// root -> handle (sandbox) -> spawn (child_process): the sandbox's spawns count for the sandbox.
const nodes = [
  { id: 1, callFrame: frame('(root)'), children: [2, 3, 6] },
  { id: 2, callFrame: frame('(idle)') },
  { id: 3, callFrame: frame('runIncident', `${SRC}/pipeline/run.ts`, 9), children: [4] },
  { id: 4, callFrame: frame('revert', `${SRC}/git/repo.ts`, 19), children: [5] },
  { id: 5, callFrame: frame('spawn', 'node:internal/child_process', 99) },
  { id: 6, callFrame: frame('handle', `${SRC}/sandbox/api.ts`, 4), children: [7] },
  { id: 7, callFrame: frame('spawn', 'node:internal/child_process', 99) },
];
// Sample i lasts until sample i+1: idle 4 ms, runIncident 1, revert 2, spawn 3, handle 1, spawn 1
// (the last sample lasts until endTime).
const samples = [2, 3, 4, 5, 6, 7, 2];
const timeDeltas = [0, 4000, 1000, 2000, 3000, 1000, 1000];
const profile = { nodes, startTime: 1_000_000, endTime: 1_000_000 + 12_000 + 2000, samples, timeDeltas };

let dir: string;
afterEach(() => rm(dir, { recursive: true, force: true }));

async function profileDir(window?: { startMicros: number; endMicros: number }): Promise<string> {
  dir = await mkdtemp(path.join(tmpdir(), 'rewind-profile-summary-'));
  await writeFile(path.join(dir, 'CPU.20261124.172512.27569.0.001.cpuprofile'), JSON.stringify(profile));
  // The same process's loader thread (tsx): left out.
  await writeFile(path.join(dir, 'CPU.20261124.172512.27569.1.002.cpuprofile'), JSON.stringify(profile));
  if (window) await writeFile(path.join(dir, 'window.json'), JSON.stringify(window));
  return dir;
}

describe('profile summary', () => {
  it('splits sampled time into idle, self and inclusive time per function, and module areas', async () => {
    const summary = (await summarise(await profileDir())) as Record<string, unknown>;
    expect(summary).toMatchObject({ sampledMs: 14, busyMs: 8, idleShare: 0.429 });
    expect(summary['files']).toHaveLength(1);
    expect(summary['areas']).toEqual({
      'node:child_process': { ms: 3, shareOfBusy: 0.375 },
      sandbox: { ms: 2, shareOfBusy: 0.25 },
      'src/git': { ms: 2, shareOfBusy: 0.25 },
      'src/pipeline': { ms: 1, shareOfBusy: 0.125 },
    });
    expect(summary['topSelf']).toEqual([
      { fn: 'spawn node:internal/child_process:100', ms: 4, shareOfBusy: 0.5 },
      { fn: `revert ${SRC}/git/repo.ts:20`, ms: 2, shareOfBusy: 0.25 },
      { fn: `runIncident ${SRC}/pipeline/run.ts:10`, ms: 1, shareOfBusy: 0.125 },
      { fn: `handle ${SRC}/sandbox/api.ts:5`, ms: 1, shareOfBusy: 0.125 },
    ]);
    expect(summary['topTotal']).toEqual([
      { fn: `runIncident ${SRC}/pipeline/run.ts:10`, ms: 6, shareOfBusy: 0.75 },
      { fn: `revert ${SRC}/git/repo.ts:20`, ms: 5, shareOfBusy: 0.625 },
      { fn: 'spawn node:internal/child_process:100', ms: 4, shareOfBusy: 0.5 },
      { fn: `handle ${SRC}/sandbox/api.ts:5`, ms: 2, shareOfBusy: 0.25 },
    ]);
  });

  it('counts only the time inside the window the benchmark wrote', async () => {
    // From t = 4 ms to 8 ms: runIncident 1 ms, revert 2, then 1 of the 3 ms of the spawn under it.
    const summary = await summarise(await profileDir({ startMicros: 1_004_000, endMicros: 1_008_000 }));
    expect(summary).toMatchObject({ windowMs: 4, sampledMs: 4, busyMs: 4, idleShare: 0 });
    expect((summary as { topSelf: unknown[] }).topSelf[0]).toEqual({
      fn: `revert ${SRC}/git/repo.ts:20`,
      ms: 2,
      shareOfBusy: 0.5,
    });
  });
});
