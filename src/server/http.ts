// Rewind's HTTP server: health, readiness and metrics, plus the signed GitHub webhook endpoint when a
// secret is configured, and the alert endpoints when `alerts` configures them. GitHub webhooks only
// wake the incident a pull request belongs to; alerts open one through the detector's path. The work
// stays in the queue.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { TerminalError } from '../domain/errors.ts';
import type { Logger } from '../pipeline/ports.ts';
import type { ServerRuntime } from './runtime-port.ts';
import { type Dashboard, type DashboardOptions, createDashboard } from './dashboard/dashboard.ts';
import { wakeIncidentsFor } from './github-events.ts';
import { healthHandler } from './health.ts';
import type { SlackCommandEndpoint } from './slack-command.ts';
import { createGitHubWebhookHandler } from './webhooks.ts';
import type { AlertEndpoints } from './alert-webhooks.ts';
import {
  type ConnectionLimits,
  DEFAULT_CONNECTION_LIMITS,
  guardConnections,
  serverTimeouts,
} from './connection-limits.ts';

const ALERT_ROUTES: ReadonlyMap<string, keyof AlertEndpoints> = new Map([
  ['/webhooks/alertmanager', 'alertmanager'],
  ['/webhooks/flux', 'flux'],
]);

export interface HttpServerOptions {
  port: number;
  /** Default 0.0.0.0 (every interface), as a container needs. */
  host?: string;
  /** Timeouts and the connection cap (default DEFAULT_CONNECTION_LIMITS). */
  limits?: Partial<ConnectionLimits>;
  log: Logger;
  github?: { secret: string; redis: Redis; prefix: string };
  /** The Slack slash command (`POST /webhooks/slack`), built with its executor (createSlackCommandEndpoint). */
  slack?: SlackCommandEndpoint;
  /** The read-only incident dashboard (`/dashboard/`, `/api/...`); on unless `enabled: false`. */
  dashboard?: DashboardOptions;
  /** `POST /webhooks/alertmanager` and `/webhooks/flux` (alertEndpoints). */
  alerts?: AlertEndpoints;
}

export interface HttpServer {
  /** Where a client on this machine reaches it (127.0.0.1 when bound to every interface). */
  readonly url: string;
  /** The address and port bound, as `host:port` (`[::1]:port` for IPv6). */
  readonly address: string;
  close(): Promise<void>;
}

/** A bound port that answers 503 until `serve` gives it the runtime. */
export interface HttpListener extends HttpServer {
  serve(
    runtime: ServerRuntime,
    github?: HttpServerOptions['github'],
    slack?: SlackCommandEndpoint,
    alerts?: AlertEndpoints,
  ): void;
}

/** How long a graceful close waits for requests in flight before it closes their connections. */
const CLOSE_GRACE_MS = 5000;

/**
 * Binds the port first, before any worker or Redis connection exists: a port in use (a second
 * `rewind start`) then fails with what to do, and nothing is left half-started.
 */
export async function listenHttp(
  options: Omit<HttpServerOptions, 'github' | 'slack' | 'alerts'>,
): Promise<HttpListener> {
  let handler: http.RequestListener = (_req, res) => {
    res.writeHead(503, { 'content-type': 'text/plain' }).end('starting\n');
  };
  let dashboard: Dashboard | undefined;
  let slackEndpoint: SlackCommandEndpoint | undefined;
  const limits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits };
  const server = http.createServer(serverTimeouts(limits), (req, res) => {
    if (guard.refuse(req, res)) return;
    if (dashboard?.handle(req, res) !== true) handler(req, res);
  });
  const guard = guardConnections(server, limits);
  const host = options.host ?? '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error, host, options.port)));
    server.listen(options.port, host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  const address =
    bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
  const local = ['0.0.0.0', '::'].includes(bound.address) ? `127.0.0.1:${bound.port}` : address;
  return {
    url: `http://${local}`,
    address,
    serve(runtime, github, slack, alerts) {
      dashboard?.close();
      dashboard = createDashboard(runtime.incidents, options.log, options.dashboard);
      slackEndpoint = slack;
      handler = requestHandler(runtime, {
        log: options.log,
        ...(github ? { github } : {}),
        ...(slack ? { slack } : {}),
        ...(alerts ? { alerts } : {}),
      });
    },
    close: () => {
      // Event streams never end on their own: end them, or the server waits for them forever.
      dashboard?.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // close() ends idle keep-alive connections and stops enforcing the header and request
      // deadlines; a client still sending (or pretending to) gets a moment, then is cut off.
      const cutOff = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
      // Then the Slack commands acknowledged before the close finish and post their outcome.
      return closed.finally(() => clearTimeout(cutOff)).then(() => slackEndpoint?.idle());
    },
  };
}

function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  if (error.code === 'EADDRINUSE') {
    return new TerminalError(
      `port ${port} is in use on ${host} (another Rewind, or another server, listens there): stop it, or pass --listen <port> with a free port.`,
      { cause: error },
    );
  }
  if (error.code === 'EACCES') {
    return new TerminalError(
      `not allowed to listen on port ${port} on ${host} (ports below 1024 need privileges): pass --listen <port> with a port above 1023.`,
      { cause: error },
    );
  }
  return new TerminalError(`cannot listen on ${host}:${port}: ${error.message}`, { cause: error });
}

export async function startHttpServer(
  runtime: ServerRuntime,
  options: HttpServerOptions,
): Promise<HttpServer> {
  const listener = await listenHttp(options);
  listener.serve(runtime, options.github, options.slack, options.alerts);
  return listener;
}

function requestHandler(
  runtime: ServerRuntime,
  options: Pick<HttpServerOptions, 'log' | 'github' | 'slack' | 'alerts'>,
): http.RequestListener {
  const webhook = options.github
    ? createGitHubWebhookHandler({
        secret: options.github.secret,
        dedupe: { redis: options.github.redis, prefix: `${options.github.prefix}:webhook-delivery:` },
        log: options.log,
        onEvent: async (event) => {
          await wakeIncidentsFor(event, runtime, options.log);
          await runtime.chatops?.acceptComment(event);
        },
      })
    : undefined;
  const health = healthHandler(runtime);
  return (req, res) => {
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
    if (path === '/webhooks/slack') {
      if (!options.slack) {
        res
          .writeHead(404, { 'content-type': 'text/plain' })
          .end('Slack commands are not configured (chatops.slack.signingSecretEnv)\n');
        return;
      }
      options.slack.handler(req, res);
      return;
    }
    const alert = ALERT_ROUTES.get(path ?? '');
    if (alert) {
      const endpoint = options.alerts?.[alert];
      if (!endpoint) {
        res
          .writeHead(404, { 'content-type': 'text/plain' })
          .end(`${alert} alerts are not configured (alerts.${alert})\n`);
        return;
      }
      endpoint(req, res);
      return;
    }
    void health(req, res);
  };
}
