// What a graceful stop closes. Every component that opens something (a listener, a Redis
// connection, workers, watches) registers its close here when it opens it, so the drain cannot
// forget one: a connection left open keeps the process alive, and the stop then ends in SIGKILL.
// Steps run one after another in the order registered, which is the order the process stops in:
// stop taking requests (and finish their background work), then the jobs, then the connections
// they used. A step that fails is logged and the others still run.
import type { Redis } from 'ioredis';
import { redact } from '../domain/errors.ts';
import type { Logger } from '../pipeline/ports.ts';

/** QUIT (replies in flight are read first), or a plain disconnect when Redis cannot be told. */
export async function closeRedis(redis: Redis): Promise<void> {
  await redis.quit().catch(() => redis.disconnect());
}

export class Shutdown {
  private readonly steps: { readonly name: string; readonly close: () => Promise<unknown> }[] = [];

  constructor(private readonly log: Logger) {}

  add(name: string, close: () => Promise<unknown>): void {
    this.steps.push({ name, close });
  }

  /** A Redis connection opened for `name`: closed with the others, after the work that uses it. */
  redis(name: string, redis: Redis): Redis {
    this.add(`${name} redis connection`, () => closeRedis(redis));
    return redis;
  }

  /** Runs every step once, in order; true when all of them closed cleanly. */
  async run(): Promise<boolean> {
    let ok = true;
    for (const step of this.steps.splice(0)) {
      try {
        await step.close();
      } catch (error) {
        ok = false;
        this.log.error({ step: step.name, err: redact(String(error)) }, 'shutdown step failed');
      }
    }
    return ok;
  }
}
