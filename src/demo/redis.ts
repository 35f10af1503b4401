// Redis for the demo: the one at REDIS_URL (or 127.0.0.1:6379) when it answers, else a private
// redis-server on a free port that is shut down afterwards.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { assertRedisReachable } from '../queue/connection.ts';

export interface DemoRedis {
  url: string;
  owned: boolean;
  stop(): Promise<void>;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Where Redis is for local runs, tests and benchmarks: REDIS_URL, else the default local port. */
export function localRedisUrl(): string {
  return process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
}

export async function ensureRedis(url = localRedisUrl()): Promise<DemoRedis> {
  try {
    await assertRedisReachable({ url, prefix: 'rewind' }, 1000);
    return { url, owned: false, stop: async () => undefined };
  } catch {
    // fall through: start a private one
  }
  return startPrivateRedis(await freePort(), url);
}

/**
 * A private redis-server with nothing persisted (`--save ''`): killing it loses every key, and
 * starting another on the same port is what a Redis restart without persistence looks like.
 */
export async function startPrivateRedis(
  port: number,
  wanted = `redis://127.0.0.1:${port}`,
): Promise<DemoRedis & { kill(): Promise<void> }> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const spawned = await new Promise<boolean>((resolve) => {
    child.once('error', () => resolve(false));
    child.once('spawn', () => resolve(true));
  });
  if (!spawned) {
    throw new Error(
      `No Redis answers at ${wanted} and redis-server is not installed: install Redis or set REDIS_URL.`,
    );
  }
  const privateUrl = `redis://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await assertRedisReachable({ url: privateUrl, prefix: 'rewind' }, 500);
      break;
    } catch (error) {
      if (i > 50) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: privateUrl,
    owned: true,
    stop: async () => {
      child.kill('SIGTERM');
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
