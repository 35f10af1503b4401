// The port between a ChatOps channel (Slack, GitHub comments) and what runs the commands: a channel
// authenticates and authorizes the person, parses the command, then hands it over here and relays
// the reply. Commands run the same pipeline as automatic rollbacks (the implementation is the
// ChatOps service); channels never touch the queue or the cluster themselves.
import type { AppRef } from '../domain/app-ref.ts';
import type { ChatCommand } from './grammar.ts';

/** Who asked, as the channel proved it (a verified Slack request, a GitHub comment's author). */
export type ChatActor =
  | {
      readonly kind: 'slack';
      readonly userId: string;
      readonly userName: string;
      readonly teamId: string;
      /** The user groups that authorized the command, when groups were looked up. */
      readonly groups?: readonly string[];
    }
  | { readonly kind: 'github'; readonly login: string };

/** Where the command was given, for the PR body, the commit and the audit log. */
export type ChatChannel =
  | {
      readonly kind: 'slack';
      readonly teamId: string;
      readonly channelId: string;
      readonly channelName: string;
      /** Stable per request (from its unique response_url): a retry finds the incident it started. */
      readonly requestId: string;
    }
  | {
      readonly kind: 'github';
      readonly repository: string;
      readonly issue: number;
      readonly commentUrl?: string;
    };

export interface ChatCommandExecutor {
  /**
   * The app a command acts on, for the channel's per-app authorization: the app it names, or for
   * `cancel` the app of its incident (undefined when it names none, or the incident is unknown).
   */
  targetApp(command: ChatCommand): Promise<AppRef | undefined>;
  /**
   * Runs an authorized command and returns the reply text (markdown-ish: PR link, incident id,
   * outcome). A refusal the service decides (budget, paused, unknown app) is a reply, not a throw;
   * a throw means it could not run, and the channel says so without details.
   */
  execute(command: ChatCommand, actor: ChatActor, channel: ChatChannel): Promise<string>;
}
