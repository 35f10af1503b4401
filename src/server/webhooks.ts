// `POST /webhooks/github`: GitHub deliveries are hints that wake the pipeline up, so the endpoint
// only authenticates, checks the payload's shape, deduplicates and hands the event over (onEvent
// enqueues); it answers fast (GitHub gives up after 10 s and does not retry). Order matters for
// safety: the size cap applies while the body is read, the HMAC is checked on the raw bytes before
// anything is parsed, and neither the signature, the secret nor any header is ever logged.
import { redact } from '../domain/errors.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { verify } from '@octokit/webhooks-methods';
import type { Redis } from 'ioredis';
import { ConfigError } from '../domain/errors.ts';
import type { Logger } from '../pipeline/ports.ts';
import { type GitHubWebhookEvent, parseGitHubDelivery } from './github-events.ts';

export type { GitHubWebhookEvent };

export interface GitHubWebhookHandlerOptions {
  readonly secret: string;
  /** Bodies above this are refused with 413 while being read (default 1 MiB). */
  readonly maxBodyBytes?: number;
  readonly dedupe: {
    readonly redis: Redis;
    /** Key prefix; the delivery id is appended. */
    readonly prefix: string;
    /** How long a delivery id is remembered (default 72 h, GitHub's redelivery window). */
    readonly ttlSeconds?: number;
  };
  /**
   * Hands a schema-checked event over (enqueue only); a throw answers 500 so a redelivery is
   * accepted. Events Rewind does not handle, pings and invalid payloads never reach it.
   */
  readonly onEvent: (event: GitHubWebhookEvent) => Promise<void>;
  readonly log: Logger;
  /** A client that stops sending mid-body is cut off after this long (default 10 s). */
  readonly readTimeoutMs?: number;
}

export type WebhookHandler = (req: IncomingMessage, res: ServerResponse) => void;

export const DEFAULT_MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;
export const DEFAULT_DELIVERY_TTL_SECONDS = 72 * 3600;

// Delivery ids are GUIDs; event names are snake_case words. Anything else never reaches Redis keys.
const DELIVERY_ID = /^[A-Za-z0-9-]{1,100}$/;
const EVENT_NAME = /^[a-z_]{1,64}$/;
const SIGNATURE = /^sha256=[0-9a-f]{64}$/;

type BodyResult =
  | { readonly kind: 'body'; readonly bytes: Buffer }
  | { readonly kind: 'too-large' }
  | { readonly kind: 'timeout' };

/** Reads at most `max` bytes; past that it stops (pauses the stream) and never buffers the rest. */
export function readCappedBody(req: IncomingMessage, max: number, timeoutMs: number): Promise<BodyResult> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: BodyResult | Error): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        req.pause();
        finish({ kind: 'too-large' });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish({ kind: 'body', bytes: Buffer.concat(chunks, size) });
    const onError = (error: Error): void => finish(error);
    const timer = setTimeout(() => {
      req.pause();
      finish({ kind: 'timeout' });
    }, timeoutMs);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/**
 * The body of a webhook request, capped: a declared length over `maxBytes` is refused before a byte
 * is read, a longer body while it is read (413), a sender too slow is cut off (408), an empty body
 * is refused (400). Undefined when it answered; the caller then stops.
 */
export async function readWebhookBody(
  req: IncomingMessage,
  res: ServerResponse,
  options: { readonly maxBytes: number; readonly timeoutMs: number; readonly log: Logger },
): Promise<Buffer | undefined> {
  const { maxBytes, log } = options;
  const declared = Number(header(req, 'content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    log.warn({ declaredBytes: declared, maxBytes }, 'webhook body too large (declared)');
    answer(res, 413, { error: `body larger than ${maxBytes} bytes` }, true);
    return undefined;
  }
  const read = await readCappedBody(req, maxBytes, options.timeoutMs);
  if (read.kind === 'too-large') {
    log.warn({ maxBytes }, 'webhook body too large');
    answer(res, 413, { error: `body larger than ${maxBytes} bytes` }, true);
    return undefined;
  }
  if (read.kind === 'timeout') {
    answer(res, 408, { error: 'body not received in time' }, true);
    return undefined;
  }
  if (read.bytes.length === 0) {
    answer(res, 400, { error: 'empty body' });
    return undefined;
  }
  return read.bytes;
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function answer(res: ServerResponse, status: number, body: object, close = false): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(text);
}

/**
 * The handler for `POST /webhooks/github` (mount it on that path; it does not look at the URL).
 * Answers: 202 accepted, 200 `{duplicate: true}` / `{pong: true}` / `{ignored: true}` (an event
 * Rewind does not handle), 400 malformed, 401 unsigned or badly signed, 405 not POST, 408 body too
 * slow, 413 too large, 422 a payload Rewind cannot read, 500 onEvent failed, 503 Redis unavailable.
 */
export function createGitHubWebhookHandler(options: GitHubWebhookHandlerOptions): WebhookHandler {
  if (options.secret === '') {
    // An empty secret would make every signature check meaningless (cf. Atlantis accepting unsigned events).
    throw new ConfigError([
      { path: 'forge.webhookSecretEnv', message: 'the GitHub webhook secret is empty.' },
    ]);
  }
  const max = options.maxBodyBytes ?? DEFAULT_MAX_WEBHOOK_BODY_BYTES;
  const ttl = options.dedupe.ttlSeconds ?? DEFAULT_DELIVERY_TTL_SECONDS;
  const readTimeoutMs = options.readTimeoutMs ?? 10_000;
  const { redis, prefix } = options.dedupe;
  const baseLog = options.log.child({ webhook: 'github' });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return answer(res, 405, { error: 'use POST' });
    }
    // Cheap refusals first, before a single body byte is read.
    const signature = header(req, 'x-hub-signature-256');
    if (signature === undefined || !SIGNATURE.test(signature)) {
      baseLog.warn(
        { reason: signature === undefined ? 'missing' : 'malformed' },
        'webhook signature refused',
      );
      return answer(res, 401, { error: 'missing or malformed X-Hub-Signature-256' }, true);
    }
    const name = header(req, 'x-github-event');
    const deliveryId = header(req, 'x-github-delivery');
    if (
      name === undefined ||
      !EVENT_NAME.test(name) ||
      deliveryId === undefined ||
      !DELIVERY_ID.test(deliveryId)
    ) {
      return answer(res, 400, { error: 'X-GitHub-Event and X-GitHub-Delivery are required' }, true);
    }
    const log = baseLog.child({ event: name, deliveryId });
    const bytes = await readWebhookBody(req, res, { maxBytes: max, timeoutMs: readTimeoutMs, log });
    if (!bytes) return;

    const raw = bytes.toString('utf8');
    if (!(await verify(options.secret, raw, signature))) {
      log.warn({ bytes: bytes.length }, 'webhook signature does not match');
      return answer(res, 401, { error: 'signature does not match' });
    }

    let payload: unknown;
    try {
      payload = JSON.parse(raw);
    } catch {
      return answer(res, 400, { error: 'body is not JSON' });
    }

    // Checked before the delivery is remembered: a redelivery of a refused payload is refused the
    // same way, and what the consumer gets is typed.
    const parsed = parseGitHubDelivery(name, deliveryId, payload);
    if (parsed.kind === 'invalid') {
      log.warn({ problems: parsed.problems }, 'webhook payload refused');
      return answer(res, 422, {
        error: 'payload does not match the event schema',
        problems: parsed.problems,
      });
    }
    if (parsed.kind === 'ping') return answer(res, 200, { pong: true });
    if (parsed.kind === 'ignored') return answer(res, 200, { ignored: true });

    const key = `${prefix}${deliveryId}`;
    let fresh: boolean;
    try {
      fresh = (await redis.set(key, String(Date.now()), 'EX', ttl, 'NX')) === 'OK';
    } catch (error) {
      log.error({ err: redact(String(error)) }, 'webhook dedupe unavailable');
      return answer(res, 503, { error: 'try again later' });
    }
    if (!fresh) {
      log.info({}, 'duplicate webhook delivery ignored');
      return answer(res, 200, { duplicate: true });
    }

    try {
      await options.onEvent(parsed.event);
    } catch (error) {
      // Forget the delivery so GitHub's (or a person's) redelivery is accepted.
      await redis.del(key).catch(() => undefined);
      log.error({ err: redact(String(error)) }, 'webhook event could not be handed over');
      return answer(res, 500, { error: 'event not accepted; redeliver it' });
    }
    log.info({ bytes: bytes.length }, 'webhook accepted');
    return answer(res, 202, { accepted: true });
  }

  return (req, res) => {
    handle(req, res).catch((error: unknown) => {
      baseLog.error({ error }, 'webhook handler failed');
      answer(res, 500, { error: 'internal error' });
    });
  };
}
