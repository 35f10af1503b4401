// The rollback job: re-check -> policy -> locate -> revert + push -> reconcile request -> hand over to
// verification. Every step looks at the world before acting (the incident record, the pushed revert
// commit found by its Rewind-Incident trailer, the Kustomization's annotations), so a crash and
// retry anywhere produces no second commit or push. Outcomes are named; only unexpected failures
// throw (and BullMQ retries them with backoff).
import { FLUX_GIT_REPOSITORY, FLUX_KUSTOMIZATION, type ObjectRef } from '../cluster/kube.ts';
import { templateDiff } from '../cluster/template.ts';
import type { RewindConfig } from '../config/index.ts';
import { effectivePolicy } from '../config/index.ts';
import { appLabel, appRef, type AppRef } from '../domain/app-ref.ts';
import { parseCommitSha, shortSha } from '../domain/commit-sha.ts';
import { isRewindError, redact } from '../domain/errors.ts';
import { type ConditionType, isTerminal, newIncident } from '../domain/incident.ts';
import { tryParseRevision } from '../domain/revision.ts';
import { assessKustomization, sourceOf } from '../engines/flux-kustomization.ts';
import type { RollbackJob, VerifyJob } from '../queue/jobs.ts';
import type { IncidentRecord, IncidentStore } from './incident-record.ts';
import type { Clock, ClusterPort, GitPort, Logger } from './ports.ts';
import { recordTemplates, templatesFromReplicaSets } from './verify.ts';
import {
  type DurableIncident,
  INCIDENT_ANNOTATION,
  parseDurableIncident,
  writeDurableIncident,
} from './durable-incident.ts';
import { IncidentRecorder } from './incident-recorder.ts';
import { failingPodsOf } from './detect.ts';
import type { PodFailure } from './pod-signals.ts';
import { type CrashPoint, type ForgeDeps, advancePullRequest, openPullRequest } from './pull-request.ts';

export interface RollbackDeps {
  readonly cluster: ClusterPort;
  readonly git: GitPort;
  readonly incidents: IncidentStore;
  readonly config: RewindConfig;
  readonly clock: Clock;
  readonly log: Logger;
  readonly enqueueVerify: (job: VerifyJob) => Promise<void>;
  /** Fault injection for crash-safety tests: called at named points; may kill the process. */
  readonly crashPoint?: (name: CrashPoint) => void;
  /**
   * With a forge, reverts go through pull requests; without one (direct-push), they are pushed to the
   * tracked branch. Given the source URL, since the forge repository follows the GitOps source.
   */
  readonly forgeFor?: (sourceUrl: string) => ForgeDeps;
  /**
   * Refuses sources Rewind must not touch (returns why): credentials are only ever sent to the
   * configured Git hosts, and the forge only acts on its own host's repositories.
   */
  readonly trustSource?: (url: string) => string | undefined;
  /** Mutual exclusion across workers (Redis); without it, steps run unguarded (single process). */
  readonly withLock?: <T>(key: string, fn: () => Promise<T>) => Promise<T>;
}

export type RollbackResult =
  | { kind: 'already-finished'; condition: ConditionType }
  | { kind: 'handed-to-verifier'; revertSha: string }
  | { kind: 'waiting-for-merge'; pullRequest: number }
  | { kind: 'stopped'; condition: ConditionType; reason: string };

function kustomizationRef(app: AppRef): ObjectRef {
  return { ...FLUX_KUSTOMIZATION, namespace: app.namespace, name: app.name };
}

async function loadOrCreate(job: RollbackJob, deps: RollbackDeps): Promise<IncidentRecord> {
  const existing = await deps.incidents.get(job.incidentId);
  if (existing) return existing;
  const incident = newIncident({
    app: job.app,
    badRevision: parseCommitSha(job.badRevision),
    ...(job.goodRevision ? { goodRevision: parseCommitSha(job.goodRevision) } : {}),
    ...(job.failingSince ? { failingSince: job.failingSince } : {}),
    reason: job.reason || 'Detected',
    message: job.message || 'failure detected',
    at: new Date(job.detectedAt),
  });
  const record: IncidentRecord = {
    ...incident,
    // The job names the incident (manual rollbacks have their own ids); the domain derives the default.
    id: job.incidentId,
    details: {
      trigger: job.trigger,
      dryRun: job.dryRun,
      ...(job.requestedBy ? { requestedBy: job.requestedBy } : {}),
      healthReason: job.reason,
      healthMessage: job.message,
    },
    updatedAt: deps.clock.now().toISOString(),
  };
  // Another job may have (re)created it since the look above (Redis lost): carry on from that one.
  const created = await deps.incidents.create(record);
  return created.kind === 'saved' ? created.record : created.current;
}

export async function runRollback(job: RollbackJob, deps: RollbackDeps): Promise<RollbackResult> {
  const rec = new IncidentRecorder(await loadOrCreate(job, deps), deps);
  const { app } = rec.record;
  const log = deps.log.child({ incident: rec.record.id, app: appLabel(app) });
  // A merge Rewind was refused may still be done by a person: then the incident carries on.
  const last = rec.record.conditions.at(-1);
  const refusedThenMerged =
    last?.type === 'NeedsHuman' &&
    (last.reason === 'MergeRefused' || last.reason === 'ReviewTimeout') &&
    job.reason === 'PullRequestMerged';
  if (isTerminal(rec.condition) && !refusedThenMerged)
    return { kind: 'already-finished', condition: rec.condition };

  const policy = effectivePolicy(deps.config, app);
  const dryRun = job.dryRun || policy.dryRun;
  const bad = rec.record.badRevision;

  const kustomization = await deps.cluster.get(kustomizationRef(app));
  if (!kustomization) {
    return rec.stop(
      'NeedsHuman',
      'UnknownApp',
      `Kustomization ${app.namespace}/${app.name} does not exist; nothing to roll back.`,
    );
  }

  // 1. Where does the app come from?
  const source = sourceOf(kustomization);
  if (!source || source.sourceRef.kind !== 'GitRepository') {
    return rec.stop(
      'NeedsHuman',
      'UnsupportedSource',
      `${appLabel(app)} does not come from a GitRepository; Rewind can only revert Git sources.`,
    );
  }
  const repoRef: ObjectRef = {
    ...FLUX_GIT_REPOSITORY,
    namespace: source.sourceRef.namespace,
    name: source.sourceRef.name,
  };
  const gitRepository = await deps.cluster.get(repoRef);
  const url = gitRepository?.spec?.url as string | undefined;
  const ref = (gitRepository?.spec?.ref ?? {}) as Record<string, unknown>;
  const trackedBranch = ref['branch'] as string | undefined;
  // Flux's default ref is the master branch; tags, semver ranges and pinned commits cannot take a revert.
  const branch = trackedBranch ?? 'master';
  if (gitRepository && !trackedBranch && (ref['tag'] || ref['semver'] || ref['commit'] || ref['name'])) {
    return rec.stop(
      'NeedsHuman',
      'UnsupportedRef',
      `GitRepository ${repoRef.namespace}/${repoRef.name} follows a tag, semver range or commit, not a branch; a revert commit would not be deployed. Roll back by moving that ref.`,
    );
  }
  if (!gitRepository || !url) {
    return rec.stop(
      'NeedsHuman',
      'SourceNotFound',
      `GitRepository ${repoRef.namespace}/${repoRef.name} not found or has no spec.url.`,
    );
  }
  const untrusted = deps.trustSource?.(url);
  if (untrusted) return rec.stop('NeedsHuman', 'UntrustedSource', untrusted);
  if (!rec.record.details.source) await rec.details({ source: { url: redact(url), branch } });
  const forge = deps.forgeFor?.(url);
  const finish = (revertSha: string) =>
    requestReconcileAndVerify(deps, rec, {
      app,
      repoRef,
      revertSha,
      policyVerifyMs: policy.verifyTimeoutMs,
      log,
    });

  // A pull request exists: nothing to locate again, only to follow it (merge per policy, or wait;
  // after a crash past the merge, carry on to the reconcile request and the verification).
  const following = ['PullRequestOpened', 'Merged', 'ReconcileRequested'].includes(rec.condition);
  if (forge && rec.record.details.pr && (following || refusedThenMerged)) {
    if (policy.paused && rec.condition === 'PullRequestOpened') {
      return { kind: 'waiting-for-merge', pullRequest: rec.record.details.pr.number };
    }
    const advanced = await advancePullRequest(forge, rec, {
      mode: rec.record.details.prPlan ?? (job.manual ? 'auto-merge' : policy.mode),
      reviewTimeoutMs: policy.reviewTimeoutMs,
    });
    return advanced.kind === 'merged' ? finish(advanced.sha) : advanced;
  }

  // 2. Is it still failing on the same revision? (the grace period ends here) Skipped when our
  // revert is already on the branch: then a previous attempt acted and this one finishes the job.
  // Asked only when the answer matters (a git fetch is the slowest part of the way to the fast path).
  let pushedBefore: Promise<unknown> | undefined;
  const alreadyPushed = async (): Promise<boolean> =>
    Boolean(await (pushedBefore ??= deps.git.pushedRevert(url, branch, rec.record.id)));
  if (!job.manual) {
    const verdict = assessKustomization(kustomization);
    const attempted = tryParseRevision(kustomization.status?.lastAttemptedRevision ?? '');
    const applied = tryParseRevision(kustomization.status?.lastAppliedRevision ?? '');
    if (verdict.state === 'healthy' && applied?.sha === bad && !(await alreadyPushed())) {
      return rec.stop(
        'Ignored',
        'Recovered',
        `${appLabel(app)} became healthy on ${shortSha(bad)} during the grace period; no rollback needed.`,
      );
    }
    if (
      rec.record.details.trigger === 'pods' &&
      verdict.state !== 'failed' &&
      (await failingPodsOfApp(deps, app.namespace, app.name)).length === 0 &&
      !(await alreadyPushed())
    ) {
      return rec.stop(
        'Ignored',
        'Recovered',
        `The Pods of ${appLabel(app)} recovered during the grace period; no rollback needed.`,
      );
    }
    if (attempted && attempted.sha !== bad && !(await alreadyPushed())) {
      return rec.stop(
        'Superseded',
        'NewRevision',
        `Flux moved on to ${attempted.raw} before Rewind acted; the incident for ${shortSha(bad)} is superseded.`,
      );
    }
  }
  if (policy.paused && !(await alreadyPushed())) {
    return rec.stop(
      'Ignored',
      'Paused',
      'Rewind is paused (policy.paused); set it to false or roll back by hand.',
    );
  }

  // 3. Locate the culprit.
  const good = rec.record.goodRevision;
  if (!good) {
    return rec.stop(
      'NeedsHuman',
      'NoGoodRevision',
      `No last-good revision is known for ${appLabel(app)} (Flux has not applied one, and Rewind never saw it healthy). Use "rewind rollback ${app.namespace}/${app.name} --to <sha>".`,
    );
  }
  const deployments = await deps.cluster.deploymentsOfKustomization(app.namespace, app.name);
  const durable = parseDurableIncident(kustomization.metadata?.annotations?.[INCIDENT_ANNOTATION]);
  const templates =
    rec.record.details.templates ??
    (durable?.id === rec.record.id
      ? await templatesFromReplicaSets(deps.cluster, deployments, durable.lastGood)
      : undefined) ??
    (await recordTemplates(
      deps.cluster,
      deployments,
      rec.record.failingSince ?? rec.record.conditions[0]!.at,
    ));
  if (!rec.record.details.templates) await rec.details({ templates });
  const changes: string[] = [];
  const changedValues: string[] = [];
  for (const [key, lastGood] of Object.entries(templates.lastGood)) {
    const diff = templateDiff(lastGood.template, templates.bad[key]);
    changes.push(...diff.changes.map((c) => `${key}: ${c}`));
    changedValues.push(...diff.changedValues);
  }
  if (!job.manual && !dryRun && policy.mode !== 'observe') {
    const budget = await budgetLeft(deps, rec.record.id, app, policy.budgets);
    if (budget) return rec.stop('NeedsHuman', 'BudgetExhausted', budget);
  } // Before acting, the incident is written onto the Kustomization: if Redis is lost from here on,
  // the detector finds it there and re-runs this job, which then completes instead of starting over.
  const acting = !dryRun && policy.mode !== 'observe';
  if (acting && durable?.id !== rec.record.id) {
    const record: DurableIncident = {
      id: rec.record.id,
      app,
      bad,
      good,
      trigger: rec.record.details.trigger,
      suspendedByRewind: policy.fastPath || policy.suspendWhilePending,
      lastGood: Object.fromEntries(
        Object.entries(templates.lastGood).flatMap(([key, value]) =>
          value.rsUid ? [[key, value.rsUid]] : [],
        ),
      ),
    };
    const written = await writeDurableIncident(deps, record);
    if (written.kind === 'ended') return { kind: 'already-finished', condition: written.condition };
  }
  // Fast path: recover the cluster at native speed while Git catches up. Flux is suspended so it
  // does not re-apply the bad revision meanwhile; each Deployment gets its last-good template back
  // the way `kubectl rollout undo` does (the controller reuses the old ReplicaSet). The revert that
  // follows carries the same template, so applying it changes nothing. It runs before the culprit
  // search, which it does not need; if no revert can be made, the incident says the cluster was
  // rolled back and Flux left suspended.
  // policy.suspendWhilePending only suspends: Flux stops re-trying the bad revision until the
  // revert is in Git, without touching the Deployments.
  // Idempotent: after a crash it suspends and patches the same templates again.
  if (
    (policy.fastPath || policy.suspendWhilePending) &&
    acting &&
    rec.record.details.revert?.sha === undefined
  ) {
    await rec.details({ suspendedByRewind: true });
    await deps.cluster.setSuspended(kustomizationRef(app), true);
    const templatesToRestore = policy.fastPath ? Object.entries(templates.lastGood) : [];
    for (const [key, lastGood] of templatesToRestore) {
      const [namespace = '', name = ''] = key.split('/');
      await deps.cluster.setPodTemplate(namespace, name, lastGood.template);
    }
    log.info(
      { deployments: Object.keys(templates.lastGood) },
      'fast path: rolled back natively, Kustomization suspended',
    );
  }
  // After the fast path, every way of stopping says that Flux is still suspended (IncidentRecorder).
  const stopForHuman = (reason: string, message: string) => rec.stop('NeedsHuman', reason, message);
  let located;
  try {
    located = await deps.git.locate({ url, good, bad, appPath: source.path, changedValues });
  } catch (error) {
    if (isRewindError(error) && !error.retryable) return stopForHuman(error.code, error.message);
    throw error;
  }
  if (located.outcome.kind === 'no-candidate')
    return stopForHuman('NoCandidate', located.outcome.explanation);
  const found = located.outcome;
  const culprits = found.commits;
  const culprit = culprits[0]!;
  await rec.details({
    culpritRule: located.outcome.rule,
    confidence: located.outcome.confidence,
    culpritSubject: culprit.subject,
    rangeCommits: located.outcome.candidates.length,
    templateChanges: changes,
  });
  await rec.to(
    'Located',
    located.outcome.rule,
    `${located.outcome.explanation} Confidence: ${located.outcome.confidence}.`,
    culprit.sha,
  );

  // 4. Policy gates that need the culprit.
  if (policy.mode === 'observe') {
    return rec.stop(
      'Ignored',
      'ObserveOnly',
      `Observe mode: would revert ${shortSha(culprit.sha)} ("${culprit.subject}") for ${appLabel(app)}.`,
    );
  }
  const age = deps.clock.now().getTime() - Date.parse(culprit.committedAt);
  if (!job.manual && age > policy.maxCulpritAgeMs) {
    return stopForHuman(
      'CulpritTooOld',
      `The culprit ${shortSha(culprit.sha)} is older than policy.maxCulpritAge; Rewind does not revert old commits automatically.`,
    );
  }

  // 5. Revert + push (check-then-act: a revert already pushed for this incident is reused).
  const failingApps = await failingAppsOn(deps, repoRef, app, bad);
  // Other failing apps take part in this revert only as their own policy allows: observed or paused
  // apps keep the change (their files are left alone); an app that wants review makes the whole
  // pull request wait for a person, whatever this app's policy says.
  const policyOf = (f: FailingApp) =>
    effectivePolicy(deps.config, appRef('flux-kustomization', f.namespace, f.name));
  for (const f of [...failingApps.failing]) {
    const p = policyOf(f);
    if (p.mode === 'observe' || p.paused) {
      failingApps.failing.splice(failingApps.failing.indexOf(f), 1);
      failingApps.healthy.push(f);
    }
  }
  const reviewWanted = failingApps.failing.some((f) => policyOf(f).mode === 'propose');
  const prMode = job.manual ? 'auto-merge' : reviewWanted ? 'propose' : policy.mode;
  if (forge && !dryRun && rec.record.details.prPlan !== prMode) await rec.details({ prPlan: prMode });
  const failingPaths = new Set<string>(located.closure);
  for (const other of failingApps.failing) {
    for (const p of await deps.git.closureOf(url, bad, other.path)) failingPaths.add(p);
  }
  const otherPaths = new Set<string>();
  for (const other of failingApps.healthy) {
    for (const p of await deps.git.closureOf(url, bad, other.path)) otherPaths.add(p);
  }
  const revertInput = {
    url,
    branch,
    incidentId: rec.record.id,
    commits: culprits,
    failingApps: [appLabel(app), ...failingApps.failing.map((f) => f.label)],
    failingPaths: [...failingPaths],
    otherAppsPaths: [...otherPaths],
    good,
    rule: `${located.outcome.rule}, ${located.outcome.confidence} confidence`,
  };
  // One culprit, one revert: incidents of several apps failing on the same commit take turns here,
  // so the second finds the first one's pull request (or pushed revert) instead of racing it.
  const serialised = <T>(fn: () => Promise<T>): Promise<T> =>
    deps.withLock ? deps.withLock(`culprit:${culprit.sha}`, fn) : fn();
  if (forge && !dryRun) {
    const opened = await serialised(() =>
      openPullRequest(forge, deps.git, rec, {
        ...revertInput,
        app,
        culprit,
        located: found,
        failingAppsDetail: [
          {
            label: appLabel(app),
            reason: rec.record.details.healthReason ?? '',
            message: rec.record.details.healthMessage ?? '',
          },
          ...failingApps.failing.map((f) => ({ label: f.label, reason: f.reason, message: f.message })),
        ],
        plan: prMode === 'auto-merge' ? 'auto-merge' : 'propose',
        manual: job.manual,
      }),
    );
    if (opened.kind !== 'opened') {
      return opened.kind === 'needs-human' ? stopForHuman(opened.reason, opened.message) : opened.result;
    }
    deps.crashPoint?.('after-pr');
    const advanced = await advancePullRequest(forge, rec, {
      mode: prMode,
      reviewTimeoutMs: policy.reviewTimeoutMs,
    });
    return advanced.kind === 'merged' ? finish(advanced.sha) : advanced;
  }
  const pushed = await serialised(() => deps.git.revertAndPush({ ...revertInput, dryRun }));
  if (pushed.kind === 'dry-run') {
    const r = pushed.revert;
    await rec.details({ revert: { kind: r.kind, ...('sha' in r ? { sha: r.sha, paths: r.paths } : {}) } });
    return rec.stop(
      'Ignored',
      'DryRun',
      `Dry run: prepared a ${r.kind} revert of ${shortSha(culprit.sha)}${'sha' in r ? ` as ${shortSha(r.sha)}` : ''}; nothing was pushed.`,
    );
  }
  if (pushed.kind === 'not-pushed') {
    const r = pushed.revert;
    if (r.kind === 'needs-human')
      return stopForHuman('RevertConflict', `${r.message} Conflicting paths: ${r.conflicts.join(', ')}.`);
    // Another incident of the same culprit (another app) already reverted it: carry on from there.
    const earlier = await deps.git.revertOf(url, branch, culprit.sha);
    if (!earlier) return stopForHuman('NothingToRevert', 'message' in r ? r.message : 'nothing to revert');
    await rec.details({ revert: { kind: 'shared', sha: earlier } });
    await rec.to(
      'RevertPrepared',
      'AlreadyReverted',
      `${shortSha(earlier)} already reverts ${shortSha(culprit.sha)} for another app.`,
    );
    await rec.to('Merged', 'DirectPush', `${shortSha(earlier)} is on ${branch}.`);
    return finish(earlier);
  }
  if (pushed.kind === 'gave-up') throw new Error(pushed.message); // retried by the queue with backoff
  const revertSha = pushed.sha;
  await rec.details({
    revert:
      pushed.kind === 'pushed'
        ? {
            kind: pushed.revert.kind,
            sha: revertSha,
            ...('paths' in pushed.revert ? { paths: pushed.revert.paths } : {}),
          }
        : { kind: rec.record.details.revert?.kind ?? 'reverted', sha: revertSha },
  });
  await rec.to(
    'RevertPrepared',
    pushed.kind === 'pushed' ? pushed.revert.kind : 'AlreadyPushed',
    `Revert ${shortSha(revertSha)} of ${shortSha(culprit.sha)} prepared.`,
  );
  await rec.to('Merged', 'DirectPush', `Pushed ${shortSha(revertSha)} to ${branch} (fast-forward).`);
  deps.crashPoint?.('after-push');

  return finish(revertSha);
}

interface FinishInput {
  readonly app: AppRef;
  readonly repoRef: ObjectRef;
  readonly revertSha: string;
  readonly policyVerifyMs: number;
  readonly log: Logger;
}

/** Steps 6 and 7, shared by the direct-push and pull-request paths. */
async function requestReconcileAndVerify(
  deps: RollbackDeps,
  rec: IncidentRecorder,
  { app, repoRef, revertSha, policyVerifyMs, log }: FinishInput,
): Promise<RollbackResult> {
  const kustomization = await deps.cluster.get(kustomizationRef(app));
  const durable = parseDurableIncident(kustomization?.metadata?.annotations?.[INCIDENT_ANNOTATION]);
  // 6. Make Flux apply it now: source first, then the Kustomization (what `flux reconcile --with-source` does).
  deps.crashPoint?.('before-reconcile');
  const token = `${rec.record.id}-${deps.clock.now().getTime()}`;
  await deps.cluster.requestReconcile(repoRef, token);
  if (rec.record.details.suspendedByRewind || (durable?.id === rec.record.id && durable.suspendedByRewind)) {
    // Resume only once the source has the revert: resuming triggers a reconcile at once, and with
    // the old artifact Flux would re-apply the bad revision (and then block on its health check).
    const fetched = await waitForArtifact(deps, repoRef, revertSha, 30_000);
    if (!fetched)
      log.warn({ revertSha }, 'the GitRepository did not fetch the revert in time; resuming anyway');
    await deps.cluster.setSuspended(kustomizationRef(app), false);
    await rec.details({ suspendedByRewind: false });
  }
  await deps.cluster.requestReconcile(kustomizationRef(app), token);
  await rec.details({ reconcileToken: token });
  await rec.to(
    'ReconcileRequested',
    'RequestedAt',
    `Requested reconcile of ${repoRef.name} and ${app.name} (${token}).`,
  );

  // 7. Verification runs as its own job.
  const deadline = new Date(deps.clock.now().getTime() + policyVerifyMs).toISOString();
  await deps.enqueueVerify({ incidentId: rec.record.id, revertSha, deadline });
  log.debug({ revertSha }, 'verification enqueued');
  return { kind: 'handed-to-verifier', revertSha };
}

/** Waits until the GitRepository's artifact is the given commit (or a later one containing it is not checked). */
async function waitForArtifact(
  deps: RollbackDeps,
  repoRef: ObjectRef,
  sha: string,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const repo = await deps.cluster.get(repoRef);
    const revision = tryParseRevision((repo?.status?.artifact?.revision as string | undefined) ?? '');
    if (revision?.sha === sha) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

async function failingPodsOfApp(deps: RollbackDeps, namespace: string, name: string): Promise<PodFailure[]> {
  const failures: PodFailure[] = [];
  for (const deployment of await deps.cluster.deploymentsOfKustomization(namespace, name)) {
    const replicaSets = await deps.cluster.replicaSetsOf(deployment);
    const pods = (await Promise.all(replicaSets.map((rs) => deps.cluster.podsOf(rs)))).flat();
    failures.push(
      ...failingPodsOf({ deployment, replicaSets, pods }, deps.config.detection.restartThreshold),
    );
  }
  return failures;
}

interface FailingApp {
  readonly namespace: string;
  readonly name: string;
  readonly label: string;
  readonly path: string;
  readonly reason: string;
  readonly message: string;
}

/** Other Kustomizations on the same source: which are failing too (one revert for all) and which are healthy. */
async function failingAppsOn(
  deps: RollbackDeps,
  repoRef: ObjectRef,
  app: AppRef,
  bad: string,
): Promise<{ failing: FailingApp[]; healthy: FailingApp[] }> {
  const all = await deps.cluster.list(FLUX_KUSTOMIZATION);
  const failing: FailingApp[] = [];
  const healthy: FailingApp[] = [];
  for (const ks of all) {
    if (ks.metadata?.namespace === app.namespace && ks.metadata?.name === app.name) continue;
    const source = sourceOf(ks);
    if (!source || source.sourceRef.name !== repoRef.name || source.sourceRef.namespace !== repoRef.namespace)
      continue;
    const verdict = assessKustomization(ks);
    const entry = {
      namespace: ks.metadata?.namespace ?? '',
      name: ks.metadata?.name ?? '',
      label: `${ks.metadata?.namespace}/${ks.metadata?.name}`,
      path: source.path,
      reason: verdict.reason,
      message: verdict.message,
    };
    if (verdict.state === 'failed') {
      failing.push(entry);
      continue;
    }
    // Still rolling out the same bad revision, with failing Pods: failing too (the engine has not
    // said so yet only because its health check has not timed out).
    const attempted = tryParseRevision(ks.status?.lastAttemptedRevision ?? '');
    const pods =
      verdict.state === 'progressing' && attempted?.sha === bad
        ? await failingPodsOfApp(deps, ks.metadata?.namespace ?? '', ks.metadata?.name ?? '')
        : [];
    const [first] = pods;
    if (first) failing.push({ ...entry, reason: first.reason, message: `${first.pod}: ${first.message}` });
    else healthy.push(entry);
  }
  return { failing, healthy };
}

/**
 * A message when the app's automatic-rollback budget is used up, else undefined. Only other
 * incidents count: a retry of this incident (after a crash past the push) must not stop itself.
 */
async function budgetLeft(
  deps: RollbackDeps,
  incidentId: string,
  app: AppRef,
  budgets: { perHour: number; perDay: number; cooldownMs: number },
): Promise<string | undefined> {
  const { perHour, perDay, cooldownMs } = budgets;
  const now = deps.clock.now().getTime();
  const recent = (await deps.incidents.list(500)).filter(
    (r) =>
      r.id !== incidentId &&
      r.app.namespace === app.namespace &&
      r.app.name === app.name &&
      r.details.trigger !== 'manual' &&
      r.conditions.some((c) => c.type === 'Merged'),
  );
  const mergedAt = recent.map((r) => Date.parse(r.conditions.find((c) => c.type === 'Merged')!.at));
  const lastHour = mergedAt.filter((t) => now - t < 3_600_000).length;
  const lastDay = mergedAt.filter((t) => now - t < 86_400_000).length;
  if (lastHour >= perHour)
    return `${appLabel(app)} already had ${lastHour} automatic rollback(s) in the last hour (policy.budgets.perHour = ${perHour}); a person should look.`;
  if (lastDay >= perDay)
    return `${appLabel(app)} already had ${lastDay} automatic rollback(s) in the last day (policy.budgets.perDay = ${perDay}); a person should look.`;
  const latest = Math.max(0, ...mergedAt);
  if (now - latest < cooldownMs)
    return `${appLabel(app)} was rolled back automatically ${Math.round((now - latest) / 1000)} s ago, within policy.budgets.cooldown; a second automatic rollback this soon needs a person.`;
  return undefined;
}
