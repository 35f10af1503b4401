// Server-Sent Events for the dashboard: one poll of the incident store serves every open page. The
// store is Redis, written by workers that may run in other processes, so the feed reads it rather
// than listening in-process; it polls only while a page is open, at most `maxClients` pages at once,
// sends only when what a page would show changed, and drops a page that stops reading.
import type http from 'node:http';
import type { IncidentStore } from '../../pipeline/incident-record.ts';
import type { Logger } from '../../pipeline/ports.ts';
import { incidentView } from './incident-view.ts';

export interface LiveFeedOptions {
  readonly incidents: Pick<IncidentStore, 'list'>;
  readonly log: Logger;
  /** How often the store is read while a page is open. */
  readonly pollMs: number;
  readonly maxClients: number;
  /** The newest incidents sent to a page; older ones are fetched one by one by id. */
  readonly maxIncidents: number;
  /** A comment line after this long without an event, so proxies keep the stream open. */
  readonly heartbeatMs: number;
  /** A page whose unread output grows past this is disconnected (its browser reconnects). */
  readonly maxBufferedBytes: number;
  readonly headers: http.OutgoingHttpHeaders;
}

export interface LiveFeed {
  /** Streams to this response; false (nothing written) when `maxClients` pages are open already. */
  attach(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  readonly clientCount: number;
  /** Ends every stream and stops polling. */
  close(): void;
}

export function createLiveFeed(options: LiveFeedOptions): LiveFeed {
  const clients = new Set<http.ServerResponse>();
  let timer: NodeJS.Timeout | undefined;
  // A read is in flight or scheduled: one loop at most, however pages come and go.
  let polling = false;
  let lastEvent: string | undefined;
  let lastSentAt = 0;

  const send = (res: http.ServerResponse, event: string): void => {
    if (res.writableLength > options.maxBufferedBytes) {
      clients.delete(res);
      res.destroy();
      return;
    }
    res.write(event);
  };
  const broadcast = (event: string): void => {
    lastSentAt = Date.now();
    for (const res of clients) send(res, event);
  };

  const poll = async (): Promise<void> => {
    timer = undefined;
    let event: string;
    try {
      const views = (await options.incidents.list(options.maxIncidents)).map(incidentView);
      event = `event: incidents\ndata: ${JSON.stringify(views)}\n\n`;
    } catch (error) {
      options.log.warn({ err: error }, 'dashboard: cannot read incidents');
      // Not the error itself: it may name the Redis URL.
      event = `event: problem\ndata: ${JSON.stringify('The incident store (Redis) cannot be read; retrying.')}\n\n`;
    }
    if (event !== lastEvent) {
      lastEvent = event;
      broadcast(event);
    } else if (Date.now() - lastSentAt >= options.heartbeatMs) {
      broadcast(': keep-alive\n\n');
    }
    if (clients.size > 0) timer = setTimeout(() => void poll(), options.pollMs).unref();
    else stop();
  };

  const stop = (): void => {
    clearTimeout(timer);
    timer = undefined;
    polling = false;
    lastEvent = undefined;
  };

  const detach = (res: http.ServerResponse): void => {
    clients.delete(res);
    // With a read in flight, that read sees no page left and stops the loop itself.
    if (clients.size === 0 && timer !== undefined) stop();
  };

  return {
    attach(req, res) {
      if (clients.size >= options.maxClients) return false;
      clients.add(res);
      req.once('close', () => detach(res));
      res.writeHead(200, {
        ...options.headers,
        'content-type': 'text/event-stream; charset=utf-8',
        'x-accel-buffering': 'no',
      });
      res.write('retry: 2000\n\n');
      if (lastEvent !== undefined) send(res, lastEvent);
      if (!polling) {
        polling = true;
        void poll();
      }
      return true;
    },
    get clientCount() {
      return clients.size;
    },
    close() {
      for (const res of clients) res.end();
      clients.clear();
      stop();
    },
  };
}
