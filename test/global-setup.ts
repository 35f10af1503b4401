// Fails the whole run, loudly, when Redis is not reachable: Redis-backed tests are never skipped.
import net from 'node:net';
import { localRedisUrl } from '../src/demo/redis.ts';

export const redisUrl = localRedisUrl;

export default async function setup(): Promise<void> {
  const url = new URL(redisUrl());
  const port = Number(url.port || 6379);
  const ok = await new Promise<boolean>((resolve) => {
    const socket = net.connect(port, url.hostname);
    socket.setTimeout(2000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', () => resolve(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => {
      socket.destroy();
      resolve(String(data).startsWith('+PONG'));
    });
  });
  if (!ok) {
    throw new Error(
      `Redis is not reachable at ${url.host}. The integration tests need a real Redis: start one ` +
        `(redis-server --port ${port} --save "") or set REDIS_URL. Tests that need Redis are never skipped.`,
    );
  }
}
