// Composition root: builds every adapter from the validated config, checks that Redis and the
// cluster answer (clear errors at start, nothing half-started), and runs the roles asked for:
// detector, rollback worker, verifier. `rewind start` runs all three in one process.
import { DelayedError, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import path from 'node:path';
import { KubeCluster, loadKubeConfig } from '../src/cluster/kube.ts';
import { KubeLeaseLock, LeaderElector, defaultIdentity } from '../src/cluster/leader-election.ts';
import type { RewindConfig } from '../src/config/index.ts';
import { redact } from '../src/domain/errors.ts';
import { GitWorkspace, type MirrorLock } from '../src/git/workspace.ts';
import { assertRemoteAllowed, normaliseHost, type RemotePolicy } from '../src/git/remote-url.ts';
import { RollbackGit } from '../src/git/rollback-git.ts';
import type { GitProcessObserver } from '../src/git/repo.ts';
import { runRollback, type RollbackResult } from '../src/pipeline/rollback.ts';
import { mirrorWarmer, refHeadReader } from '../src/pipeline/warm-mirror.ts';
import { runVerify, type VerifyJobResult } from '../src/pipeline/verify-job.ts';
import { type Clock, type Logger, systemClock } from '../src/pipeline/ports.ts';
import { assertRedisReachable, redisConnection } from '../src/queue/connection.ts';
import { RedisIncidentStore } from '../src/queue/incident-store.ts';
import { RedisCulpritClaims } from '../src/queue/culprit-claims.ts';
import { redisLock } from '../src/queue/lock.ts';
import {
  QUEUE_NAMES,
  type RollbackJob,
  type VerifyJob,
  jobOptions,
  rollbackJobSchema,
  verifyJobId,
  rollbackJobId,
  verifyJobSchema,
} from '../src/queue/jobs.ts';
import { DEFAULT_INACTIVITY_MS, DEFAULT_RESYNC_MS, Detector } from './detector.ts';
import { alertTrigger } from './alert-trigger.ts';
import type { RaiseAlert } from '../src/pipeline/alert-evidence.ts';
import { type ChatOpsRuntime, startChatOps } from './chatops.ts';
import { GitHubForge } from '../src/forge/github.ts';
import type { ForgeRequestObserver, GitHubAuth } from '../src/forge/github-auth.ts';
import { RewindMetrics } from '../src/server/metrics.ts';
import { closeRedis } from '../src/server/shutdown.ts';
import type { ProbeChecks } from '../src/server/runtime-port.ts';
import { renderResultComment, resultCommentMarker } from '../src/forge/pr-body.ts';
import { pullRequestTexts } from '../src/forge/texts.ts';
import { parseDuration } from '../src/config/index.ts';
import { InvalidInputError, TerminalError } from '../src/domain/errors.ts';
import { isTerminal, stageTimings } from '../src/domain/incident.ts';
import { parseCommitSha } from '../src/domain/commit-sha.ts';
import { IncidentRecorder, type RecorderDeps } from '../src/pipeline/incident-recorder.ts';
import { isFatal, runIncidentJob } from '../src/pipeline/incident-job.ts';
import type { IncidentRecord } from '../src/pipeline/incident-record.ts';
import type { ForgeDeps } from '../src/pipeline/pull-request.ts';
import type { VerificationResult } from '../src/pipeline/verify-job.ts';
import { configuredChannels } from '../src/notify/configured-channels.ts';
import { transitionAnnouncer } from '../src/notify/transition-announcer.ts';

export type Role = 'detector' | 'rollback' | 'verifier';
export const ROLES: readonly Role[] = ['detector', 'rollback', 'verifier'];

export interface RuntimeOptions {
  config: RewindConfig;
  roles: readonly Role[];
  log: Logger;
  env: Readonly<Record<string, string | undefined>>;
  clock?: Clock;
  /** BullMQ lock duration (default: the config's worker.lockDuration, 30 s); a crashed worker's job
   * is taken over after about this long. */
  lockDurationMs?: number;
  /** How often the verifier checks an incident again. */
  verifyIntervalMs?: number;
  concurrency?: number;
  detector?: { debounceMs?: number; resyncMs?: number; inactivityMs?: number; reofferMs?: number };
  /** How often a ChatOps comment's rollback is looked at until it can report the outcome. */
  chatopsFollowIntervalMs?: number;
  /** GitHub client tuning (tests against the sandbox forge shrink waits). */
  github?: { minWriteGapMs?: number; retryBaseDelayMs?: number; retryAfterBaseMs?: number };
  /** Told about every git process the rollback worker runs (benchmarks profile with it). */
  gitObserver?: GitProcessObserver;
}

export interface Runtime {
  /** The running detector: in this process only while it leads (leaderElection), else always. */
  readonly detector: Detector | undefined;
  /** `/rollback` comments (forge github): the webhook hands them over here. */
  readonly chatops: ChatOpsRuntime;
  /** Wakes an incident waiting on its pull request (a webhook said it changed). */
  wake(incidentId: string): Promise<boolean>;
  /** A person merged a pull request Rewind was refused: the incident goes on to reconcile and verify. */
  followMerged(incidentId: string): Promise<boolean>;
  /** An alert or Flux event named an app (POST /webhooks/alertmanager, /webhooks/flux). */
  readonly raiseAlert: RaiseAlert;
  readonly incidents: RedisIncidentStore;
  readonly rollbackQueue: Queue<RollbackJob>;
  readonly verifyQueue: Queue<VerifyJob>;
  /** What /healthz and /readyz check. */
  readonly probes: ProbeChecks;
  /** This runtime's Prometheus registry and the hooks that feed it. */
  readonly metrics: RewindMetrics;
  /** Drains: stops taking jobs, lets running ones finish, closes connections. */
  close(): Promise<void>;
}

/**
 * Fault injection for the crash-safety tests: REWIND_CRASH_AT=after-push | before-reconcile |
 * after-branch-push | after-pr-created | after-pr | after-merge | before-result-comment kills the process there.
 */
function crashPointFrom(env: RuntimeOptions['env']): ((name: string) => void) | undefined {
  const at = env['REWIND_CRASH_AT'];
  if (!at) return undefined;
  // REWIND_CRASH_SIGNAL=SIGTERM: a graceful stop asked at that point (the fault campaign).
  const signal = env['REWIND_CRASH_SIGNAL'] === 'SIGTERM' ? 'SIGTERM' : 'SIGKILL';
  return (name) => {
    if (name === at) process.kill(process.pid, signal);
  };
}

/**
 * Errors that retrying cannot fix end the incident (with the error's message) and the job at once:
 * BullMQ's UnrecoverableError skips the remaining attempts and their backoff.
 */
async function unrecoverableOnTerminal<T>(
  incidentId: string,
  deps: RecorderDeps,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await runIncidentJob(incidentId, deps, { retried: true }, fn);
  } catch (error) {
    if (isFatal(error)) throw new UnrecoverableError(redact(error.message));
    throw error;
  }
}

/**
 * The git workspace as configured: mirrors under git.workdir, token from the named env var; with a
 * mirror lock shared by the processes using the same workdir.
 */
export function gitWorkspaceFor(
  config: RewindConfig,
  env: RuntimeOptions['env'],
  mirrorLock?: MirrorLock,
  observer?: GitProcessObserver,
): GitWorkspace {
  // Without git credentials of its own, Git uses the forge's token (GitHub accepts it for https
  // pushes as x-access-token); App installation tokens are not passed to git yet.
  const forgeTokenEnv =
    config.forge.type === 'github' && !config.forge.app ? config.forge.tokenEnv : undefined;
  const tokenEnv = config.git.credentials?.tokenEnv ?? forgeTokenEnv;
  const token = tokenEnv ? env[tokenEnv] : undefined;
  const username = config.git.credentials?.username;
  return new GitWorkspace({
    root: path.resolve(config.git.workdir),
    author: config.git.author,
    ...remotePolicy(config),
    ...(token ? { credentials: { token, ...(username ? { username } : {}) } } : {}),
    ...(observer ? { observer } : {}),
    ...(mirrorLock ? { mirrorLock } : {}),
  });
}

/**
 * The forge for a GitOps source, or undefined for direct-push. Owner and repository come from the
 * config, else from a github.com-style source URL. One client per repository, shared by jobs.
 */
/** GitHub clients for one repository each, authenticated as configured (token or App). */
export function githubClients(
  config: RewindConfig,
  env: RuntimeOptions['env'],
  log: Logger,
  tuning: RuntimeOptions['github'] = {},
  onRequest?: ForgeRequestObserver,
): ((owner: string, repo: string) => GitHubForge) | undefined {
  const forge = config.forge;
  if (forge.type !== 'github') return undefined;
  const auth: GitHubAuth = forge.app
    ? {
        type: 'app',
        appId: forge.app.appId,
        privateKey: env[forge.app.privateKeyEnv] ?? '',
        ...(forge.app.installationId ? { installationId: forge.app.installationId } : {}),
      }
    : { type: 'token', token: env[forge.tokenEnv ?? 'GITHUB_TOKEN'] ?? '' };
  const cache = new Map<string, GitHubForge>();
  return (owner, repo) => {
    const key = `${owner}/${repo}`;
    let client = cache.get(key);
    if (!client) {
      client = new GitHubForge({
        baseUrl: forge.apiUrl,
        owner,
        repo,
        auth,
        log: log.child({ forge: key }),
        userAgent: 'rewind-gitops-rollback',
        minWriteGapMs: tuning.minWriteGapMs ?? parseDuration(forge.minWriteGap) ?? 1000,
        ...(tuning.retryBaseDelayMs === undefined ? {} : { retry: { baseDelayMs: tuning.retryBaseDelayMs } }),
        ...(tuning.retryAfterBaseMs === undefined
          ? {}
          : { throttle: { retryAfterBaseMs: tuning.retryAfterBaseMs } }),
        ...(onRequest ? { onRequest } : {}),
      });
      cache.set(key, client);
    }
    return client;
  };
}

/**
 * The forge for a GitOps source, or undefined for direct-push. Owner and repository come from the
 * config, else from a github.com-style source URL. One client per repository, shared by jobs.
 */
export function forgeFactory(
  config: RewindConfig,
  env: RuntimeOptions['env'],
  log: Logger,
  tuning: RuntimeOptions['github'] = {},
  crashPoint?: (name: string) => void,
  onRequest?: ForgeRequestObserver,
): ((sourceUrl: string) => ForgeDeps) | undefined {
  const forge = config.forge;
  const clients = githubClients(config, env, log, tuning, onRequest);
  if (forge.type !== 'github' || !clients) return undefined;
  const cache = new Map<string, ForgeDeps>();
  return (sourceUrl) => {
    const parsed = /[/:]([^/:]+)\/([^/]+?)(?:\.git)?\/?$/.exec(sourceUrl);
    const owner = forge.owner ?? parsed?.[1];
    const repo = forge.repo ?? parsed?.[2];
    if (!owner || !repo) {
      throw new TerminalError(
        `Cannot tell the GitHub repository of ${redact(sourceUrl)}: set forge.owner and forge.repo.`,
      );
    }
    const key = `${owner}/${repo}`;
    let deps = cache.get(key);
    if (!deps) {
      deps = {
        forge: clients(owner, repo),
        texts: pullRequestTexts,
        mergeMethod: forge.mergeMethod,
        labels: forge.labels,
        teamReviewers: forge.teamReviewers,
        log: log.child({ forge: key }),
        ...(crashPoint ? { crashPoint } : {}),
      };
      cache.set(key, deps);
    }
    return deps;
  };
}

/**
 * Which Git remotes Rewind may use: credentials (git token, forge token) are only ever used with
 * the configured hosts, so a GitRepository pointing elsewhere cannot collect them; with no
 * credentials at all and an empty git.allowedHosts, any host. Local repositories only with
 * git.allowFileRemotes.
 */
export function remotePolicy(config: RewindConfig): RemotePolicy {
  const hosts = new Set(config.git.allowedHosts.map(normaliseHost));
  if (config.forge.type === 'github') {
    const api = new URL(config.forge.apiUrl).hostname.toLowerCase();
    hosts.add(normaliseHost(api === 'api.github.com' ? 'github.com' : api));
  }
  const hasCredentials = Boolean(config.git.credentials?.tokenEnv) || config.forge.type === 'github';
  return {
    allowedProtocols: config.git.allowFileRemotes ? ['https', 'ssh', 'file'] : ['https', 'ssh'],
    ...(hosts.size === 0 && !hasCredentials ? {} : { allowedHosts: [...hosts] }),
  };
}

/** Why Rewind must not act on a GitOps source (the remote policy's refusal), or undefined. */
export function sourceTrust(config: RewindConfig): (url: string) => string | undefined {
  const policy = remotePolicy(config);
  return (url) => {
    try {
      assertRemoteAllowed(url, policy);
      return undefined;
    } catch (error) {
      if (error instanceof InvalidInputError) return error.message;
      throw error;
    }
  };
}

/**
 * Posts an incident's outcome on its pull request, once. `ensureComment` looks for the comment's
 * marker before creating it, which a crash and retry respect; two posters at the same moment (a job
 * whose lock lapsed on a starved event loop is run again while the first run still posts) would both
 * find nothing and both create, so the look-then-create runs under a Redis lock per incident.
 */
export function resultPoster(
  forgeFor: ((url: string) => ForgeDeps) | undefined,
  withLock: <T>(key: string, fn: () => Promise<T>) => Promise<T>,
) {
  if (!forgeFor) return undefined;
  return async (record: IncidentRecord, result: VerificationResult): Promise<void> => {
    const url = record.details.source?.url;
    const pr = record.details.pr;
    if (!url || !pr) return;
    // One result per pull request: the incident that opened it reports; the incidents that joined
    // it (other apps of the same culprit, possibly hundreds) are in Rewind's status, not comments.
    const joined = record.details.revert?.kind === 'joined' || record.details.revert?.kind === 'shared';
    if (joined) return;
    const stages = Object.entries(stageTimings(record)).map(([stage, ms]) => ({ stage, seconds: ms / 1000 }));
    const body = renderResultComment(
      result.outcome === 'converged'
        ? { outcome: 'converged', incidentId: record.id, stages, warnings: result.warnings }
        : {
            outcome: 'failed',
            incidentId: record.id,
            reason: result.reason,
            evidence: result.evidence,
            stages,
          },
    );
    await withLock(`result-comment:${record.id}`, () =>
      forgeFor(url).forge.ensureComment(pr.number, resultCommentMarker(record.id), body),
    );
  };
}

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { config, log } = options;
  const clock = options.clock ?? systemClock;
  await assertRedisReachable(config.redis);
  const kubeConfig = loadKubeConfig(config.kubernetes.kubeconfig);
  const cluster = new KubeCluster(kubeConfig);
  await cluster.ping();

  const connections: Redis[] = [];
  const connection = (): Redis => {
    const c = redisConnection(config.redis);
    c.on('error', (error) => log.warn({ err: redact(String(error)) }, 'redis connection error'));
    connections.push(c);
    return c;
  };
  const prefix = config.redis.prefix;
  const incidents = new RedisIncidentStore(connection(), prefix, config.redis.incidentRetentionMs);
  const rollbackQueue = new Queue<RollbackJob>(QUEUE_NAMES.rollback, { connection: connection(), prefix });
  const verifyQueue = new Queue<VerifyJob>(QUEUE_NAMES.verify, { connection: connection(), prefix });
  let detector: Detector | undefined;
  const metrics = new RewindMetrics({
    queues: () => [rollbackQueue, verifyQueue],
    informers: () => detector?.informerStats(),
    detectorEnqueued: () => detector?.stats.enqueued,
    recentIncidents: () => incidents.list(500),
  });
  const probes = probeChecks(config, options, connection(), cluster);
  const onGitProcess: GitProcessObserver = (event) => {
    metrics.gitCommand({ command: event.command, ok: event.ok, seconds: event.ms / 1000 });
    options.gitObserver?.(event);
  };
  const onRequest: ForgeRequestObserver = (request) => metrics.forgeRequest(request);

  // Replicas may share one workdir: mirror operations take a Redis lock, renewed while held (a big
  // first clone takes minutes), that a killed holder gives up within its lease.
  // Locks send only SET NX, PEXPIRE and EVAL (nothing blocking), so they share one connection.
  const lockRedis = connection();
  const mirrorLock = redisLock(lockRedis, prefix, { leaseMs: 30_000, waitMs: 30 * 60_000 });
  const workspace = gitWorkspaceFor(config, options.env, mirrorLock, onGitProcess);
  const git = new RollbackGit(workspace, config.git.author);
  const crashPoint = crashPointFrom(options.env);
  const forgeFor = forgeFactory(config, options.env, log, options.github, crashPoint, onRequest);
  const postResult = resultPoster(
    forgeFor,
    redisLock(lockRedis, prefix, { leaseMs: 30_000, waitMs: 5 * 60_000 }),
  );
  const trustSource = sourceTrust(config);
  // Metrics, notifications out and outcome Events: one hook on every recorded transition (called
  // once per condition saved, so an outcome is counted once however often its job is retried).
  const announce = transitionAnnouncer({
    redis: connection(),
    prefix,
    channels: configuredChannels(config.notifications, options.env),
    cluster,
    timeoutMs: config.notifications.timeoutMs,
    log,
  });
  const onTransition = async (record: IncidentRecord): Promise<void> => {
    metrics.incidentTransition(record);
    await announce(record);
  };
  const recorderDeps: RecorderDeps = { incidents, clock, log, onTransition };
  // A worker killed inside the lock must not hold it much longer than its job's own BullMQ lock:
  // the worker that takes the job over needs it.
  const lockDuration = options.lockDurationMs ?? config.worker.lockDurationMs;
  const withLock = redisLock(connection(), prefix, { leaseMs: lockDuration });
  const culpritClaims = new RedisCulpritClaims(connection(), prefix);
  const wakeRedis = connection();
  const wakeKey = (incidentId: string): string => `${prefix}:wake:${incidentId}`;
  const pollMs =
    config.forge.type === 'github' ? (parseDuration(config.forge.pollInterval) ?? 30_000) : 30_000;
  const workers: Worker[] = [];
  const workerOptions = {
    prefix,
    lockDuration,
    stalledInterval: Math.max(500, Math.floor(lockDuration / 2)),
    maxStalledCount: 3,
    concurrency: options.concurrency ?? config.worker.concurrency,
  };

  if (options.roles.includes('rollback')) {
    workers.push(
      new Worker<RollbackJob, RollbackResult>(
        QUEUE_NAMES.rollback,
        async (job, token) => {
          const data = rollbackJobSchema.parse(job.data);
          const result = await unrecoverableOnTerminal(data.incidentId, recorderDeps, () =>
            runRollback(data, {
              cluster,
              git,
              incidents,
              config,
              clock,
              log: log.child({ job: job.id }),
              ...(crashPoint ? { crashPoint } : {}),
              ...(forgeFor ? { forgeFor } : {}),
              withLock,
              culpritClaims,
              trustSource,
              onTransition,
              enqueueVerify: async (verify) => {
                await verifyQueue.add(QUEUE_NAMES.verify, verify, jobOptions(verifyJobId(verify.incidentId)));
              },
            }),
          );
          if (result.kind === 'waiting-for-merge') {
            // Look at the pull request again later; a webhook about it wakes the job earlier. A
            // webhook that came while this run was still going left a flag: look again at once.
            const woken = (await wakeRedis.del(wakeKey(data.incidentId))) > 0;
            await job.moveToDelayed(Date.now() + (woken ? 0 : pollMs), token);
            throw new DelayedError();
          }
          return result;
        },
        { ...workerOptions, connection: connection() },
      ),
    );
  }
  if (options.roles.includes('verifier')) {
    const interval = options.verifyIntervalMs ?? 1000;
    workers.push(
      new Worker<VerifyJob, VerifyJobResult>(
        QUEUE_NAMES.verify,
        async (job, token) => {
          const data = verifyJobSchema.parse(job.data);
          const result = await unrecoverableOnTerminal(data.incidentId, recorderDeps, () =>
            runVerify(data, {
              cluster,
              incidents,
              clock,
              log: log.child({ job: job.id }),
              ...(postResult ? { postResult } : {}),
              onTransition,
              contains: async (record, ancestor, descendant) =>
                record.details.source
                  ? git.isAncestor(
                      record.details.source.url,
                      parseCommitSha(ancestor),
                      parseCommitSha(descendant),
                    )
                  : false,
              ...(crashPoint ? { crashPoint } : {}),
            }),
          );
          if (result.kind === 'check-again') {
            // "Check again later" as a delayed job, not a busy worker (BullMQ's DelayedError pattern).
            await job.moveToDelayed(Date.now() + interval, token);
            throw new DelayedError();
          }
          return result;
        },
        { ...workerOptions, connection: connection() },
      ),
    );
  }
  for (const worker of workers) {
    worker.on('failed', (job, error) => {
      log.warn(
        { job: job?.id, attempts: job?.attemptsMade, err: redact(error.message) },
        'job failed; will retry if attempts remain',
      );
      // Out of attempts: the incident must not hang in a middle state with no reason given.
      const incidentId = (job?.data as { incidentId?: string } | undefined)?.incidentId;
      if (job && incidentId) {
        // Final when the queue will not try again (attempts used up, unrecoverable, or stalled too often).
        void job
          .getState()
          .then((state) => (state === 'failed' ? markFailed(incidentId, error) : undefined))
          .catch((e: unknown) =>
            log.error({ incident: incidentId, err: redact(String(e)) }, 'could not record the failure'),
          );
      }
    });
    worker.on('error', (error) => log.error({ err: redact(String(error)) }, 'worker error'));
  }

  async function markFailed(incidentId: string, error: Error): Promise<void> {
    const record = await incidents.get(incidentId);
    if (!record) return;
    const recorder = new IncidentRecorder(record, recorderDeps);
    if (isTerminal(recorder.condition)) return;
    await recorder.to(
      'Failed',
      'JobFailed',
      `Rewind gave up after repeated errors: ${redact(error.message)}. Fix the cause, then run "rewind rollback ${record.app.namespace}/${record.app.name}" or revert by hand.`,
    );
  }

  const clients = githubClients(config, options.env, log, options.github, onRequest);
  const chatops = startChatOps({
    config,
    cluster,
    git,
    incidents,
    rollbackQueue,
    clients,
    connection,
    trustSource,
    onTransition,
    clock,
    log,
    work: options.roles.includes('rollback'),
    workerOptions,
    ...(options.chatopsFollowIntervalMs === undefined
      ? {}
      : { followIntervalMs: options.chatopsFollowIntervalMs }),
  });

  let elector: LeaderElector | undefined;
  async function close(): Promise<void> {
    // The detector stops before the lease is released, so the next leader never overlaps with it.
    await elector?.stop();
    detector?.stop();
    await chatops?.close();
    await Promise.all(workers.map((w) => w.close()));
    await rollbackQueue.close();
    await verifyQueue.close();
    await Promise.all(connections.map(closeRedis));
  }
  const newDetector = (): Detector =>
    new Detector({
      config,
      kubeConfig,
      cluster,
      rollbackQueue,
      log: log.child({ role: 'detector' }),
      clock,
      restartThreshold: config.detection.restartThreshold,
      incidents,
      resolveRef: refHeadReader({ cluster, git, trustSource }),
      // In the same process as the rollback role: its mirror fetches each new revision at once.
      ...(options.roles.includes('rollback')
        ? { onAppChange: mirrorWarmer({ cluster, git, trustSource, log: log.child({ role: 'detector' }) }) }
        : {}),
      ...(options.detector ?? {}),
    });
  const election = config.leaderElection;
  if (options.roles.includes('detector') && election.enabled) {
    // Only the detector is elected; rollback and verify jobs are shared through BullMQ by every replica.
    elector = new LeaderElector({
      lock: new KubeLeaseLock(kubeConfig, election.namespace, election.name),
      identity: election.identity ?? defaultIdentity(options.env),
      leaseDurationMs: election.leaseDurationMs,
      renewDeadlineMs: election.renewDeadlineMs,
      retryPeriodMs: election.retryPeriodMs,
      log: log.child({ role: 'leader-election' }),
      onStartedLeading: async () => {
        const started = newDetector();
        detector = started;
        await started.start();
        // Leadership lost while it was starting: informers started after that stop must go too.
        if (detector !== started) started.stop();
      },
      onStoppedLeading: () => {
        detector?.stop();
        detector = undefined;
      },
      onNewLeader: (identity) => log.info({ leader: identity || '(none)' }, 'detector leader'),
    });
  }
  // A detector (or an election) that cannot start leaves nothing running behind it.
  const startDetector = elector
    ? elector.start()
    : options.roles.includes('detector')
      ? (detector = newDetector()).start()
      : Promise.resolve();
  await startDetector.catch(async (error: unknown) => {
    await close();
    throw error;
  });
  log.info({ roles: options.roles, cluster: cluster.server, prefix }, 'rewind started');

  /** Runs an incident's delayed rollback job now, or has a running one look again at once. */
  async function wake(incidentId: string): Promise<boolean> {
    const job = await rollbackQueue.getJob(rollbackJobId(incidentId));
    if (!job) return false;
    if (await job.isDelayed()) {
      await job.promote();
      return true;
    }
    // Running right now: leave a flag so it does not go back to sleep for a whole poll interval,
    // then look again: it may have gone to sleep between our two looks, before seeing the flag.
    await wakeRedis.set(wakeKey(incidentId), '1', 'EX', 3600);
    if (await job.isDelayed()) await job.promote().catch(() => undefined);
    return true;
  }

  return {
    get detector() {
      return detector;
    },
    chatops,
    wake,
    raiseAlert: alertTrigger({ config, cluster, incidents, rollbackQueue, wake, clock, log }),
    async followMerged(incidentId) {
      const record = await incidents.get(incidentId);
      const last = record?.conditions.at(-1);
      if (!record || last?.type !== 'NeedsHuman' || !['MergeRefused', 'ReviewTimeout'].includes(last.reason))
        return false;
      const job: RollbackJob = {
        incidentId,
        app: { ...record.app },
        badRevision: record.badRevision,
        ...(record.goodRevision ? { goodRevision: record.goodRevision } : {}),
        trigger: record.details.trigger,
        reason: 'PullRequestMerged',
        message: 'A person merged the pull request Rewind was refused.',
        detectedAt: new Date().toISOString(),
        manual: record.details.trigger === 'manual' || record.details.trigger === 'chatops',
        dryRun: false,
      };
      await rollbackQueue.add(QUEUE_NAMES.rollback, job, jobOptions(`${rollbackJobId(incidentId)}-merged`));
      return true;
    },
    incidents,
    rollbackQueue,
    verifyQueue,
    probes,
    metrics,
    close,
  };
}

/**
 * What the probes check. Liveness: informers silent for three times the longer of their stall
 * timeout and resync period (both bring a healthy informer news well within it), unless
 * detection.wedgedAfter says otherwise. Readiness: a PING on a connection of its own (refused at once
 * while that connection is down, so PINGs do not queue up) and the API server's /readyz.
 */
function probeChecks(
  config: RewindConfig,
  options: RuntimeOptions,
  redis: Redis,
  cluster: KubeCluster,
): ProbeChecks {
  const inactivityMs = options.detector?.inactivityMs ?? DEFAULT_INACTIVITY_MS;
  const resyncMs = options.detector?.resyncMs ?? DEFAULT_RESYNC_MS;
  return {
    wedgedAfterMs: config.detection.wedgedAfterMs ?? 3 * Math.max(inactivityMs, resyncMs),
    async pingRedis() {
      if (redis.status !== 'ready') throw new Error(`connection ${redis.status}`);
      await redis.ping();
    },
    pingApiServer: (signal) => cluster.assertReady(signal),
  };
}
