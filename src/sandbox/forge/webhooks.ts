// Webhook deliveries the way GitHub sends them: JSON body signed with HMAC-SHA256 in
// `X-Hub-Signature-256` (by @octokit/webhooks-methods, never hand-rolled), a UUID in
// `X-GitHub-Delivery`, the event name in `X-GitHub-Event`. Delivered in order, off the request path,
// with a couple of retries (GitHub itself does not retry; the sandbox is kinder so tests are not
// flaky, and a retry keeps the delivery id as a GitHub redelivery does).
import { randomUUID } from 'node:crypto';
import { sign } from '@octokit/webhooks-methods';
import type { DeliveryRecord } from './state.ts';

export interface WebhookTarget {
  readonly url: string;
  readonly secret: string;
}

export interface WebhookSenderOptions {
  readonly retries?: number;
  readonly retryDelayMs?: number;
  /** GitHub gives a receiver 10 s. */
  readonly timeoutMs?: number;
}

export class WebhookSender {
  private queue: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();

  constructor(
    private readonly target: WebhookTarget | undefined,
    private readonly deliveries: DeliveryRecord[],
    private readonly options: WebhookSenderOptions = {},
  ) {}

  /** Records the event and queues its delivery; returns at once. */
  send(event: string, payload: Record<string, unknown>): DeliveryRecord {
    const action = typeof payload['action'] === 'string' ? payload['action'] : undefined;
    const record: DeliveryRecord = {
      id: randomUUID(),
      event,
      action,
      payload,
      attempts: [],
      status: undefined,
      delivered: false,
      settled: this.target === undefined,
    };
    this.deliveries.push(record);
    const target = this.target;
    if (target !== undefined) this.queue = this.queue.then(() => this.deliver(target, record));
    return record;
  }

  /** Resolves once every delivery queued so far has succeeded or used up its retries. */
  async idle(): Promise<void> {
    let seen: Promise<void> | undefined;
    while (seen !== this.queue) {
      seen = this.queue;
      await seen;
    }
  }

  /** Abandons pending deliveries. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.idle();
  }

  private async deliver(target: WebhookTarget, record: DeliveryRecord): Promise<void> {
    const body = JSON.stringify(record.payload);
    const signature = await sign(target.secret, body);
    const retries = this.options.retries ?? 2;
    for (let attempt = 0; attempt <= retries && !this.abort.signal.aborted; attempt += 1) {
      if (attempt > 0) await delay(this.options.retryDelayMs ?? 100, this.abort.signal);
      const at = Date.now();
      try {
        const response = await fetch(target.url, {
          method: 'POST',
          body,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'GitHub-Hookshot/sandbox',
            'x-github-event': record.event,
            'x-github-delivery': record.id,
            'x-github-hook-id': '1',
            'x-github-hook-installation-target-type': 'repository',
            'x-hub-signature-256': signature,
          },
          signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.timeoutMs ?? 10_000)]),
        });
        await response.arrayBuffer();
        record.attempts.push({ at, status: response.status });
        record.status = response.status;
        if (response.ok) {
          record.delivered = true;
          break;
        }
        if (response.status < 500 && response.status !== 429) break;
      } catch (error) {
        record.attempts.push({ at, error: error instanceof Error ? error.message : String(error) });
      }
    }
    record.settled = true;
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
