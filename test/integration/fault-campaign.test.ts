// The fault campaign (`npm run bench -- faults`) keeps working: one run of cheap scenarios on the
// real bot and sandbox, the table has every column, and every scenario counts zero; among them a
// late alert and a ChatOps rollback while a person fixes forward.
import { describe, expect, it } from 'vitest';
import { run, type ScenarioSummary } from '../../bench/faults.ts';

interface Campaign {
  table: ScenarioSummary[];
  results: { scenario: string; notes: string[] }[];
}

/** One run of each scenario, with the table's counts (timings aside). */
async function campaign(scenarios: readonly string[]): Promise<Campaign & { counts: unknown[] }> {
  const result = (await run(['--runs', '1', '--scenario', scenarios.join(',')])) as Campaign;
  return { ...result, counts: result.table.map(({ medianMs: _ms, ...row }) => row) };
}

/** Zero in every column, for each scenario. */
const zeros = (scenarios: readonly string[]) =>
  scenarios.map((scenario) => ({
    scenario,
    runs: 1,
    errors: 0,
    incidentsLost: 0,
    duplicateWrites: 0,
    peoplesCommitsOverwritten: 0,
    revertsOfReverts: 0,
    needlessRollbacks: 0,
  }));

describe('fault campaign', () => {
  it('runs fix-forward and two-rewind-processes once each and counts zero in every column', async () => {
    const scenarios = ['fix-forward', 'two-rewind-processes'];
    const result = await campaign(scenarios);
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
    expect(result.counts, JSON.stringify(result.results)).toEqual(zeros(scenarios));
  }, 120_000);

  it("an alert or a ChatOps rollback during a person's fix-forward overwrites nothing and rolls nothing back", async () => {
    const scenarios = ['alert-during-fix-forward', 'chatops-over-fix-forward'];
    const result = await campaign(scenarios);
    expect(result.counts, JSON.stringify(result.results)).toEqual(zeros(scenarios));
    // The alert came while the fix rolled out, and was not acted on; the ChatOps request was refused.
    const notes = result.results.flatMap((r) => r.notes).join('\n');
    expect(notes).toContain('alert answered 200 ignored Progressing');
    expect(notes).toMatch(/reply: .*fixes forward/s);
  }, 240_000);
});
