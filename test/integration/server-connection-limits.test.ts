// Clients cannot exhaust the listener: connections over server.maxConnections are answered a plain
// 503 at once (before any HTTP is read) and closed; once the held sockets go, /healthz answers
// again; the probe reserve keeps /healthz answering while every other slot is held; and a client
// that never finishes its headers is disconnected after server.headersTimeout. The real runtime
// on the sandbox and Redis, the real listener; every socket on loopback.
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { silentLogger } from '../../src/logging.ts';
import { deletePrefix } from '../../src/sandbox/loop.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/sandbox.ts';
import type { ConnectionLimits } from '../../src/server/connection-limits.ts';
import { type HttpListener, listenHttp } from '../../src/server/http.ts';
import { type Runtime, startRuntime } from '../../workers/runtime.ts';
import { redisUrl } from '../global-setup.ts';
import { until } from '../helpers/wait.ts';

const CAP = 20;
/** Generous for a busy 2-core machine: an answer on loopback takes milliseconds when idle. */
const ANSWER_MS = 10_000;

let sandbox: Sandbox;
let runtime: Runtime;
let dir: string;
let redis: Redis;
const prefix = `rewind-test-conn-limits-${process.pid}-${Date.now()}`;
let listener: HttpListener | undefined;
const sockets: net.Socket[] = [];

beforeAll(async () => {
  sandbox = await startSandbox({ podReadyMs: 100 });
  dir = await mkdtemp(path.join(tmpdir(), 'rewind-conn-limits-'));
  redis = new Redis(redisUrl());
  const config = parseConfig(
    {
      redis: { url: redisUrl(), prefix },
      kubernetes: { kubeconfig: sandbox.kubeconfigPath },
      git: { workdir: path.join(dir, 'git'), allowFileRemotes: true },
    },
    { env: {} },
  );
  runtime = await startRuntime({ config, roles: ['verifier'], log: silentLogger(), env: {} });
}, 60_000);

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await listener?.close();
  listener = undefined;
});

afterAll(async () => {
  await runtime.close();
  await deletePrefix(redis, prefix);
  redis.disconnect();
  await sandbox.stop();
  await rm(dir, { recursive: true, force: true });
});

async function serve(limits: Partial<ConnectionLimits>): Promise<URL> {
  listener = await listenHttp({ port: 0, host: '127.0.0.1', log: silentLogger(), limits });
  listener.serve(runtime);
  return new URL(listener.url);
}

/** A connected socket that sends the start of a request and never finishes its headers. */
async function slowHeaders(url: URL): Promise<net.Socket> {
  const socket = net.connect(Number(url.port), '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
  return socket;
}

/** Everything the server sends on a fresh connection that sends nothing, until it closes it. */
async function silentConnection(url: URL): Promise<{ text: string; closed: boolean }> {
  const socket = net.connect(Number(url.port), '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => undefined);
  let text = '';
  socket.on('data', (d: Buffer) => (text += String(d)));
  const closed = await Promise.race([
    once(socket, 'close').then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ANSWER_MS)),
  ]);
  return { text, closed };
}

async function get(url: URL, pathname: string): Promise<{ status: number; body: string }> {
  const res = await fetch(new URL(pathname, url), { signal: AbortSignal.timeout(ANSWER_MS) });
  return { status: res.status, body: await res.text() };
}

describe('connection limits of the HTTP listener', () => {
  it('answers the connection over the cap a plain 503 before reading anything, and /healthz answers again once the held sockets close', async () => {
    const url = await serve({ maxConnections: CAP, probeReserve: 0 });
    expect((await get(url, '/healthz')).status).toBe(200);
    const held = [];
    for (let i = 0; i < CAP; i += 1) held.push(await slowHeaders(url));

    const over = await silentConnection(url);
    expect(over.closed).toBe(true);
    expect(over.text).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(over.text).toMatch(/\r\n\r\ntoo many connections; retry\.\n$/);
    // The held sockets are still open: the cap refused the newcomer, not them.
    expect(held.every((s) => !s.destroyed)).toBe(true);

    for (const socket of held) socket.destroy();
    await until(
      async () => (await get(url, '/healthz').catch(() => undefined))?.status === 200,
      '/healthz to answer 200 again',
      ANSWER_MS,
      50,
    );
  });

  it('keeps the probe reserve for /healthz and /readyz while every other slot is held', async () => {
    const url = await serve({ maxConnections: CAP, probeReserve: 2 });
    for (let i = 0; i < CAP - 2; i += 1) await slowHeaders(url);
    expect(await get(url, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
    expect(await get(url, '/metrics')).toEqual({ status: 503, body: 'too many connections; retry.\n' });
  });

  it('disconnects a client that does not finish its headers within headersTimeout', async () => {
    const url = await serve({ headersTimeoutMs: 1000, requestTimeoutMs: 5000 });
    const socket = await slowHeaders(url);
    let text = '';
    socket.on('data', (d: Buffer) => (text += String(d)));
    const started = Date.now();
    // Timed out at 1 s, checked every second: closed within 2 s when idle; generous room when busy.
    const closed = await Promise.race([
      once(socket, 'close').then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15_000)),
    ]);
    expect(closed).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
  }, 30_000);
});
