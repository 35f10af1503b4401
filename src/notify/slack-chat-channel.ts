// Notices as chat.postMessage to a channel, with a bot token (@slack/web-api, Slack's official client).
import { WebClient } from '@slack/web-api';
import type { NotificationChannel } from './channel.ts';
import { noticeText } from './incident-notice.ts';

export interface SlackChatChannelOptions {
  readonly token: string;
  readonly channel: string;
  readonly timeoutMs: number;
  /** Default Slack's; tests point it at a local server. */
  readonly apiUrl?: string;
}

export function slackChatChannel(options: SlackChatChannelOptions): NotificationChannel {
  const client = new WebClient(options.token, {
    timeout: options.timeoutMs,
    retryConfig: { retries: 0 },
    ...(options.apiUrl ? { slackApiUrl: options.apiUrl } : {}),
  });
  return {
    name: 'slack-chat',
    async send(notice) {
      await client.chat.postMessage({
        channel: options.channel,
        text: noticeText(notice),
        unfurl_links: false,
      });
    },
  };
}
