// The one hook every recorded incident transition goes through (IncidentRecorder's onTransition):
// announces Detected, NeedsHuman, Converged and Failed to the configured channels, and writes the
// Kubernetes Event of every terminal outcome the verifier does not write itself. Each is done once
// per transition, also when a retried or resumed job records or replays it again: a Redis key per
// transition (`SET NX` with a TTL) is claimed before sending. It never fails or stalls the incident:
// every send is bounded by a timeout, errors are logged (redacted, without URLs) and swallowed.
// A crash between claiming and sending loses that one notice (at most once, never twice).
import type { Redis } from 'ioredis';
import { redact } from '../domain/errors.ts';
import { engineFor, isSupportedEngine } from '../engines/registry.ts';
import type { IncidentRecord } from '../pipeline/incident-record.ts';
import { outcomeEventFor } from '../pipeline/outcome-event.ts';
import type { ClusterPort, Logger } from '../pipeline/ports.ts';
import type { NotificationChannel } from './channel.ts';
import { noticeFor } from './incident-notice.ts';

export interface TransitionAnnouncerOptions {
  readonly redis: Redis;
  /** Redis key prefix (the installation's); `:announced:<key>` is appended. */
  readonly prefix: string;
  readonly channels: readonly NotificationChannel[];
  /** Where outcome Events are written; without it, none are. */
  readonly cluster?: Pick<ClusterPort, 'get' | 'recordEvent'>;
  /** Per send (default 5 s). */
  readonly timeoutMs?: number;
  /** How long a transition is remembered as announced (default 14 days). */
  readonly ttlSeconds?: number;
  readonly log: Logger;
}

export type OnTransition = (record: IncidentRecord) => Promise<void>;

export function transitionAnnouncer(options: TransitionAnnouncerOptions): OnTransition {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const ttl = options.ttlSeconds ?? 14 * 24 * 3600;
  const log = options.log.child({ component: 'announcer' });

  /** True the first time `key` is claimed; false when claimed before (or Redis is down: stay quiet). */
  async function claim(key: string): Promise<boolean> {
    try {
      return (await options.redis.set(`${options.prefix}:announced:${key}`, '1', 'EX', ttl, 'NX')) === 'OK';
    } catch (error) {
      log.warn({ key, err: redact(String(error)) }, 'announcement skipped: Redis unavailable');
      return false;
    }
  }

  async function bounded(what: string, fn: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      await Promise.race([fn(controller.signal), timeout]);
    } catch (error) {
      log.warn(
        { target: what, err: redact(error instanceof Error ? error.message : String(error)) },
        'announcement failed',
      );
    } finally {
      clearTimeout(timer);
    }
  }

  async function notify(record: IncidentRecord): Promise<void> {
    const notice = noticeFor(record);
    if (!notice || options.channels.length === 0 || !(await claim(notice.key))) return;
    await Promise.all(
      options.channels.map((channel) => bounded(channel.name, (signal) => channel.send(notice, signal))),
    );
    log.info(
      { incident: record.id, key: notice.key, channels: options.channels.map((c) => c.name) },
      'incident announced',
    );
  }

  async function recordOutcomeEvent(record: IncidentRecord): Promise<void> {
    const event = outcomeEventFor(record);
    const cluster = options.cluster;
    if (!event || !cluster || !isSupportedEngine(record.app.engine)) return;
    if (!(await claim(`${record.id}:event:${record.conditions.length - 1}`))) return;
    await bounded('event', async () => {
      const object = await cluster.get(engineFor(record.app).ref(record.app));
      if (object) await cluster.recordEvent(object, event.type, event.reason, event.message);
    });
  }

  return async (record) => {
    await Promise.all([notify(record), recordOutcomeEvent(record)]);
  };
}
