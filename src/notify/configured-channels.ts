// The notification channels rewind.yaml asks for, with their secrets read from the named
// environment variables (config load already checked they are set).
import type { NotificationsConfig } from '../config/index.ts';
import type { NotificationChannel } from './channel.ts';
import { jsonWebhookChannel } from './json-webhook-channel.ts';
import { slackChatChannel } from './slack-chat-channel.ts';
import { slackWebhookChannel } from './slack-webhook-channel.ts';

export function configuredChannels(
  config: NotificationsConfig,
  env: Readonly<Record<string, string | undefined>>,
): NotificationChannel[] {
  const channels: NotificationChannel[] = [];
  const secret = (name: string | undefined): string | undefined =>
    name ? env[name] || undefined : undefined;
  const slackUrl = secret(config.slack?.webhookUrlEnv);
  if (slackUrl) channels.push(slackWebhookChannel(slackUrl, config.timeoutMs));
  const botToken = secret(config.slack?.botTokenEnv);
  if (botToken && config.slack?.channel) {
    channels.push(
      slackChatChannel({
        token: botToken,
        channel: config.slack.channel,
        timeoutMs: config.timeoutMs,
        ...(config.slack.apiUrl ? { apiUrl: config.slack.apiUrl } : {}),
      }),
    );
  }
  if (config.webhook) {
    const key = secret(config.webhook.secretEnv);
    channels.push(jsonWebhookChannel({ url: config.webhook.url, ...(key ? { secret: key } : {}) }));
  }
  return channels;
}
