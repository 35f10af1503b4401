// The scale benchmarks (`npm run bench -- storm` and `-- watch`) keep working, at toy size: an
// incident storm of three apps gives one pull request, linked by every incident, few forge writes,
// every app verified; the watch benchmark reports memory and event rates for both sides.
import { describe, expect, it } from 'vitest';
import { runStorm } from '../../bench/storm.ts';
import { run as runWatch } from '../../bench/watch.ts';
import { redisUrl } from '../global-setup.ts';

describe('scale benchmarks at toy size', () => {
  it('storm: three apps broken by one shared base give one PR that lists them all, every incident linked and verified', async () => {
    const storm = await runStorm(3, redisUrl(), 90_000);
    expect(storm, JSON.stringify(storm)).toMatchObject({
      apps: 3,
      incidents: 3,
      linked: 3,
      converged: 3,
      pullRequests: 1,
      prListsEveryApp: true,
    });
    expect(storm.forgeWrites).toBeLessThanOrEqual(10);
    expect(storm.forgeWritesByRoute['pulls.update'] ?? 0).toBe(0); // no body edit per incident
    // The figures come from the records' timestamps: in order, and within the run.
    const { prOpenedMs, mergedMs, allLinkedMs, allVerifiedMs } = storm;
    expect(
      [prOpenedMs, mergedMs, allLinkedMs, allVerifiedMs].every((v) => typeof v === 'number' && v > 0),
    ).toBe(true);
    expect(prOpenedMs!).toBeLessThanOrEqual(allLinkedMs!);
    expect(prOpenedMs!).toBeLessThanOrEqual(mergedMs!);
    expect(allLinkedMs!).toBeLessThan(allVerifiedMs!);
    expect(allVerifiedMs!).toBeLessThan(90_000);
  }, 180_000);

  it('watch: reports bytes per app and events per second for Rewind and the plain informers', async () => {
    const result = (await runWatch(['--apps', '100'])) as {
      results: {
        apps: number;
        rewind: { bytesPerApp: number; eventsPerSecond: number };
        baseline: { bytesPerApp: number; eventsPerSecond: number };
      }[];
    };
    const [row] = result.results;
    expect(row?.apps).toBe(100);
    for (const side of [row!.rewind, row!.baseline]) {
      expect(side.bytesPerApp).toBeGreaterThan(0);
      expect(side.eventsPerSecond).toBeGreaterThan(0);
    }
  }, 120_000);
});
