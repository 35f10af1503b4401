// A place notifications go (Slack incoming webhook, Slack chat.postMessage, a generic JSON webhook).
// One interface, one adapter per system; the announcer bounds each send and never lets one fail an
// incident.
import type { IncidentNotice } from './incident-notice.ts';

export interface NotificationChannel {
  /** For logs (`slack-webhook`, `slack-chat`, `webhook`): never the URL, which may hold a credential. */
  readonly name: string;
  /** Throws when the endpoint did not take the notice; must honour `signal`. */
  send(notice: IncidentNotice, signal: AbortSignal): Promise<void>;
}
