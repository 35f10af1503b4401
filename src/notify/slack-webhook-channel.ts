// Notices to a Slack incoming webhook (@slack/webhook, Slack's official client).
import { IncomingWebhook } from '@slack/webhook';
import type { NotificationChannel } from './channel.ts';
import { noticeText } from './incident-notice.ts';

export function slackWebhookChannel(url: string, timeoutMs: number): NotificationChannel {
  // No retries here: a notice is sent once, and a slow Slack must not hold the incident's job.
  const webhook = new IncomingWebhook(url, { timeout: timeoutMs, retryConfig: { retries: 0 } });
  return {
    name: 'slack-webhook',
    async send(notice) {
      await webhook.send({ text: noticeText(notice), unfurl_links: false });
    },
  };
}
