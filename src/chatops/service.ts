// What a ChatOps command does, whatever channel it came from (GitHub comment, Slack): the channel
// authenticates and authorizes the person, this service acts and says what happened, in Markdown.
// A rollback is not run here: it is enqueued on the same queue as automatic ones (same locks, same
// pull request or push, same verification), with trigger 'chatops', so the budget applies unless
// an admin asked to override it. Expected refusals are replies, never exceptions.
import type { RewindConfig } from '../config/index.ts';
import { type AppRef, appKey, appLabel, appRefText, sameApp } from '../domain/app-ref.ts';
import { type CommitSha, parseCommitSha, shortSha } from '../domain/commit-sha.ts';
import { isRewindError } from '../domain/errors.ts';
import { isTerminal, seenFailing } from '../domain/incident.ts';
import type { EngineCluster } from '../engines/engine.ts';
import { engineFor } from '../engines/registry.ts';
import { lastHealthyOf } from '../pipeline/detect.ts';
import { PAUSED_ANNOTATION, isPausedByAnnotation } from '../pipeline/durable-ledger.ts';
import type { IncidentRecord, IncidentStore } from '../pipeline/incident-record.ts';
import { readGlobalPause } from '../pipeline/pause-switch.ts';
import type { Clock, Logger } from '../pipeline/ports.ts';
import type { RollbackJob } from '../queue/jobs.ts';
import { type ControlCluster, appObject, cancelIncident, setPaused } from './controls.ts';
import { type ChatCommand, USAGE, namedApp } from './grammar.ts';
import { requestedBy } from './requested-by.ts';
import { codeSpan, markdownLine, slackLine } from '../domain/outbound-text.ts';

export interface ChatActor {
  /**
   * The person as recorded: a GitHub login, or on Slack the verified user id (`slack:U…`, with the
   * self-chosen display name after it).
   */
  readonly name: string;
  /** May override the rollback budget (repository admin, or listed in chatops.admins). */
  readonly admin: boolean;
}

export interface ChatChannel {
  readonly kind: 'github' | 'slack';
  /** Where the person asked: the comment's URL, the Slack channel. */
  readonly where: string;
  /**
   * Stable per request (`gh-<repo>-<comment id>`): a redelivery, an edit or a retry of the same
   * request finds the incident the first one started instead of starting another.
   */
  readonly requestId: string;
}

export interface ChatReply {
  readonly text: string;
  /** The incident the command started or acted on, for the channel to follow. */
  readonly incidentId?: string;
}

export interface ChatOpsDeps {
  readonly config: RewindConfig;
  readonly cluster: EngineCluster & ControlCluster;
  readonly git: {
    commitsWithPrefix(url: string, prefix: string): Promise<CommitSha[]>;
    parentOf(url: string, commit: CommitSha): Promise<CommitSha | undefined>;
    latestChangeOf(url: string, commit: CommitSha, appPath: string): Promise<CommitSha | undefined>;
    validateRange(url: string, good: CommitSha, bad: CommitSha): Promise<void>;
  };
  readonly incidents: IncidentStore;
  readonly requests: {
    incidentFor(requestId: string): Promise<string | undefined>;
    claimIncident(requestId: string, incidentId: string): Promise<string>;
  };
  /** Adds the job to the rollback queue (job id = incident id, so adding twice is one job). */
  readonly enqueueRollback: (job: RollbackJob) => Promise<void>;
  readonly trustSource?: (url: string) => string | undefined;
  readonly clock: Clock;
  readonly log: Logger;
  /** Metrics, notifications and outcome Events of a cancel (see RecorderDeps.onTransition). */
  readonly onTransition?: (record: IncidentRecord) => Promise<void>;
}

const STATUS_ENDED = 5;

function code(text: string): string {
  return codeSpan(text, 200);
}

/** How a reply quotes untrusted text (reasons, messages, who asked) on each channel. */
type Quote = (text: string, maxChars: number) => string;
const QUOTE: Readonly<Record<ChatChannel['kind'], Quote>> = { github: markdownLine, slack: slackLine };

function prLink(record: IncidentRecord): string {
  const pr = record.details.pr;
  return pr ? ` [#${pr.number}](${pr.url})` : '';
}

function incidentLine(record: IncidentRecord, quote: Quote): string {
  const last = record.conditions.at(-1);
  return `- ${code(record.id)} ${appLabel(record.app)}: **${last?.type ?? '?'}** (${quote(last?.reason ?? '', 60)})${prLink(record)}, ${last?.at ?? ''}`;
}

export class ChatOpsService {
  constructor(private readonly deps: ChatOpsDeps) {}

  /** The app a command acts on, for per-app authorization (a cancel's is its incident's app). */
  async targetApp(command: ChatCommand): Promise<AppRef | undefined> {
    if (command.kind === 'cancel') return (await this.deps.incidents.get(command.incident))?.app;
    return namedApp(command);
  }

  async execute(command: ChatCommand, actor: ChatActor, channel: ChatChannel): Promise<ChatReply> {
    try {
      switch (command.kind) {
        case 'help':
          return { text: `Usage:\n${USAGE}` };
        case 'status':
          return await this.status(command.app, QUOTE[channel.kind]);
        case 'pause':
          return await this.pause(command.app, actor, channel, command.reason);
        case 'resume':
          return await this.resume(command.app);
        case 'cancel':
          return await this.cancel(command.incident, actor, channel);
        case 'rollback':
          return await this.rollback(command, actor, channel);
      }
    } catch (error) {
      // Known failures (git, cluster, forge) carry a message that says what to do; the rest is logged.
      if (isRewindError(error))
        return { text: `Rewind could not do that: ${QUOTE[channel.kind](error.message, 500)}` };
      throw error;
    }
  }

  private async rollback(
    command: Extract<ChatCommand, { kind: 'rollback' }>,
    actor: ChatActor,
    channel: ChatChannel,
  ): Promise<ChatReply> {
    const { deps } = this;
    const quote = QUOTE[channel.kind];
    if (command.force && !actor.admin) {
      return {
        text: '`--force` skips the rollback budget and is for admins only (repository admins, or `chatops.admins`). Nothing was changed; ask again without it.',
      };
    }
    // A request seen before (redelivered, edited, retried) is answered with what it started.
    const earlier = await deps.requests.incidentFor(channel.requestId);
    if (earlier) return this.started(earlier, 'This request already started');

    const app = command.app;
    let engine;
    try {
      engine = engineFor(app);
    } catch (error) {
      if (isRewindError(error))
        return { text: `Cannot roll back ${appLabel(app)}: ${quote(error.message, 300)}` };
      throw error;
    }
    const object = await deps.cluster.get(engine.ref(app));
    if (!object) {
      return {
        text: `There is no ${engine.noun} ${code(`${app.namespace}/${app.name}`)} in the cluster (\`${engine.listCommand}\` lists them). Nothing was changed.`,
      };
    }
    const bad = engine.attemptedRevision(object)?.sha;
    if (!bad)
      return { text: `${appLabel(app)} has not reconciled a revision yet; there is nothing to roll back.` };
    const source = await engine.source(deps.cluster, object);
    if (source.kind !== 'git')
      return { text: `Cannot roll back ${appLabel(app)}: ${quote(source.message, 300)}` };
    const untrusted = deps.trustSource?.(source.url);
    if (untrusted) return { text: `Cannot roll back ${appLabel(app)}: ${quote(untrusted, 300)}` };

    let good: CommitSha | undefined;
    let target = '';
    const verdict = engine.assess(object);
    const knownGood =
      (verdict.goodRevision?.sha !== bad ? verdict.goodRevision?.sha : undefined) ??
      lastHealthyOf(engine, object)?.sha;
    // A change after a revision Rewind saw failing is a fix forward: it is never the implicit target.
    let history: IncidentRecord[] | undefined;
    const pastIncidents = async (): Promise<IncidentRecord[]> =>
      (history ??= await deps.incidents.listForApp(app, 50));
    if (command.commit === undefined && verdict.state === 'failed' && knownGood && knownGood !== bad) {
      // Failing: back to the revision the engine (or Rewind) last saw healthy, as an automatic rollback would.
      good = knownGood;
    } else if (
      command.commit === undefined &&
      verdict.state === 'progressing' &&
      !seenFailing(await pastIncidents(), bad)
    ) {
      // A revision in flight that nobody saw failing may be a person's fix: not judged before it settles.
      return {
        text: `${appLabel(app)} is rolling out ${code(shortSha(parseCommitSha(bad)))} right now, and that change may be a fix. Nothing was changed. Ask again once it has settled, or name the commit to revert: \`/rollback ${appRefText(app)} <sha>\`.`,
      };
    } else if (command.commit === undefined) {
      // Otherwise "the latest change of the app": the newest commit that touched its files.
      const latest = await deps.git.latestChangeOf(source.url, parseCommitSha(bad), source.path);
      if (!latest)
        return { text: `No commit touched ${appLabel(app)}'s files; there is nothing to roll back.` };
      good = await deps.git.parentOf(source.url, latest);
      if (!good)
        return { text: `${code(latest)} is the first commit; there is nothing before it to go back to.` };
      const failed = seenFailing(await pastIncidents(), good);
      if (failed) {
        return {
          text: `The latest change of ${appLabel(app)}, ${code(shortSha(latest))}, came after ${code(shortSha(good))}, which Rewind saw failing (incident ${code(failed.id)}): it fixes forward, and reverting it would bring the failure back. Nothing was changed. To go back past both, name the failing commit: \`/rollback ${appRefText(app)} ${shortSha(good)}\`.`,
        };
      }
      target = ` (reverting its latest change ${code(shortSha(latest))})`;
    } else {
      const matches = await deps.git.commitsWithPrefix(source.url, command.commit);
      if (matches.length === 0)
        return {
          text: `No commit ${code(command.commit)} in the source of ${appLabel(app)}. Nothing was changed.`,
        };
      if (matches.length > 1) {
        return {
          text: `${code(command.commit)} is ambiguous in the source of ${appLabel(app)}: ${matches
            .slice(0, 5)
            .map((m) => code(m))
            .join(', ')}. Give more characters. Nothing was changed.`,
        };
      }
      const named = matches[0]!;
      await deps.git.validateRange(source.url, named, parseCommitSha(bad));
      good = await deps.git.parentOf(source.url, named);
      if (!good)
        return { text: `${code(named)} is the first commit; there is nothing before it to go back to.` };
      target = ` (back to just before ${code(shortSha(named))})`;
    }

    const requestKey = channel.requestId
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, 80);
    const candidate = `inc-${appKey(app)}.chatops.${requestKey}-${bad.slice(0, 12)}`
      .toLowerCase()
      .replace(/[^a-z0-9.-]/g, '-');
    const incidentId = await deps.requests.claimIncident(channel.requestId, candidate);
    if (incidentId !== candidate) return this.started(incidentId, 'This request already started');
    const by = requestedBy({
      who: `${actor.name} on ${channel.kind === 'github' ? 'GitHub' : 'Slack'}`,
      where: channel.where,
      ...(command.reason ? { why: command.reason } : {}),
    });
    await deps.enqueueRollback({
      incidentId,
      app,
      badRevision: bad,
      goodRevision: good,
      trigger: 'chatops',
      reason: 'ChatOpsRollback',
      message: `Rollback requested by ${by}`.slice(0, 2000),
      detectedAt: deps.clock.now().toISOString(),
      manual: true,
      dryRun: false,
      requestedBy: by,
      ...(command.force ? { overrideBudget: true } : {}),
    });
    deps.log.info({ incident: incidentId, app: appLabel(app), by }, 'chatops rollback enqueued');
    return {
      incidentId,
      text: `Rolling back **${appLabel(app)}** from ${code(shortSha(parseCommitSha(bad)))} to ${code(
        shortSha(good),
      )}${target}: incident ${code(incidentId)}${command.force ? ' (budget overridden by an admin)' : ''}. The revert goes through the usual pipeline; the outcome follows here.`,
    };
  }

  private async started(incidentId: string, lead: string): Promise<ChatReply> {
    const record = await this.deps.incidents.get(incidentId);
    const state = record ? ` (now **${record.conditions.at(-1)?.type ?? '?'}**${prLink(record)})` : '';
    return { incidentId, text: `${lead}: incident ${code(incidentId)}${state}. Nothing was done twice.` };
  }

  private async status(app: AppRef | undefined, quote: Quote): Promise<ChatReply> {
    const all = (await this.deps.incidents.list(200)).filter((r) => !app || sameApp(r.app, app));
    const open = all.filter((r) => !isTerminal(r.conditions.at(-1)!.type));
    const ended = all.filter((r) => isTerminal(r.conditions.at(-1)!.type)).slice(0, STATUS_ENDED);
    const pause = await readGlobalPause(this.deps.cluster, this.deps.config);
    const lines = [`### Rewind status${app ? ` of ${appLabel(app)}` : ''}`, ''];
    if (pause.paused)
      lines.push(`**Paused for every app**${pause.by ? ` by ${quote(pause.by, 200)}` : ''}.`, '');
    if (app) {
      const object = await appObject(this.deps.cluster, app);
      if (object && isPausedByAnnotation(object.metadata?.annotations))
        lines.push(`**${appLabel(app)} is paused.**`, '');
    }
    lines.push(
      '**Open incidents**',
      '',
      ...(open.length === 0 ? ['- none'] : open.map((r) => incidentLine(r, quote))),
    );
    lines.push(
      '',
      '**Last ended**',
      '',
      ...(ended.length === 0 ? ['- none'] : ended.map((r) => incidentLine(r, quote))),
    );
    return { text: lines.join('\n') };
  }

  private async pause(
    app: AppRef | undefined,
    actor: ChatActor,
    channel: ChatChannel,
    reason: string | undefined,
  ): Promise<ChatReply> {
    const by = requestedBy({ who: actor.name, where: channel.where, ...(reason ? { why: reason } : {}) });
    const outcome = await setPaused(this.deps, app, by);
    if (outcome.kind === 'no-such-app')
      return { text: `There is no ${code(appLabel(app!))} in the cluster. Nothing was changed.` };
    if (outcome.kind === 'app')
      return {
        text: `Automatic rollbacks of **${appLabel(app!)}** are paused (\`${PAUSED_ANNOTATION}=true\` on the app). \`/rollback resume ${app!.namespace}/${app!.name}\` restarts them.`,
      };
    const ref = outcome.configMap;
    return {
      text: `Automatic rollbacks of **every app** are paused (ConfigMap ${ref.namespace}/${ref.name}). \`/rollback resume\` restarts them.`,
    };
  }

  private async resume(app: AppRef | undefined): Promise<ChatReply> {
    const outcome = await setPaused(this.deps, app, null);
    if (outcome.kind === 'no-such-app')
      return { text: `There is no ${code(appLabel(app!))} in the cluster. Nothing was changed.` };
    if (outcome.kind === 'app') return { text: `Automatic rollbacks of **${appLabel(app!)}** are on again.` };
    return { text: 'Automatic rollbacks of every app are on again (apps paused one by one stay paused).' };
  }

  private async cancel(incidentId: string, actor: ChatActor, channel: ChatChannel): Promise<ChatReply> {
    const by = requestedBy({ who: actor.name, where: channel.where });
    const outcome = await cancelIncident(this.deps, incidentId, by);
    switch (outcome.kind) {
      case 'no-such-incident':
        return { text: `No incident ${code(incidentId)} (\`/rollback status\` lists them).` };
      case 'ended':
        return {
          incidentId,
          text: `Incident ${code(incidentId)} already ended: **${outcome.last.type}** (${QUOTE[channel.kind](outcome.last.reason, 60)}).`,
        };
      case 'pushed':
        return {
          incidentId,
          text: `Incident ${code(incidentId)} already pushed its revert (**${outcome.last.type}**${prLink(outcome.record)}); it cannot be cancelled. Close the pull request to stop it, or revert the revert.`,
        };
      case 'moved':
        return {
          incidentId,
          text: `Incident ${code(incidentId)} moved on while cancelling; \`/rollback status\` shows where it is.`,
        };
      case 'cancelled':
        return {
          incidentId,
          text: `Incident ${code(incidentId)} is cancelled (**Ignored**, Cancelled by ${QUOTE[channel.kind](by, 600)}).`,
        };
    }
  }
}
