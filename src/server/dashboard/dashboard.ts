// The read-only incident dashboard on Rewind's HTTP listener: the page (`/dashboard/`), a JSON API
// behind it (`/api/incidents`, `/api/incidents/<id>`) and a Server-Sent Events stream
// (`/api/events`). GET only: it shows what the incident store holds and changes nothing. With a
// token configured, every route asks for it (`Authorization: Bearer <token>`, or Basic with the
// token as password so a browser can log in without a proxy).
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { INCIDENT_ID_PATTERN } from '../../domain/incident.ts';
import type { IncidentStore } from '../../pipeline/incident-record.ts';
import type { Logger } from '../../pipeline/ports.ts';
import { incidentView } from './incident-view.ts';
import { createLiveFeed } from './live-feed.ts';
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from './page.ts';

export interface DashboardOptions {
  /** Default true. */
  readonly enabled?: boolean;
  /** When set, every dashboard and API request must carry it. */
  readonly token?: string;
  /** Pages streaming at once; more get 503 and fall back to reading the list now and then. Default 20. */
  readonly maxClients?: number;
  /** Newest incidents listed and streamed. Default 50. */
  readonly maxIncidents?: number;
  /** How often the incident store is read while a page is open. Default 1000 ms. */
  readonly pollMs?: number;
}

export interface Dashboard {
  /** Answers the request when it is the dashboard's; false leaves it to the other routes. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /** Ends the open event streams (so the server can close). */
  close(): void;
}

const MAX_ID_LENGTH = 300;

// The page loads only its own script and style and talks only to its own origin; nothing may frame it.
const SECURITY_HEADERS: http.OutgoingHttpHeaders = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const ASSETS: Readonly<Record<string, { type: string; body: string }>> = {
  '/dashboard/': { type: 'text/html; charset=utf-8', body: DASHBOARD_HTML },
  '/dashboard/app.js': { type: 'text/javascript; charset=utf-8', body: DASHBOARD_JS },
  '/dashboard/app.css': { type: 'text/css; charset=utf-8', body: DASHBOARD_CSS },
};

function isDashboardPath(path: string): boolean {
  return path === '/' || path === '/dashboard' || path.startsWith('/dashboard/') || path.startsWith('/api/');
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Constant-time: both sides hashed to the same length first. */
function authorized(header: string | undefined, token: string): boolean {
  const [scheme, value] = (header ?? '').split(' ', 2);
  let presented: string | undefined;
  if (scheme?.toLowerCase() === 'bearer') presented = value;
  else if (scheme?.toLowerCase() === 'basic' && value !== undefined) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    presented = decoded.slice(decoded.indexOf(':') + 1);
  }
  return presented !== undefined && timingSafeEqual(sha256(presented), sha256(token));
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res
    .writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8' })
    .end(`${JSON.stringify(body)}\n`);
}

function problem(res: http.ServerResponse, status: number, message: string, headers = {}): void {
  res
    .writeHead(status, { ...SECURITY_HEADERS, ...headers, 'content-type': 'application/json; charset=utf-8' })
    .end(`${JSON.stringify({ error: message })}\n`);
}

export function createDashboard(
  incidents: Pick<IncidentStore, 'list' | 'get'>,
  log: Logger,
  options: DashboardOptions = {},
): Dashboard {
  const maxIncidents = options.maxIncidents ?? 50;
  const feed = createLiveFeed({
    incidents,
    log,
    pollMs: options.pollMs ?? 1000,
    maxClients: options.maxClients ?? 20,
    maxIncidents,
    heartbeatMs: 15_000,
    maxBufferedBytes: 1024 * 1024,
    headers: SECURITY_HEADERS,
  });

  const serve = async (path: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (path === '/' || path === '/dashboard') {
      res.writeHead(302, { ...SECURITY_HEADERS, location: '/dashboard/' }).end();
      return;
    }
    const asset = ASSETS[path];
    if (asset) {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset.type }).end(asset.body);
      return;
    }
    if (path === '/api/events') {
      if (req.method === 'HEAD') {
        // A stream never ends: HEAD gets its headers only, and takes no stream slot.
        res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8' }).end();
        return;
      }
      if (!feed.attach(req, res)) {
        problem(res, 503, 'Too many dashboards are streaming; try again later.', { 'retry-after': '10' });
      }
      return;
    }
    if (path === '/api/incidents') {
      const views = (await incidents.list(maxIncidents)).map(incidentView);
      sendJson(res, 200, { incidents: views, limit: maxIncidents });
      return;
    }
    const id = /^\/api\/incidents\/([^/]+)$/.exec(path)?.[1];
    if (id !== undefined) {
      if (id.length > MAX_ID_LENGTH || !INCIDENT_ID_PATTERN.test(id)) {
        problem(res, 400, 'Not an incident id (inc-<app>-<12 hex digits>).');
        return;
      }
      const record = await incidents.get(id);
      if (record) sendJson(res, 200, incidentView(record));
      else problem(res, 404, 'No such incident (it may have expired).');
      return;
    }
    problem(res, 404, 'Not found.');
  };

  return {
    handle(req, res) {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (options.enabled === false || !isDashboardPath(path)) return false;
      // HEAD answers as GET does, without a body (Node leaves the body out of a HEAD response).
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        problem(res, 405, 'The dashboard is read-only.', { allow: 'GET, HEAD' });
        return true;
      }
      if (options.token !== undefined && !authorized(req.headers.authorization, options.token)) {
        problem(res, 401, 'A dashboard token is required.', {
          'www-authenticate': 'Basic realm="Rewind dashboard", charset="UTF-8"',
        });
        return true;
      }
      serve(path, req, res).catch((error: unknown) => {
        log.warn({ err: error, path }, 'dashboard request failed');
        if (!res.headersSent) problem(res, 503, 'The incident store (Redis) cannot be read; try again.');
        else res.destroy();
      });
      return true;
    },
    close: () => feed.close(),
  };
}
