// A loopback TCP proxy that can silently stall the connections it carries (a half-open socket: no
// data, no FIN, no RST), to prove that watches recover from stalls a client cannot see.
import net from 'node:net';

export interface TcpProxy {
  readonly url: string;
  /** Stops forwarding on every open connection without closing it; new connections work. */
  stallOpenConnections(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: URL): Promise<TcpProxy> {
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket; stalled: boolean }>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    const pair = { client, upstream, stalled: false };
    pairs.add(pair);
    client.on('data', (chunk) => {
      if (!pair.stalled) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!pair.stalled) client.write(chunk);
    });
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', () => {
      if (!pair.stalled) end();
    });
    client.on('error', end);
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
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
