// `POST /webhooks/alertmanager` and `POST /webhooks/flux`: alerts that name an app open (or join)
// its incident through the same path as the cluster detector (workers/alert-trigger.ts). Order
// matters for safety, as on the GitHub endpoint: a bearer token is checked before a byte of the
// body is read, the size cap applies while it is read, an HMAC is checked on the raw bytes before
// anything is parsed, the payload must match its schema (422 otherwise), and each alert is
// remembered in Redis (with a TTL) so a resend does nothing twice. Neither the token, the key nor
// the signature is ever logged. Answers: 202 when an alert opened or joined an incident, 200 when
// none did (each alert's reason in the body), 400 not JSON, 401 unauthenticated, 405 not POST,
// 408 too slow, 413 too large, 422 unreadable payload, 503 Redis or the cluster unavailable.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { AlertsConfig } from '../config/index.ts';
import type { AppRef } from '../domain/app-ref.ts';
import { ConfigError, redact } from '../domain/errors.ts';
import { isSupportedEngine } from '../engines/registry.ts';
import type { AlertEvidence, AlertOutcome, RaiseAlert } from '../pipeline/alert-evidence.ts';
import type { Logger } from '../pipeline/ports.ts';
import {
  type AlertmanagerAlert,
  type FluxEvent,
  alertmanagerPayload,
  appOfAlert,
  appOfFluxEvent,
  fluxEventPayload,
  revisionOfFluxEvent,
} from './alert-payloads.ts';
import { problemsOf } from './github-events.ts';
import { type WebhookHandler, answer, header, readWebhookBody } from './webhooks.ts';

export type AlertSource = 'alertmanager' | 'flux';

/** A bearer token (`Authorization: Bearer <token>`) or an HMAC key (`X-Signature: sha256=<hex>`). */
export type AlertAuth =
  { readonly kind: 'bearer'; readonly token: string } | { readonly kind: 'hmac'; readonly key: string };

export interface AlertWebhookOptions {
  readonly source: AlertSource;
  readonly auth: AlertAuth;
  /** Alertmanager: templates that name an app from an alert's labels. */
  readonly appLabels?: readonly string[];
  readonly raise: RaiseAlert;
  readonly dedupe: { readonly redis: Redis; readonly prefix: string; readonly ttlSeconds: number };
  readonly maxBodyBytes: number;
  readonly readTimeoutMs?: number;
  readonly log: Logger;
  readonly now?: () => Date;
}

/** Alerts looked at per request; Alertmanager groups rarely hold more, the rest are reported skipped. */
const MAX_ALERTS_PER_REQUEST = 100;
const SIGNATURE = /^sha256=[0-9a-f]{64}$/;
const BEARER = /^Bearer ([\x21-\x7e]{1,4096})$/;

/** Equal in constant time: both sides hashed first, so their lengths give nothing away either. */
function sameSecret(given: string | Buffer, expected: string | Buffer): boolean {
  const digest = (value: string | Buffer) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** One alert of a payload: its identity for deduplication, the app it names, or why it is skipped. */
interface AlertItem {
  readonly identity: string;
  readonly app?: AppRef;
  readonly skip?: { readonly reason: string; readonly message: string };
  readonly evidence: AlertEvidence;
}

type ItemResult = AlertOutcome & { readonly index: number };

function alertmanagerItem(alert: AlertmanagerAlert, templates: readonly string[], at: string): AlertItem {
  const evidence: AlertEvidence = {
    source: 'alertmanager',
    name: alert.labels['alertname'] ?? 'alert',
    status: alert.status,
    ...(alert.annotations['summary'] || alert.annotations['description']
      ? { summary: alert.annotations['summary'] ?? alert.annotations['description'] }
      : {}),
    labels: alert.labels,
    startsAt: alert.startsAt,
    fingerprint: alert.fingerprint,
    receivedAt: at,
  };
  const identity = `am:${alert.fingerprint}:${alert.startsAt}`;
  if (alert.status !== 'firing')
    return {
      identity,
      evidence,
      skip: { reason: 'Resolved', message: 'A resolved alert does not act.' },
    };
  const app = appOfAlert(alert.labels, templates);
  if (!app)
    return {
      identity,
      evidence,
      skip: {
        reason: 'NoApp',
        message: 'No alerts.alertmanager.appLabels template names an app with these labels.',
      },
    };
  return { identity, app, evidence };
}

function fluxItem(event: FluxEvent, at: string): AlertItem {
  const revision = revisionOfFluxEvent(event);
  const { kind, namespace, name, uid } = event.involvedObject;
  const evidence: AlertEvidence = {
    source: 'flux',
    name: event.reason,
    status: event.severity,
    summary: `${event.reportingController}: ${event.message}`,
    labels: { kind, namespace, name },
    ...(event.timestamp ? { startsAt: event.timestamp } : {}),
    ...(revision ? { revision } : {}),
    receivedAt: at,
  };
  const identity = `flux:${JSON.stringify([kind, namespace, name, uid, event.reason, revision, event.timestamp, event.message])}`;
  if (event.severity !== 'error')
    return {
      identity,
      evidence,
      skip: {
        reason: 'NotAnError',
        message: `A ${event.severity} event does not act (only severity error).`,
      },
    };
  const app = appOfFluxEvent(event);
  if (!app || !isSupportedEngine(app.engine))
    return {
      identity,
      evidence,
      skip: { reason: 'UnsupportedKind', message: `Rewind does not roll back a ${kind}; acknowledged.` },
    };
  return { identity, app, evidence };
}

export function createAlertWebhookHandler(options: AlertWebhookOptions): WebhookHandler {
  const secret = options.auth.kind === 'bearer' ? options.auth.token : options.auth.key;
  if (secret === '') {
    throw new ConfigError([{ path: `alerts.${options.source}`, message: 'the webhook secret is empty.' }]);
  }
  const baseLog = options.log.child({ webhook: options.source });
  const now = options.now ?? (() => new Date());
  const { redis, prefix, ttlSeconds } = options.dedupe;

  /** The payload's alerts, or undefined after answering 422. */
  function itemsOf(res: ServerResponse, payload: unknown, at: string): AlertItem[] | undefined {
    const parsed =
      options.source === 'alertmanager'
        ? alertmanagerPayload.safeParse(payload)
        : fluxEventPayload.safeParse(payload);
    if (!parsed.success) {
      const problems = problemsOf(parsed.error);
      baseLog.warn({ problems }, 'alert payload refused');
      answer(res, 422, { error: `payload does not match the ${options.source} schema`, problems });
      return undefined;
    }
    if (options.source === 'flux') return [fluxItem(parsed.data as FluxEvent, at)];
    const templates = options.appLabels ?? [];
    return (parsed.data as { alerts: AlertmanagerAlert[] }).alerts.map((a) =>
      alertmanagerItem(a, templates, at),
    );
  }

  /** Acts on one alert once: remembered before acting, forgotten again when it did not act. */
  async function handleItem(item: AlertItem, index: number): Promise<ItemResult> {
    if (item.skip || !item.app) {
      const skip = item.skip ?? { reason: 'NoApp', message: 'no app' };
      return { index, kind: 'ignored', ...skip };
    }
    const key = `${prefix}${createHash('sha256').update(item.identity).digest('hex')}`;
    if ((await redis.set(key, '1', 'EX', ttlSeconds, 'NX')) !== 'OK')
      return { index, kind: 'ignored', reason: 'Duplicate', message: 'Already handled.' };
    try {
      const outcome = await options.raise(item.app, item.evidence);
      // Not acted on (healthy, unknown...): a resend later is judged again on the cluster then.
      if (outcome.kind === 'ignored') await redis.del(key);
      return { index, ...outcome };
    } catch (error) {
      await redis.del(key).catch(() => undefined);
      throw error;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return answer(res, 405, { error: 'use POST' });
    }
    const auth = options.auth;
    const signature = auth.kind === 'hmac' ? header(req, 'x-signature') : undefined;
    if (auth.kind === 'bearer') {
      const token = BEARER.exec(header(req, 'authorization') ?? '')?.[1];
      if (token === undefined || !sameSecret(token, auth.token)) {
        baseLog.warn({ reason: token === undefined ? 'missing' : 'mismatch' }, 'alert webhook refused');
        return answer(res, 401, { error: 'missing or wrong bearer token' }, true);
      }
    } else if (signature === undefined || !SIGNATURE.test(signature)) {
      baseLog.warn({ reason: signature === undefined ? 'missing' : 'malformed' }, 'alert webhook refused');
      return answer(res, 401, { error: 'missing or malformed X-Signature' }, true);
    }
    const bytes = await readWebhookBody(req, res, {
      maxBytes: options.maxBodyBytes,
      timeoutMs: options.readTimeoutMs ?? 10_000,
      log: baseLog,
    });
    if (!bytes) return;
    if (auth.kind === 'hmac') {
      const expected = createHmac('sha256', auth.key).update(bytes).digest('hex');
      if (!sameSecret(signature!.slice('sha256='.length), expected)) {
        baseLog.warn({ bytes: bytes.length }, 'alert webhook signature does not match');
        return answer(res, 401, { error: 'signature does not match' });
      }
    }
    let payload: unknown;
    try {
      payload = JSON.parse(bytes.toString('utf8'));
    } catch {
      return answer(res, 400, { error: 'body is not JSON' });
    }
    const at = now().toISOString();
    const items = itemsOf(res, payload, at);
    if (!items) return;

    const results: ItemResult[] = [];
    try {
      // One at a time: alerts of one group often name the same app (one incident, joined in order).
      for (const [index, item] of items.slice(0, MAX_ALERTS_PER_REQUEST).entries())
        results.push(await handleItem(item, index));
    } catch (error) {
      baseLog.error({ err: redact(String(error)) }, 'alert could not be handled');
      return answer(res, 503, { error: 'try again later', results });
    }
    for (let index = MAX_ALERTS_PER_REQUEST; index < items.length; index++)
      results.push({
        index,
        kind: 'ignored',
        reason: 'TooMany',
        message: `Only ${MAX_ALERTS_PER_REQUEST} alerts are looked at per request.`,
      });
    const acted = results.filter((r) => r.kind !== 'ignored').length;
    baseLog.info({ alerts: items.length, acted }, 'alert webhook handled');
    return answer(res, acted > 0 ? 202 : 200, { acted, results });
  }

  return (req, res) => {
    handle(req, res).catch((error: unknown) => {
      baseLog.error({ err: redact(String(error)) }, 'alert webhook failed');
      answer(res, 503, { error: 'try again later' });
    });
  };
}

export interface AlertEndpoints {
  readonly alertmanager?: WebhookHandler;
  readonly flux?: WebhookHandler;
}

/** The configured alert endpoints (none unless `alerts.alertmanager` / `alerts.flux` are set). */
export function alertEndpoints(options: {
  readonly config: AlertsConfig;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly redis: Redis;
  /** The installation's Redis prefix. */
  readonly prefix: string;
  readonly raise: RaiseAlert;
  readonly log: Logger;
}): AlertEndpoints {
  const { config, env } = options;
  const endpoint = (source: AlertSource): WebhookHandler | undefined => {
    const settings = config[source];
    if (!settings) return undefined;
    const auth: AlertAuth = settings.tokenEnv
      ? { kind: 'bearer', token: env[settings.tokenEnv] ?? '' }
      : { kind: 'hmac', key: env[settings.hmacSecretEnv ?? ''] ?? '' };
    return createAlertWebhookHandler({
      source,
      auth,
      ...(source === 'alertmanager' && config.alertmanager
        ? { appLabels: config.alertmanager.appLabels }
        : {}),
      raise: options.raise,
      dedupe: {
        redis: options.redis,
        prefix: `${options.prefix}:alert-seen:`,
        ttlSeconds: Math.max(1, Math.round(config.dedupeTtlMs / 1000)),
      },
      maxBodyBytes: config.maxBodyBytes,
      log: options.log,
    });
  };
  const alertmanager = endpoint('alertmanager');
  const flux = endpoint('flux');
  return { ...(alertmanager ? { alertmanager } : {}), ...(flux ? { flux } : {}) };
}
