// The GitHub channel of ChatOps: a `/rollback` line in an issue or pull-request comment. The
// webhook only picks the command out (`commentCommandFrom`) and enqueues one job per comment; the
// job acknowledges (a reaction), authorizes the commenter by their repository role (and the app's
// own list of people, when configured), runs the command and replies, then reports the outcome.
// Every step is idempotent by comment id: the reaction is GitHub's own (a second one answers 200),
// the reply carries a hidden marker found again before posting, and the incident is remembered per
// request, so a redelivery, a crash or a retry never reacts, replies or rolls back twice. Edits are
// ignored: only the comment as created is a command.
import type { ChatOpsConfig } from '../config/index.ts';
import { GITHUB_PERMISSIONS } from '../config/index.ts';
import { appLabel, parseAppRef, sameApp } from '../domain/app-ref.ts';
import { isTerminal, stageTimings } from '../domain/incident.ts';
import type { IncidentStore } from '../pipeline/incident-record.ts';
import type { Logger } from '../pipeline/ports.ts';
import type { GitHubCommentJob } from '../queue/jobs.ts';
import type { IssueCommentPayload } from '../server/github-events.ts';
import { type ChatCommand, findCommandLine, parseCommand } from './grammar.ts';
import { markdownLine, printable } from '../domain/outbound-text.ts';
import type { ChatOpsService } from './service.ts';

/** Hidden marker every ChatOps comment of Rewind carries: comments with it are never commands. */
export const CHATOPS_MARKER_PREFIX = '<!-- rewind:chatops';

export function replyMarker(commentId: number): string {
  return `${CHATOPS_MARKER_PREFIX} reply=${commentId} -->`;
}

export function resultMarker(commentId: number): string {
  return `${CHATOPS_MARKER_PREFIX} result=${commentId} -->`;
}

/** What the channel needs of GitHub (src/forge/github.ts implements it). */
export interface ChatForge {
  permissionOf(login: string): Promise<string>;
  isTeamMember(org: string, slug: string, login: string): Promise<boolean>;
  reactToComment(commentId: number, content: 'eyes'): Promise<void>;
  ensureComment(number: number, marker: string, body: string): Promise<unknown>;
}

export type IgnoredComment =
  'not-created' | 'bot' | 'rewind' | 'no-command' | 'incomplete-payload' | 'other-repository';

/**
 * The job for a comment that carries a command, or why it is not one. Rewind's own comments (its
 * marker), bots and edits are never commands.
 */
export function commentCommandFrom(
  payload: IssueCommentPayload,
  only?: { readonly owner?: string | undefined; readonly repo?: string | undefined },
): GitHubCommentJob | IgnoredComment {
  if (payload.action !== 'created') return 'not-created';
  const { comment, repository } = payload;
  if (comment.user?.type === 'Bot') return 'bot';
  if (comment.body.includes(CHATOPS_MARKER_PREFIX) || comment.body.includes('<!-- rewind:')) return 'rewind';
  const line = findCommandLine(comment.body);
  if (line === undefined) return 'no-command';
  if (comment.id === undefined || comment.user === undefined || repository === undefined)
    return 'incomplete-payload';
  const owner = repository.owner.login;
  const repo = repository.name;
  if (
    (only?.owner !== undefined && only.owner.toLowerCase() !== owner.toLowerCase()) ||
    (only?.repo !== undefined && only.repo.toLowerCase() !== repo.toLowerCase())
  )
    return 'other-repository';
  return {
    owner,
    repo,
    issueNumber: payload.issue.number,
    commentId: comment.id,
    commentUrl: comment.html_url ?? `https://github.com/${owner}/${repo}/issues/${payload.issue.number}`,
    login: comment.user.login,
    line,
  };
}

export interface CommentHandlerDeps {
  readonly forge: ChatForge;
  readonly service: ChatOpsService;
  readonly config: ChatOpsConfig;
  readonly requests: {
    done(requestId: string, step: 'reacted' | 'replied' | 'result'): Promise<boolean>;
    mark(requestId: string, step: 'reacted' | 'replied' | 'result'): Promise<void>;
  };
  readonly log: Logger;
}

export function requestIdOf(job: GitHubCommentJob): string {
  return `gh-${job.owner}-${job.repo}-${job.commentId}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');
}

const rank = (role: string): number =>
  GITHUB_PERMISSIONS.indexOf(role as (typeof GITHUB_PERMISSIONS)[number]);

/** Why the person may not run the command, or undefined when they may. */
async function refusal(
  job: GitHubCommentJob,
  command: ChatCommand,
  role: string,
  deps: CommentHandlerDeps,
): Promise<string | undefined> {
  const changes = command.kind !== 'help' && command.kind !== 'status';
  const needed = changes ? deps.config.github.minPermission : 'read';
  const have = Math.max(0, rank(role));
  if (have < rank(needed) || have === 0) {
    return `${markdownLine(job.login, 100)}, this needs at least **${needed}** permission on ${job.owner}/${job.repo} (you have **${markdownLine(role, 20)}**). Nothing was changed.`;
  }
  if (!changes) return undefined;
  const app = await deps.service.targetApp(command);
  if (!app) return undefined;
  const rule = deps.config.github.apps.find((entry) => {
    try {
      return sameApp(parseAppRef(entry.app, { namespace: 'flux-system' }), app);
    } catch {
      return false;
    }
  });
  if (!rule || (rule.logins.length === 0 && rule.teams.length === 0)) return undefined;
  if (rule.logins.some((l) => l.toLowerCase() === job.login.toLowerCase())) return undefined;
  for (const team of rule.teams) {
    const [org, slug] = team.split('/') as [string, string];
    if (await deps.forge.isTeamMember(org, slug, job.login)) return undefined;
  }
  return `${markdownLine(job.login, 100)}, only the people configured for ${appLabel(app)} (chatops.github.apps) may do that. Nothing was changed.`;
}

export type CommentOutcome =
  | { readonly kind: 'replied'; readonly follow?: string }
  | { readonly kind: 'already-replied'; readonly follow?: string };

/** Acknowledge, authorize, act, reply: each step skipped when it was done before for this comment. */
export async function handleCommentCommand(
  job: GitHubCommentJob,
  deps: CommentHandlerDeps,
): Promise<CommentOutcome> {
  const requestId = requestIdOf(job);
  const log = deps.log.child({ chatops: requestId });
  if (await deps.requests.done(requestId, 'replied')) return { kind: 'already-replied' };
  if (!(await deps.requests.done(requestId, 'reacted'))) {
    await deps.forge.reactToComment(job.commentId, 'eyes');
    await deps.requests.mark(requestId, 'reacted');
  }
  const parsed = parseCommand(job.line);
  let text: string;
  let follow: string | undefined;
  if (!parsed.ok) {
    text = `That is not a command Rewind understands. Nothing was changed.\n\n${parsed.error}`;
  } else {
    const role = await deps.forge.permissionOf(job.login);
    const refused = await refusal(job, parsed.command, role, deps);
    if (refused) {
      log.info({ login: job.login, role, command: parsed.command.kind }, 'chatops command refused');
      text = refused;
    } else {
      const admin =
        role === 'admin' || deps.config.admins.some((a) => a.toLowerCase() === job.login.toLowerCase());
      const reply = await deps.service.execute(
        parsed.command,
        { name: job.login, admin },
        { kind: 'github', where: job.commentUrl, requestId },
      );
      text = reply.text;
      if (parsed.command.kind === 'rollback') follow = reply.incidentId;
    }
  }
  const quoted = `> ${markdownLine(job.line, 300).replace(/`/g, "'")}`;
  await deps.forge.ensureComment(
    job.issueNumber,
    replyMarker(job.commentId),
    printable(`${quoted}\n\n${text}\n\n${replyMarker(job.commentId)}\n`),
  );
  await deps.requests.mark(requestId, 'replied');
  return { kind: 'replied', ...(follow ? { follow } : {}) };
}

/**
 * Once the incident a comment started has ended, says how on the issue (once). Returns false while
 * it has not ended yet (the caller looks again later).
 */
export async function reportOutcome(
  job: GitHubCommentJob,
  incidentId: string,
  deps: Pick<CommentHandlerDeps, 'forge' | 'requests'> & { readonly incidents: IncidentStore },
  giveUp: boolean,
): Promise<boolean> {
  const requestId = requestIdOf(job);
  if (await deps.requests.done(requestId, 'result')) return true;
  const record = await deps.incidents.get(incidentId);
  const last = record?.conditions.at(-1);
  if (record && last && !isTerminal(last.type) && !giveUp) return false;
  const pr = record?.details.pr;
  const lines = [
    last?.type === 'Converged'
      ? '### Rewind: rolled back, converged'
      : `### Rewind: ${last?.type ?? 'unknown'}`,
    '',
    `Incident \`${incidentId}\`${pr ? `, pull request [#${pr.number}](${pr.url})` : ''}.`,
  ];
  if (last)
    lines.push('', `**${last.type}** (${markdownLine(last.reason, 60)}): ${markdownLine(last.message, 600)}`);
  if (record && !isTerminal(last!.type))
    lines.push('', 'Still in progress; `/rollback status` shows where it is.');
  if (record) {
    const timings = Object.entries(stageTimings(record))
      .map(([stage, ms]) => `${stage} ${(ms / 1000).toFixed(1)}s`)
      .join(', ');
    if (timings) lines.push('', `Timings: ${timings}.`);
  }
  await deps.forge.ensureComment(
    job.issueNumber,
    resultMarker(job.commentId),
    `${lines.join('\n')}\n\n${resultMarker(job.commentId)}\n`,
  );
  await deps.requests.mark(requestId, 'result');
  return true;
}
