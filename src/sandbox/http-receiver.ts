// A small local HTTP endpoint that records what is posted to it: it stands in for Slack's
// response_url and incoming webhooks, and for a generic JSON webhook, in tests and the demo.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** The body as JSON, or undefined when it is not JSON. */
  readonly json: unknown;
}

export interface HttpReceiver {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `127.0.0.1:<port>` (what an allow-list of hosts names). */
  readonly host: string;
  readonly received: readonly ReceivedRequest[];
  close(): Promise<void>;
}

export interface HttpReceiverOptions {
  /** The status answered (default 200) and body (default `ok`, Slack's answer). */
  readonly status?: number;
  readonly body?: string;
  /** Answer only after this long (a slow endpoint). */
  readonly delayMs?: number;
}

export async function startHttpReceiver(options: HttpReceiverOptions = {}): Promise<HttpReceiver> {
  const received: ReceivedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      received.push({ method: req.method ?? '', path: req.url ?? '/', headers: req.headers, body, json });
      const reply = (): void => {
        res.writeHead(options.status ?? 200, { 'content-type': 'text/plain' }).end(options.body ?? 'ok');
      };
      if (options.delayMs) setTimeout(reply, options.delayMs);
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
