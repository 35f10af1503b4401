// The speed benchmarks at toy size, so their code cannot rot unnoticed: each runs end to end on
// real git, Redis and the sandbox, and prints its figure, its baseline and their ratio. No timing
// is asserted here (the figures belong to `npm run bench`); only that every part was measured.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { run as monorepo } from '../../bench/monorepo.ts';
import { run as overhead } from '../../bench/overhead.ts';

// Toy sizes take a few seconds each on a quiet two-core machine; the limit allows a busy one.
const BENCH_TIMEOUT_MS = 120_000;

describe('speed benchmarks at toy size', () => {
  it(
    'overhead: times a rollback against the same work by hand and profiles its git processes',
    async () => {
      const result = (await overhead(['--runs', '1'])) as Record<string, unknown>;
      expect(result).toMatchObject({ benchmark: 'overhead', runs: 1 });
      expect(result['overheadMedianMs']).toBeGreaterThan(0);
      expect(result['byHandMedianMs']).toBeGreaterThan(0);
      expect(result['ratioToByHand']).toBeGreaterThan(0);
      expect(result['gitProcessesMedian']).toBeGreaterThan(0);
      expect(Object.keys((result['lastRun'] as { gitByCommand: object }).gitByCommand)).toContain('push');
    },
    BENCH_TIMEOUT_MS,
  );

  it(
    'monorepo: finds the culprit, reverts and pushes in a generated repository, and clones it partially',
    async () => {
      const result = (await monorepo([
        ...['--commits', '300', '--apps', '20', '--ranges', '40,250', '--runs', '1'],
      ])) as { firstClone: Record<string, number>; ranges: Record<string, number>[] };
      expect(result).toMatchObject({ mirror: 'partial' });
      expect(result.firstClone['rewindMs']).toBeGreaterThan(0);
      expect(result.firstClone['fullBareMs']).toBeGreaterThan(0);
      expect(result.ranges.map((r) => r['range'])).toEqual([40, 250]);
      for (const range of result.ranges) {
        expect(range['rewindMedianMs']).toBeGreaterThan(0);
        expect(range['byHandMedianMs']).toBeGreaterThan(0);
        expect(range['ratio']).toBeGreaterThan(0);
      }
    },
    BENCH_TIMEOUT_MS,
  );
});

describe('npm run bench -- --help', () => {
  const bench = (args: string[]) =>
    promisify(execFile)('node', ['bin/rewind-bench.mjs', ...args], { timeout: 30_000 });

  it('lists the benchmarks, and prints what one measures without running it', async () => {
    expect((await bench(['--help'])).stdout).toContain('storm, watch');
    const storm = await bench(['storm', '--help']);
    expect(storm.stdout).toMatch(/^Incident storm/);
    expect(storm.stdout).not.toContain('{');
    expect(storm.stderr).not.toContain('apps ready');
  });
});
