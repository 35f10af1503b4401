// Notices as JSON to any HTTP endpoint (docs/notifications.md documents the body). With a secret,
// the body is signed like GitHub signs its webhooks, so a receiver can tell Rewind's posts apart:
// `X-Rewind-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. `X-Rewind-Delivery` is the
// notice's key, the same for a transition however often it would be sent.
import { createHmac } from 'node:crypto';
import type { NotificationChannel } from './channel.ts';

export interface JsonWebhookChannelOptions {
  readonly url: string;
  readonly secret?: string;
}

export function jsonWebhookChannel(options: JsonWebhookChannelOptions): NotificationChannel {
  return {
    name: 'webhook',
    async send(notice, signal) {
      const body = JSON.stringify(notice);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': 'rewind-gitops-rollback',
        'x-rewind-event': notice.type,
        'x-rewind-delivery': notice.key,
      };
      if (options.secret) {
        headers['x-rewind-signature'] =
          `sha256=${createHmac('sha256', options.secret).update(body).digest('hex')}`;
      }
      // No redirects: the configured URL is the only place the notice (and its signature) goes.
      const response = await fetch(options.url, { method: 'POST', headers, body, signal, redirect: 'error' });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`the webhook answered HTTP ${response.status}`);
    },
  };
}
