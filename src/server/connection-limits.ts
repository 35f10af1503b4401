// Bounds on what clients may hold open on Rewind's HTTP listener. A client that opens a socket and
// sends its headers slowly (or never) holds a file descriptor; thousands of them would exhaust the
// process's open-file limit and take the probes down with everything else. So: headers and the
// whole request have a deadline, idle keep-alive sockets are closed, and the number of open
// connections is capped. A connection over the cap is answered `503 Service Unavailable` on the
// raw socket, before any HTTP parsing, and closed (Node's own `server.maxConnections` drops such
// connections without a word). The last `probeReserve` connections under the cap are kept for
// the probes: a connection accepted there serves only `/healthz` and `/readyz` (anything else is
// answered 503), and must send its request within a couple of seconds, as a probe does at once,
// so clients that hold sockets cannot fill the reserve for long.
import type http from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  /** The whole request head must arrive within this long (Node answers 408 and closes). */
  readonly headersTimeoutMs: number;
  /** The whole request (head and body) must arrive within this long. */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  readonly keepAliveTimeoutMs: number;
  /** Open connections at most; one more is answered 503 and closed. */
  readonly maxConnections: number;
  /** Of maxConnections, how many are kept for `/healthz` and `/readyz`. */
  readonly probeReserve: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1000,
  probeReserve: 10,
};

/** A connection in the probe reserve must have sent its request head within this long. */
const RESERVE_HEADERS_MS = 2000;
const PROBE_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

const BUSY = 'too many connections; retry.\n';
const OVER_CAPACITY_RESPONSE = [
  'HTTP/1.1 503 Service Unavailable',
  'Content-Type: text/plain',
  `Content-Length: ${BUSY.length}`,
  'Retry-After: 5',
  'Connection: close',
  '',
  BUSY,
].join('\r\n');

/** The options for http.createServer that enforce the timeouts. */
export function serverTimeouts(limits: ConnectionLimits): http.ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node checks the two deadlines above on this period (default 30 s): a short one keeps them close.
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
  };
}

export interface ConnectionGuard {
  /** Answers 503 (and true) when `req` came on a reserved connection and is not a probe. */
  refuse(req: http.IncomingMessage, res: http.ServerResponse): boolean;
}

/**
 * Puts the cap in front of the server's own connection handling: called before the server has
 * listeners of its own for 'connection' other than Node's HTTP one, which it wraps.
 */
export function guardConnections(server: http.Server, limits: ConnectionLimits): ConnectionGuard {
  const [parse] = server.listeners('connection') as ((socket: Socket) => void)[];
  if (!parse) throw new Error('guardConnections: the server has no HTTP connection listener');
  server.removeListener('connection', parse);
  const reserved = new WeakMap<Socket, NodeJS.Timeout>();
  let open = 0;
  server.on('connection', (socket: Socket) => {
    if (open >= limits.maxConnections) {
      socket.on('error', () => undefined);
      socket.end(OVER_CAPACITY_RESPONSE, () => socket.destroy());
      // A peer that never reads cannot keep it open.
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    open += 1;
    socket.once('close', () => {
      open -= 1;
      clearTimeout(reserved.get(socket));
    });
    if (open > limits.maxConnections - limits.probeReserve) {
      const deadline = Math.min(RESERVE_HEADERS_MS, limits.headersTimeoutMs);
      reserved.set(
        socket,
        setTimeout(() => socket.destroy(), deadline),
      );
    }
    parse.call(server, socket);
  });
  return {
    refuse(req, res) {
      const timer = reserved.get(req.socket);
      if (timer === undefined) return false;
      clearTimeout(timer);
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (PROBE_PATHS.has(path)) return false;
      res.writeHead(503, { 'content-type': 'text/plain', connection: 'close', 'retry-after': '5' }).end(BUSY);
      return true;
    },
  };
}
