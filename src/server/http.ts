// Rewind's HTTP server: health, readiness and metrics, plus the signed GitHub webhook endpoint when a
// secret is configured. Webhooks only wake the incident a pull request belongs to; the work stays in
// the queue.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import type { Logger } from '../pipeline/ports.ts';
import type { Runtime } from '../../workers/runtime.ts';
import { wakeIncidentsFor } from './github-events.ts';
import { handleHealth } from './health.ts';
import { createGitHubWebhookHandler } from './webhooks.ts';

export interface HttpServerOptions {
  port: number;
  host?: string;
  log: Logger;
  github?: { secret: string; redis: Redis; prefix: string };
}

export interface HttpServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startHttpServer(runtime: Runtime, options: HttpServerOptions): Promise<HttpServer> {
  const webhook = options.github
    ? createGitHubWebhookHandler({
        secret: options.github.secret,
        dedupe: { redis: options.github.redis, prefix: `${options.github.prefix}:webhook-delivery:` },
        log: options.log,
        onEvent: (event) => wakeIncidentsFor(event, runtime, options.log),
      })
    : undefined;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/webhooks/github' && req.method === 'POST') {
      if (!webhook) {
        res
          .writeHead(404, { 'content-type': 'text/plain' })
          .end('GitHub webhooks are not configured (forge.webhookSecretEnv)\n');
        return;
      }
      webhook(req, res);
      return;
    }
    void handleHealth(runtime, req, res);
  });
  await new Promise<void>((resolve) => server.listen(options.port, options.host ?? '0.0.0.0', resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
