// `rewind demo` / `npm run demo`: the whole loop on a fresh sandbox, for one GitOps engine or each in
// turn. Redis (REDIS_URL, or a private redis-server) is shared; every scenario gets its own sandbox,
// sample fleet in a local bare Git repository, and Rewind with every role in this process, and is
// stopped before the next one starts. The scenarios are in flux-demo.ts and argo-demo.ts.
import type { Writable } from 'node:stream';
import { argoDemo } from './argo-demo.ts';
import type { DemoForge } from './demo-rewind.ts';
import type { DemoScenario, DemoScenarioOutcome } from './demo-scenario.ts';
import { fluxDemo } from './flux-demo.ts';
import { ensureRedis } from './redis.ts';

export const DEMO_ENGINES = ['flux', 'argo', 'all'] as const;
export type DemoEngine = (typeof DEMO_ENGINES)[number];

const SCENARIOS: Readonly<Record<Exclude<DemoEngine, 'all'>, { title: string; run: DemoScenario }>> = {
  flux: { title: 'Flux CD Kustomizations', run: fluxDemo },
  argo: { title: 'Argo CD Applications', run: argoDemo },
};

export interface DemoOptions {
  out: Writable;
  /** direct-push (default): the revert is pushed to main; github: through a pull request on the sandbox forge. */
  forge?: DemoForge;
  /** flux (default), argo, or all: each engine's scenario in turn; succeeds only if every one converges. */
  engine?: DemoEngine;
  /** Give up on a scenario's incident after this long. */
  timeoutMs?: number;
}

/** Runs the demo; resolves to the exit code (0 only when every scenario converged). */
export async function runDemo({
  out,
  forge = 'direct-push',
  engine = 'flux',
  timeoutMs = 60_000,
}: DemoOptions): Promise<number> {
  const log = (line: string): void => {
    out.write(`${line}\n`);
  };
  const names = engine === 'all' ? (['flux', 'argo'] as const) : [engine];
  const outcomes: { name: string; outcome: DemoScenarioOutcome }[] = [];
  let redisStop: (() => Promise<void>) | undefined;
  try {
    const redis = await ensureRedis(process.env['REDIS_URL']);
    redisStop = () => redis.stop();
    for (const name of names) {
      const scenario = SCENARIOS[name];
      if (names.length > 1) log(`${outcomes.length ? '\n' : ''}== ${name}: ${scenario.title} ==`);
      const cleanups: (() => Promise<void>)[] = [];
      let outcome: DemoScenarioOutcome;
      try {
        outcome = await scenario.run({ log, redis, forge, deadline: Date.now() + timeoutMs, cleanups });
      } catch (error) {
        outcome = { ok: false, message: error instanceof Error ? error.message : String(error) };
      } finally {
        for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
      }
      outcomes.push({ name, outcome });
      if (names.length > 1) log(`\n${name}: ${outcome.ok ? 'OK' : 'FAILED'} (${outcome.message})`);
    }
  } catch (error) {
    log(`\ndemo FAILED: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await redisStop?.().catch(() => undefined);
  }
  const failed = outcomes.filter((o) => !o.outcome.ok);
  const summary = (list: typeof outcomes): string =>
    names.length > 1
      ? list.map((o) => `${o.name}: ${o.outcome.message}`).join('; ')
      : (list[0]?.outcome.message ?? '');
  log('');
  log(failed.length ? `demo FAILED: ${summary(failed)}` : `demo finished: OK (${summary(outcomes)})`);
  return failed.length ? 1 : 0;
}
