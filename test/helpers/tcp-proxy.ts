// A loopback TCP proxy that can silently stall the connections it carries (a half-open socket: no
// data, no FIN, no RST), to prove that watches recover from stalls a client cannot see; black-hole
// every connection, new ones included (accepted, never answered); or cut them all and refuse new
// ones (a dependency gone from the network).
import net from 'node:net';

export interface TcpProxy {
  readonly url: string;
  /** Stops forwarding on every open connection without closing it; new connections work. */
  stallOpenConnections(): number;
  /** Stalls every open connection and every new one: connections are accepted, nothing comes back. */
  blackHole(): void;
  /** A network partition (the same as blackHole). */
  partition(): void;
  /** Closes every connection and refuses new ones. */
  cut(): void;
  /** Forwards again (after blackHole or cut); stalled connections are closed, their data is lost. */
  heal(): void;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  stalled: boolean;
}

export async function startTcpProxy(target: URL): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let mode: 'forward' | 'black-hole' | 'cut' = 'forward';
  const end = (pair: Pair): void => {
    pairs.delete(pair);
    pair.client.destroy();
    pair.upstream.destroy();
  };
  const server = net.createServer((client) => {
    if (mode === 'cut') {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port), target.hostname);
    const pair: Pair = { client, upstream, stalled: mode === 'black-hole' };
    pairs.add(pair);
    client.on('data', (chunk) => {
      if (!pair.stalled) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!pair.stalled) client.write(chunk);
    });
    client.on('close', () => end(pair));
    upstream.on('close', () => {
      if (!pair.stalled) end(pair);
    });
    client.on('error', () => end(pair));
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stallOpenConnections() {
      for (const pair of pairs) pair.stalled = true;
      return pairs.size;
    },
    blackHole() {
      mode = 'black-hole';
      for (const pair of pairs) pair.stalled = true;
    },
    partition() {
      mode = 'black-hole';
      for (const pair of pairs) pair.stalled = true;
    },
    cut() {
      mode = 'cut';
      for (const pair of [...pairs]) end(pair);
    },
    heal() {
      mode = 'forward';
      for (const pair of [...pairs]) if (pair.stalled) end(pair);
    },
    async close() {
      for (const pair of [...pairs]) end(pair);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
