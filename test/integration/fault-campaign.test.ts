// The fault campaign (`npm run bench -- faults`) keeps working: one run of two cheap scenarios on
// the real bot and sandbox, the table has every column, and both scenarios count zero.
import { describe, expect, it } from 'vitest';
import { run, type ScenarioSummary } from '../../bench/faults.ts';

describe('fault campaign', () => {
  it('runs fix-forward and two-rewind-processes once each and counts zero in every column', async () => {
    const result = (await run(['--runs', '1', '--scenario', 'fix-forward,two-rewind-processes'])) as {
      table: ScenarioSummary[];
      results: { scenario: string; notes: string[] }[];
    };
    expect(result.table.map((row) => Object.keys(row).sort())).toEqual(
      Array(2).fill(
        [
          'duplicateWrites',
          'errors',
          'incidentsLost',
          'medianMs',
          'needlessRollbacks',
          'peoplesCommitsOverwritten',
          'revertsOfReverts',
          'runs',
          'scenario',
        ].sort(),
      ),
    );
    const counts = result.table.map(({ medianMs: _ms, ...row }) => row);
    expect(counts, JSON.stringify(result.results)).toEqual(
      ['fix-forward', 'two-rewind-processes'].map((scenario) => ({
        scenario,
        runs: 1,
        errors: 0,
        incidentsLost: 0,
        duplicateWrites: 0,
        peoplesCommitsOverwritten: 0,
        revertsOfReverts: 0,
        needlessRollbacks: 0,
      })),
    );
  }, 120_000);
});
