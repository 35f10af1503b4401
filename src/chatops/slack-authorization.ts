// Who may run which Slack command: deny by default. A command that acts on an app (one it names, or
// for `cancel` its incident's app, as on GitHub) is checked against that app's entry in
// chatops.slack.apps when there is one (its lists replace the global ones), else against
// chatops.slack.allowedUsers / allowedGroups; commands without an app (global pause and resume,
// status of everything, cancel of an unknown incident) use the global lists. `help` changes and
// reveals nothing: anyone may ask.
import { parseAppRef, sameApp, type AppRef } from '../domain/app-ref.ts';
import type { SlackChatOpsConfig } from '../config/index.ts';
import type { ChatCommand } from './grammar.ts';

export type SlackAuthorization =
  | { readonly allowed: true; readonly via: 'user' | 'group' | 'anyone'; readonly groups: readonly string[] }
  | { readonly allowed: false; readonly reason: string };

interface AllowList {
  readonly users: readonly string[];
  readonly groups: readonly string[];
  readonly scope: string;
}

/** The lists that decide for `app` (the app the command acts on, see ChatCommandExecutor.targetApp). */
export function allowListFor(config: SlackChatOpsConfig, app: AppRef | undefined): AllowList {
  // Entries are validated at config load; one that no longer parses simply never matches.
  const entry = app
    ? config.apps.find((e) => {
        try {
          return sameApp(parseAppRef(e.app), app);
        } catch {
          return false;
        }
      })
    : undefined;
  return entry
    ? { users: entry.allowedUsers, groups: entry.allowedGroups, scope: `app ${entry.app}` }
    : { users: config.allowedUsers, groups: config.allowedGroups, scope: 'Rewind' };
}

/**
 * `app` is the app the command acts on (the one it names; a cancel's incident's app). `groupsOf` is
 * only asked when the user is not allowed by id and the list names groups (a Slack API call); its
 * failure refuses the command.
 */
export async function authorizeSlack(
  config: SlackChatOpsConfig,
  command: ChatCommand,
  app: AppRef | undefined,
  userId: string,
  groupsOf: ((userId: string) => Promise<readonly string[]>) | undefined,
): Promise<SlackAuthorization> {
  if (command.kind === 'help') return { allowed: true, via: 'anyone', groups: [] };
  const list = allowListFor(config, app);
  if (list.users.includes(userId)) return { allowed: true, via: 'user', groups: [] };
  if (list.groups.length > 0 && groupsOf) {
    const groups = await groupsOf(userId);
    const matching = groups.filter((g) => list.groups.includes(g));
    if (matching.length > 0) return { allowed: true, via: 'group', groups: matching };
  }
  return {
    allowed: false,
    reason: `You are not allowed to run this command for ${list.scope}: ask an admin to add your Slack user or one of your user groups to chatops.slack (allowedUsers / allowedGroups).`,
  };
}
