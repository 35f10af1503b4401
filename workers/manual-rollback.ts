// `rewind rollback <app> [--to SHA] [--dry-run]`: the same pipeline as an automatic rollback, run in
// this process and followed to the end (no worker needed), with a human as the trigger. Input is
// validated before anything is recorded: unknown app, malformed SHA, SHA not in the history.
import { KubeCluster, loadKubeConfig } from '../src/cluster/kube.ts';
import type { RewindConfig } from '../src/config/index.ts';
import { appKey, appLabel, parseAppRef } from '../src/domain/app-ref.ts';
import { parseCommitSha } from '../src/domain/commit-sha.ts';
import { InvalidInputError, NotFoundError } from '../src/domain/errors.ts';
import { isTerminal, stageTimings } from '../src/domain/incident.ts';
import { tryParseRevision } from '../src/domain/revision.ts';
import { engineFor } from '../src/engines/registry.ts';
import { RollbackGit } from '../src/git/rollback-git.ts';
import { LAST_HEALTHY_ANNOTATION } from '../src/pipeline/detect.ts';
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

export interface ManualRollbackOptions {
  config: RewindConfig;
  app: string;
  to?: string;
  dryRun: boolean;
  requestedBy: string;
  log: Logger;
  print: (line: string) => void;
  env: Readonly<Record<string, string | undefined>>;
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

export async function manualRollback(options: ManualRollbackOptions): Promise<number> {
  const { config, print } = options;
  const app = parseAppRef(options.app, { engine: 'flux-kustomization', namespace: 'flux-system' });
  const to = options.to === undefined ? undefined : parseCommitSha(options.to, '--to');
  await assertRedisReachable(config.redis);
  const cluster = new KubeCluster(loadKubeConfig(config.kubernetes.kubeconfig));
  await cluster.ping();

  const engine = engineFor(app);
  const object = await cluster.get(engine.ref(app));
  if (!object) {
    throw new NotFoundError(
      `No ${engine.noun} ${app.namespace}/${app.name} in ${cluster.server}. List the apps with "${engine.listCommand}" and pass <namespace>/<name> (app/<namespace>/<name> for Argo CD).`,
    );
  }
  const bad = engine.attemptedRevision(object)?.sha;
  if (!bad)
    throw new InvalidInputError(`${appLabel(app)} has not reconciled a revision yet; nothing to roll back.`);
  const verdict = engine.assess(object);
  const good =
    to ??
    (verdict.goodRevision?.sha !== bad ? verdict.goodRevision?.sha : undefined) ??
    tryParseRevision(object.metadata?.annotations?.[LAST_HEALTHY_ANNOTATION] ?? '')?.sha;
  if (!good || good === bad) {
    throw new InvalidInputError(`No earlier good revision is known for ${appLabel(app)}; pass --to <sha>.`);
  }

  const workspace = gitWorkspaceFor(config, options.env);
  const git = new RollbackGit(workspace, config.git.author);
  const source = await engine.source(cluster, object);
  if (source.kind !== 'git') throw new InvalidInputError(source.message);
  const { url } = source;
  const untrusted = sourceTrust(config)(url);
  if (untrusted) throw new InvalidInputError(untrusted);
  await git.validateRange(url, parseCommitSha(good), parseCommitSha(bad));

  const redis = redisConnection(config.redis);
  try {
    const incidents = new RedisIncidentStore(redis, config.redis.prefix);
    // Each run is its own incident (a person may retry after a failure, or with another --to).
    const run = Date.now().toString(36);
    const incidentId = `inc-${appKey(app)}.${options.dryRun ? 'dryrun' : 'manual'}.${run}-${bad.slice(0, 12)}`
      .toLowerCase()
      .replace(/[^a-z0-9.-]/g, '-');
    let verifyJob: VerifyJob | undefined;
    const forgeFor = forgeFactory(config, options.env, options.log);
    const deps = {
      cluster,
      git,
      incidents,
      config,
      clock: systemClock,
      log: options.log,
      withLock: redisLock(redis, config.redis.prefix),
      trustSource: sourceTrust(config),
      ...(forgeFor ? { forgeFor } : {}),
    };
    const postResult = resultPoster(forgeFor);
    const verifyDeps = { ...deps, ...(postResult ? { postResult } : {}) };
    print(
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
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    }).catch(async (error: unknown) => {
      const record = await incidents.get(incidentId);
      if (record) for (const line of describeIncident(record)) print(line);
      throw error;
    });
    const record = await incidents.get(incidentId);
    if (record) for (const line of describeIncident(record)) print(line);
    const last = record?.conditions.at(-1);
    const ok = last?.type === 'Converged' || (options.dryRun && last?.reason === 'DryRun');
    if (last && !isTerminal(last.type)) print('  (not finished)');
    return ok ? 0 : 1;
  } finally {
    redis.disconnect();
  }
}
