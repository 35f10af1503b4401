// A Slack user's user groups, for chatops.slack.allowedGroups. The slash command does not carry
// them; Slack's Web API does (`usergroups.list` with include_users, scope usergroups:read). The
// list is cached briefly: one lookup per command burst, and a person removed from a group loses
// access within a minute.
import { WebClient } from '@slack/web-api';

export interface SlackUserGroupsOptions {
  readonly token: string;
  /** Default Slack's; tests point it at a local server. */
  readonly apiUrl?: string;
  readonly cacheMs?: number;
  readonly timeoutMs?: number;
  readonly now?: () => number;
}

export class SlackUserGroups {
  private readonly client: WebClient;
  private cached:
    { readonly at: number; readonly members: ReadonlyMap<string, readonly string[]> } | undefined;

  constructor(private readonly options: SlackUserGroupsOptions) {
    this.client = new WebClient(options.token, {
      ...(options.apiUrl ? { slackApiUrl: options.apiUrl } : {}),
      timeout: options.timeoutMs ?? 2000,
      // The slash command must be answered within 3 s: no retry loop behind the lookup.
      retryConfig: { retries: 0 },
    });
  }

  async groupsOf(userId: string): Promise<readonly string[]> {
    const now = (this.options.now ?? Date.now)();
    if (!this.cached || now - this.cached.at > (this.options.cacheMs ?? 60_000)) {
      const answer = await this.client.usergroups.list({ include_users: true });
      const members = new Map<string, string[]>();
      for (const group of answer.usergroups ?? []) {
        if (!group.id) continue;
        for (const user of group.users ?? []) members.set(user, [...(members.get(user) ?? []), group.id]);
      }
      this.cached = { at: now, members };
    }
    return this.cached.members.get(userId) ?? [];
  }
}
