// Detection: from a snapshot of one app (its engine object and the Deployments it manages) to a
// failure signal, or nothing. Pure; the detector worker builds snapshots from its informers. The
// engine (src/engines/registry.ts) says what failed, attempted and applied mean for its object.
import type { KubeObjectJson } from '../cluster/informer.ts';
import { deploymentComplete } from '../cluster/rollout-verdict.ts';
import { templatesEqual } from '../cluster/template.ts';
import type { AppRef } from '../domain/app-ref.ts';
import type { CommitSha } from '../domain/commit-sha.ts';
import { incidentIdFor } from '../domain/incident.ts';
import { type Revision, tryParseRevision } from '../domain/revision.ts';
import type { Engine } from '../engines/engine.ts';
import { engineFor } from '../engines/registry.ts';
import type { RollbackJob } from '../queue/jobs.ts';
import { type PodFailure, podFailure } from './pod-signals.ts';

/**
 * Rewind's own record of the last revision it saw healthy, kept on the app object so it survives
 * losing Redis. Needed when the engine's applied revision does not mean healthy (Flux without health
 * checks; Argo CD, whose history lists syncs, not healthy deployments).
 */
export const LAST_HEALTHY_ANNOTATION = 'rewind.dev/last-healthy-revision';

/** Rewind's record of the app's last healthy revision, read by its engine (see recordedRevision). */
export function lastHealthyOf(engine: Engine, object: KubeObjectJson): Revision | undefined {
  const raw = object.metadata?.annotations?.[LAST_HEALTHY_ANNOTATION] ?? '';
  return engine.recordedRevision ? engine.recordedRevision(object, raw) : tryParseRevision(raw);
}

export interface WorkloadSnapshot {
  readonly deployment: KubeObjectJson;
  readonly replicaSets: readonly KubeObjectJson[];
  readonly pods: readonly KubeObjectJson[];
}

export interface AppSnapshot {
  readonly app: AppRef;
  /** The engine object of the app. */
  readonly object: KubeObjectJson;
  readonly workloads: readonly WorkloadSnapshot[];
  /**
   * The commit at the head of the ref the engine failed at, when its verdict names only the ref
   * (`Verdict.unresolvedRevision`): read from Git by the detector just before this snapshot.
   */
  readonly refHead?: CommitSha;
}

export interface FailureSignal {
  readonly app: AppRef;
  readonly incidentId: string;
  /** `alert`: an Alertmanager alert or a Flux event named the app (POST /webhooks/...). */
  readonly trigger: 'engine' | 'pods' | 'alert';
  readonly badRevision: CommitSha;
  readonly goodRevision?: CommitSha;
  readonly reason: string;
  readonly message: string;
  /** When the failure began, as well as the objects tell. */
  readonly since: string;
  /**
   * The engine named only the ref it failed at (an Argo CD render error), so `badRevision` is that
   * ref's head when Rewind read it: a change pushed after the breaking one may be in it.
   */
  readonly badFromRefHead?: boolean;
}

export interface DetectOptions {
  readonly restartThreshold: number;
  readonly now: Date;
}

/** Pods of the ReplicaSet that carries the Deployment's current template that are failing. */
export function failingPodsOf(workload: WorkloadSnapshot, restartThreshold: number): PodFailure[] {
  const current = workload.replicaSets.find((rs) =>
    templatesEqual(rs.spec?.template, workload.deployment.spec?.template),
  );
  if (!current) return [];
  return workload.pods
    .filter((pod) => (pod.metadata?.ownerReferences ?? []).some((ref) => ref.uid === current.metadata?.uid))
    .map((pod) => podFailure(pod, restartThreshold))
    .filter((failure): failure is PodFailure => failure !== undefined);
}

export function failureSignal(snapshot: AppSnapshot, options: DetectOptions): FailureSignal | undefined {
  const { app, object } = snapshot;
  const engine = engineFor(app);
  const verdict = engine.assess(object);
  const lastHealthy = lastHealthyOf(engine, object);

  const failedAt =
    verdict.badRevision?.sha ?? (verdict.unresolvedRevision !== undefined ? snapshot.refHead : undefined);
  // The ref's head is the revision that last rendered: what fails is not a new revision.
  const headWasHealthy = verdict.badRevision === undefined && failedAt === lastHealthy?.sha;
  if (verdict.state === 'failed' && failedAt && !headWasHealthy) {
    const bad = failedAt;
    const good = verdict.goodRevision?.sha ?? (lastHealthy?.sha !== bad ? lastHealthy?.sha : undefined);
    return {
      app,
      incidentId: incidentIdFor(app, bad),
      trigger: 'engine',
      badRevision: bad,
      ...(good ? { goodRevision: good } : {}),
      reason: verdict.reason,
      message: verdict.message,
      since: verdict.since ?? options.now.toISOString(),
      ...(verdict.badRevision === undefined ? { badFromRefHead: true } : {}),
    };
  }
  if (verdict.state === 'suspended' || (verdict.state === 'healthy' && !lastHealthy)) return undefined;

  // Early detection: the revision being rolled out already has failing Pods; no need to wait for
  // the engine's health-check timeout (Flux) or progress deadline (Argo CD, 600 s by default).
  const attempted = engine.attemptedRevision(object);
  if (!attempted) return undefined;
  const applied = engine.appliedRevision(object);
  // When the engine's applied revision only means "applied" (not "healthy"), only Rewind's own
  // record of a healthy revision can be trusted as good.
  const checksHealth = engine.appliedMeansHealthy(object);
  const good =
    verdict.state === 'healthy' || !checksHealth
      ? (lastHealthy ?? (checksHealth ? applied : undefined))
      : (applied ?? lastHealthy);
  if (!good || good.sha === attempted.sha) return undefined;
  const failures = snapshot.workloads.flatMap((w) => failingPodsOf(w, options.restartThreshold));
  const first = failures[0];
  if (!first) return undefined;
  return {
    app,
    incidentId: incidentIdFor(app, attempted.sha),
    trigger: 'pods',
    badRevision: attempted.sha,
    goodRevision: good.sha,
    reason: first.reason,
    message: `${failures.length} Pod(s) of the new revision are failing; first: ${first.pod} container ${first.container}: ${first.reason} (${first.message})`,
    since: options.now.toISOString(),
  };
}

/** Why an alert that names an app does not open an incident. */
export interface AlertNotActed {
  readonly ignored:
    'AppHealthy' | 'AppSuspended' | 'HealthUnknown' | 'Progressing' | 'NoRevision' | 'NoGoodRevision';
  readonly message: string;
  /** Progressing: the revision being rolled out (an incident the detector opened for it may keep the alert). */
  readonly revision?: CommitSha;
}

/**
 * An alert (Alertmanager, a Flux event) says the app is broken; the engine says which revision: the
 * one it last tried, against the last good one as the detector reckons it. The engine has the last
 * word on health: an app it reports healthy (or cannot judge) is left alone, and so is a revision it
 * is still rolling out. Alerts arrive late (Prometheus' `for:`, Alertmanager's group_wait, Flux's
 * retries): one that fired for a broken revision may land while a person's fix rolls out, and
 * taking the revision in flight as the culprit would revert the fix. A revision becomes a culprit
 * only once it is itself seen failing: the engine's verdict (Flux's health-check timeout, Argo CD's
 * Degraded), or its own Pods failing past the detector's grace period.
 */
export function alertedFailure(
  app: AppRef,
  object: KubeObjectJson,
  alert: { readonly reason: string; readonly message: string },
  now: Date,
): FailureSignal | AlertNotActed {
  const engine = engineFor(app);
  const verdict = engine.assess(object);
  const label = `${app.namespace}/${app.name}`;
  if (verdict.state === 'healthy')
    return { ignored: 'AppHealthy', message: `${label} is healthy per its ${engine.noun}; nothing to do.` };
  if (verdict.state === 'suspended')
    return { ignored: 'AppSuspended', message: `${label} is suspended: ${verdict.message}` };
  if (verdict.state === 'unknown')
    return {
      ignored: 'HealthUnknown',
      message: `The health of ${label} is unknown (${verdict.reason}: ${verdict.message}); Rewind acts on what its engine confirms.`,
    };
  if (verdict.state === 'progressing') {
    const inFlight = verdict.badRevision ?? engine.attemptedRevision(object);
    return {
      ignored: 'Progressing',
      message: `${label} is rolling out ${inFlight ? inFlight.sha.slice(0, 12) : 'a new revision'}; an alert does not make a revision in flight the culprit (it may be a fix). Rewind acts if that revision fails: its ${engine.noun} reports it failed, or its Pods fail past the grace period.`,
      ...(inFlight ? { revision: inFlight.sha } : {}),
    };
  }
  const attempted = verdict.badRevision ?? engine.attemptedRevision(object);
  if (!attempted)
    return {
      ignored: 'NoRevision',
      message: `${label} has not reconciled a revision yet; nothing to roll back.`,
    };
  const lastHealthy = lastHealthyOf(engine, object);
  const applied = engine.appliedRevision(object);
  const good =
    verdict.goodRevision ?? (engine.appliedMeansHealthy(object) ? (applied ?? lastHealthy) : lastHealthy);
  if (!good || good.sha === attempted.sha)
    return {
      ignored: 'NoGoodRevision',
      message: `No last-good revision before ${attempted.sha.slice(0, 12)} is known for ${label}; roll back by hand with --to <sha>.`,
    };
  return {
    app,
    incidentId: incidentIdFor(app, attempted.sha),
    trigger: 'alert',
    badRevision: attempted.sha,
    goodRevision: good.sha,
    reason: alert.reason,
    message: alert.message,
    since: verdict.since ?? now.toISOString(),
  };
}

/** Whether the app is fully healthy: engine healthy on a fresh status and every Deployment complete. */
export function healthyRevision(snapshot: AppSnapshot): string | undefined {
  const verdict = engineFor(snapshot.app).assess(snapshot.object);
  if (verdict.state !== 'healthy' || !verdict.goodRevision) return undefined;
  if (!snapshot.workloads.every(({ deployment }) => deploymentComplete(deployment as never)))
    return undefined;
  if (snapshot.workloads.some((w) => failingPodsOf(w, Number.POSITIVE_INFINITY).length > 0)) return undefined;
  return verdict.goodRevision.raw;
}

export function rollbackJobFor(signal: FailureSignal, now: Date): RollbackJob {
  return {
    incidentId: signal.incidentId,
    app: { ...signal.app },
    badRevision: signal.badRevision,
    ...(signal.goodRevision ? { goodRevision: signal.goodRevision } : {}),
    trigger: signal.trigger,
    reason: signal.reason.slice(0, 200),
    message: signal.message.slice(0, 2000),
    failingSince: signal.since,
    ...(signal.badFromRefHead ? { badFromRefHead: true } : {}),
    detectedAt: now.toISOString(),
    manual: false,
    dryRun: false,
  };
}
