// Redis connections for BullMQ and Rewind's own records. One factory, explicit options, no
// module-level clients (every worker/queue gets its own connection, closed by its owner).
import { Redis, type RedisOptions } from 'ioredis';
import { TransientError, redact } from '../domain/errors.ts';

export interface RedisSettings {
  url: string;
  /** Key prefix, so several installations can share one Redis. */
  prefix: string;
}

/**
 * A connection for BullMQ workers: `maxRetriesPerRequest: null` is required for blocking commands.
 * No `enableAutoPipelining`: on BullMQ connections it lowers worker throughput over loopback, and
 * BullMQ users reported "Job is not in the active list" errors with it (taskforcesh/bullmq#457).
 */
export function redisConnection(settings: RedisSettings, extra: RedisOptions = {}): Redis {
  return new Redis(settings.url, { maxRetriesPerRequest: null, lazyConnect: false, ...extra });
}

/** Fails fast, with an actionable message, when Redis does not answer. */
export async function assertRedisReachable(settings: RedisSettings, timeoutMs = 3000): Promise<void> {
  const client = new Redis(settings.url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    throw new TransientError(
      `Cannot reach Redis at ${redact(settings.url)}: ${(error as Error).message}. ` +
        'Start Redis, or point Rewind at it with REWIND_REDIS_URL, redis.url in rewind.yaml or REDIS_URL (first set wins).',
      { cause: error },
    );
  } finally {
    client.disconnect();
  }
}
