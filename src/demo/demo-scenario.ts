// One engine's demo scenario: it starts what it needs (registering each stop in `cleanups`), prints
// as it goes, and says whether the app came back. `runDemo` prints the final line and exit code.
import type { DemoForge } from './demo-rewind.ts';
import type { LogLine } from './incident-report.ts';
import type { DemoRedis } from './redis.ts';

export interface DemoScenarioContext {
  log: LogLine;
  redis: DemoRedis;
  forge: DemoForge;
  /** Epoch ms: give up waiting for the incident after this. */
  deadline: number;
  cleanups: (() => Promise<void>)[];
}

export interface DemoScenarioOutcome {
  ok: boolean;
  /** "converged 5.3s after the bad push", or what went wrong. */
  message: string;
}

export type DemoScenario = (context: DemoScenarioContext) => Promise<DemoScenarioOutcome>;
