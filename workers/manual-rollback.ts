// `rewind rollback <app> [--to SHA] [--dry-run]`: the same pipeline as an automatic rollback, run in
// this process and followed to the end (no worker needed), with a human as the trigger. Input is
// validated before anything is recorded: unknown app, malformed SHA, SHA not in the history. `--to`
// takes a short SHA, resolved against the app's Git source (an ambiguous one is refused). Each stage
// is reported as the incident moves, so a person is never left waiting in silence.
import { KubeCluster, loadKubeConfig } from '../src/cluster/kube.ts';
import type { RewindConfig } from '../src/config/index.ts';
import { appKey, appLabel, parseAppRef } from '../src/domain/app-ref.ts';
import {
  type CommitSha,
  parseCommitSha,
  parseShaPrefix,
  tryParseCommitSha,
} from '../src/domain/commit-sha.ts';
import { InvalidInputError, ShaNotInHistoryError, redact } from '../src/domain/errors.ts';
import { seenFailing, stageTimings } from '../src/domain/incident.ts';
import { engineFor, unknownAppError } from '../src/engines/registry.ts';
import { RollbackGit } from '../src/git/rollback-git.ts';
import { lastHealthyOf } from '../src/pipeline/detect.ts';
import type { IncidentRecord } from '../src/pipeline/incident-record.ts';
import { type Logger, systemClock } from '../src/pipeline/ports.ts';
import { runIncidentJob } from '../src/pipeline/incident-job.ts';
import { runRollback } from '../src/pipeline/rollback.ts';
import { runVerify } from '../src/pipeline/verify-job.ts';
import { assertRedisReachable, redisConnection } from '../src/queue/connection.ts';
import { RedisIncidentStore } from '../src/queue/incident-store.ts';
import type { VerifyJob } from '../src/queue/jobs.ts';
import { forgeFactory, gitWorkspaceFor, resultPoster, sourceTrust } from './runtime.ts';
import { redisLock } from '../src/queue/lock.ts';
import { configuredChannels } from '../src/notify/configured-channels.ts';
import { transitionAnnouncer } from '../src/notify/transition-announcer.ts';

export interface ManualRollbackOptions {
  config: RewindConfig;
  app: string;
  to?: string;
  dryRun: boolean;
  requestedBy: string;
  log: Logger;
  /** Each stage as the incident moves, and what the verifier waits for (stderr: stdout stays data). */
  progress: (line: string) => void;
  env: Readonly<Record<string, string | undefined>>;
}

export interface ManualRollbackResult {
  /** Converged, or (dry run) the revert was prepared. */
  readonly ok: boolean;
  readonly record: IncidentRecord | undefined;
  /** Dry run: the revert it would push, as `git show` prints it. */
  readonly diff?: string;
}

export function describeIncident(record: IncidentRecord): string[] {
  const lines = record.conditions.map((c) => `  ${c.at}  ${c.type.padEnd(18)} ${c.reason}: ${c.message}`);
  const t = stageTimings(record);
  lines.push(
    `  timings: ${
      Object.entries(t)
        .map(([k, ms]) => `${k} ${(ms / 1000).toFixed(2)}s`)
        .join(', ') || '-'
    }`,
  );
  return lines;
}

/** The one commit of the source that `prefix` names (`--to 4bc040b`), or an error that says why not. */
async function resolveTo(git: RollbackGit, url: string, prefix: string): Promise<CommitSha> {
  const matches = await git.commitsWithPrefix(url, prefix);
  if (matches.length === 0) throw new ShaNotInHistoryError(prefix, '--to');
  if (matches.length > 1) {
    throw new InvalidInputError(
      `--to ${prefix} is ambiguous in ${redact(url)}: it starts ${matches.length} commits (${matches.slice(0, 10).join(', ')}). Give more characters.`,
    );
  }
  return matches[0]!;
}

export async function manualRollback(options: ManualRollbackOptions): Promise<ManualRollbackResult> {
  const { config, progress } = options;
  const app = parseAppRef(options.app, { engine: 'flux-kustomization', namespace: 'flux-system' });
  const to = options.to === undefined ? undefined : parseShaPrefix(options.to, '--to');
  await assertRedisReachable(config.redis);
  const cluster = new KubeCluster(loadKubeConfig(config.kubernetes.kubeconfig));
  await cluster.ping();

  const engine = engineFor(app);
  const object = await cluster.get(engine.ref(app));
  if (!object) throw unknownAppError(options.app, app, cluster.server);
  const bad = engine.attemptedRevision(object)?.sha;
  if (!bad)
    throw new InvalidInputError(`${appLabel(app)} has not reconciled a revision yet; nothing to roll back.`);

  const workspace = gitWorkspaceFor(config, options.env);
  const git = new RollbackGit(workspace, config.git.author);
  const source = await engine.source(cluster, object);
  if (source.kind !== 'git') throw new InvalidInputError(source.message);
  const { url } = source;
  const untrusted = sourceTrust(config)(url);
  if (untrusted) throw new InvalidInputError(untrusted);

  const verdict = engine.assess(object);
  const good =
    (to === undefined ? undefined : await resolveTo(git, url, to)) ??
    (verdict.goodRevision?.sha !== bad ? verdict.goodRevision?.sha : undefined) ??
    lastHealthyOf(engine, object)?.sha;
  if (!good || good === bad) {
    throw new InvalidInputError(`No earlier good revision is known for ${appLabel(app)}; pass --to <sha>.`);
  }
  await git.validateRange(url, parseCommitSha(good), parseCommitSha(bad));

  const redis = redisConnection(config.redis);
  try {
    const incidents = new RedisIncidentStore(redis, config.redis.prefix, config.redis.incidentRetentionMs);
    if (
      to === undefined &&
      verdict.state === 'progressing' &&
      !seenFailing(await incidents.listForApp(app, 50), bad)
    ) {
      // A revision in flight that nobody saw failing may be a person's fix: not judged before it settles.
      throw new InvalidInputError(
        `${appLabel(app)} is rolling out ${bad.slice(0, 12)} right now, and that change may be a fix. Nothing was changed. Run this again once it has settled, or pass --to <sha> to name the revision to go back to.`,
      );
    }
    // Each run is its own incident (a person may retry after a failure, or with another --to).
    const run = Date.now().toString(36);
    const incidentId = `inc-${appKey(app)}.${options.dryRun ? 'dryrun' : 'manual'}.${run}-${bad.slice(0, 12)}`
      .toLowerCase()
      .replace(/[^a-z0-9.-]/g, '-');
    let verifyJob: VerifyJob | undefined;
    const forgeFor = forgeFactory(config, options.env, options.log);
    const stages = stageReporter(progress);
    // The same hook as the workers': notifications, and an Event for however the run ends.
    const announce = transitionAnnouncer({
      redis,
      prefix: config.redis.prefix,
      channels: configuredChannels(config.notifications, options.env),
      cluster,
      timeoutMs: config.notifications.timeoutMs,
      log: options.log,
    });
    const deps = {
      cluster,
      git,
      incidents,
      config,
      clock: systemClock,
      log: options.log,
      withLock: redisLock(redis, config.redis.prefix),
      trustSource: sourceTrust(config),
      onTransition: async (record: IncidentRecord) => {
        await stages.onTransition(record);
        await announce(record);
      },
      ...(forgeFor ? { forgeFor } : {}),
    };
    const postResult = resultPoster(forgeFor, redisLock(redis, config.redis.prefix, { leaseMs: 30_000 }));
    const verifyDeps = { ...deps, ...(postResult ? { postResult } : {}) };
    progress(
      `rolling back ${appLabel(app)} from ${bad.slice(0, 12)} to ${good.slice(0, 12)}${options.dryRun ? ' (dry run)' : ''}`,
    );
    // Nothing retries this run: whatever stops it ends the incident, so `rewind status` never shows
    // it waiting in a middle condition.
    await runIncidentJob(incidentId, deps, { retried: false }, async () => {
      const result = await runRollback(
        {
          incidentId,
          app,
          badRevision: bad,
          goodRevision: good,
          trigger: 'manual',
          reason: 'ManualRollback',
          message: `Rollback requested by ${options.requestedBy}.`,
          detectedAt: new Date().toISOString(),
          manual: true,
          dryRun: options.dryRun,
          requestedBy: options.requestedBy.slice(0, 100),
        },
        {
          ...deps,
          enqueueVerify: async (job) => {
            verifyJob = job;
          },
        },
      );
      if (result.kind === 'handed-to-verifier' && verifyJob) {
        for (;;) {
          const outcome = await runVerify(verifyJob, verifyDeps);
          if (outcome.kind !== 'check-again') break;
          stages.waiting(outcome.message);
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    });
    const record = await incidents.get(incidentId);
    const last = record?.conditions.at(-1);
    const ok = last?.type === 'Converged' || (options.dryRun && last?.reason === 'DryRun');
    const prepared = options.dryRun ? tryParseCommitSha(record?.details.revert?.sha ?? '') : undefined;
    return { ok, record, ...(prepared ? { diff: await git.show(url, prepared) } : {}) };
  } finally {
    redis.disconnect();
  }
}

/**
 * Reports each condition once, as it is recorded, with the time since the run started (like
 * `argocd app wait`); and, while the verifier waits, what it waits for whenever that changes (at most
 * every two seconds).
 */
function stageReporter(progress: (line: string) => void): {
  onTransition: (record: IncidentRecord) => Promise<void>;
  waiting: (message: string) => void;
} {
  const started = Date.now();
  const elapsed = (at: number): string => `${((at - started) / 1000).toFixed(1).padStart(6)}s`;
  let shown = 0;
  let lastWait = { message: '', at: 0 };
  return {
    onTransition: async (record) => {
      for (const c of record.conditions.slice(shown))
        progress(`${elapsed(Date.parse(c.at))}  ${c.type.padEnd(18)} ${c.reason}: ${c.message}`);
      shown = Math.max(shown, record.conditions.length);
    },
    waiting: (message) => {
      const now = Date.now();
      if (message === lastWait.message || now - lastWait.at < 2000) return;
      lastWait = { message, at: now };
      progress(`${elapsed(now)}  waiting: ${message}`);
    },
  };
}
