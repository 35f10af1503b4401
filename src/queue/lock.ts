// A small Redis mutex (SET NX PX + compare-and-delete), for steps that must not race across worker
// processes, such as two incidents of one culprit opening pull requests. The lease is renewed while
// the holder runs and expires on its own if the holder dies, so a crash never blocks the key for
// longer than `leaseMs`.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export interface LockOptions {
  leaseMs?: number;
  waitMs?: number;
  pollMs?: number;
}

export function redisLock(redis: Redis, prefix: string, options: LockOptions = {}) {
  const leaseMs = options.leaseMs ?? 120_000;
  const waitMs = options.waitMs ?? 120_000;
  const pollMs = options.pollMs ?? 50;
  return async <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const redisKey = `${prefix}:lock:${key}`;
    const token = randomUUID();
    const deadline = Date.now() + waitMs;
    while ((await redis.set(redisKey, token, 'PX', leaseMs, 'NX')) !== 'OK') {
      if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${key}`);
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    // Renewed while the holder lives: a slow holder keeps the key, a dead one frees it within leaseMs.
    const renew = setInterval(
      () => void redis.eval(RENEW, 1, redisKey, token, leaseMs).catch(() => undefined),
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    renew.unref();
    try {
      return await fn();
    } finally {
      clearInterval(renew);
      await redis.eval(RELEASE, 1, redisKey, token);
    }
  };
}
