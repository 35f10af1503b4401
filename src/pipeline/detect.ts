// Detection: from a snapshot of one app (its Flux Kustomization and the Deployments it applied) to a
// failure signal, or nothing. Pure; the detector worker builds snapshots from its informers.
import type { KubeObjectJson } from '../cluster/informer.ts';
import { deploymentComplete } from '../cluster/rollout-verdict.ts';
import { templatesEqual } from '../cluster/template.ts';
import type { AppRef } from '../domain/app-ref.ts';
import type { CommitSha } from '../domain/commit-sha.ts';
import { incidentIdFor } from '../domain/incident.ts';
import { tryParseRevision } from '../domain/revision.ts';
import { assessKustomization } from '../engines/flux-kustomization.ts';
import type { RollbackJob } from '../queue/jobs.ts';
import { type PodFailure, podFailure } from './pod-signals.ts';

/**
 * Rewind's own record of the last revision it saw healthy, kept on the Kustomization so it survives
 * losing Redis. Needed when Flux has no health checks (then lastAppliedRevision is set right after
 * apply, even when the Pods crash-loop).
 */
export const LAST_HEALTHY_ANNOTATION = 'rewind.dev/last-healthy-revision';

export interface WorkloadSnapshot {
  readonly deployment: KubeObjectJson;
  readonly replicaSets: readonly KubeObjectJson[];
  readonly pods: readonly KubeObjectJson[];
}

export interface AppSnapshot {
  readonly app: AppRef;
  readonly kustomization: KubeObjectJson;
  readonly workloads: readonly WorkloadSnapshot[];
}

export interface FailureSignal {
  readonly app: AppRef;
  readonly incidentId: string;
  readonly trigger: 'engine' | 'pods';
  readonly badRevision: CommitSha;
  readonly goodRevision?: CommitSha;
  readonly reason: string;
  readonly message: string;
  /** When the failure began, as well as the objects tell. */
  readonly since: string;
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
  const { app, kustomization } = snapshot;
  const verdict = assessKustomization(kustomization);
  const lastHealthy = tryParseRevision(kustomization.metadata?.annotations?.[LAST_HEALTHY_ANNOTATION] ?? '');

  if (verdict.state === 'failed' && verdict.badRevision) {
    const bad = verdict.badRevision.sha;
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
    };
  }
  if (verdict.state === 'suspended' || (verdict.state === 'healthy' && !lastHealthy)) return undefined;

  // Early detection: the revision being rolled out already has failing Pods; no need to wait for
  // Flux's health-check timeout.
  const attempted = tryParseRevision(kustomization.status?.lastAttemptedRevision ?? '');
  if (!attempted) return undefined;
  const applied = tryParseRevision(kustomization.status?.lastAppliedRevision ?? '');
  // Flux sets lastAppliedRevision only after its health checks pass when it has some (wait or
  // healthChecks); without them it is set right after apply, even if the Pods crash, and only
  // Rewind's own record of a healthy revision can be trusted as "good".
  const checksHealth =
    kustomization.spec?.wait === true ||
    ((kustomization.spec?.healthChecks as unknown[] | undefined)?.length ?? 0) > 0;
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

/** Whether the app is fully healthy: engine Ready on a fresh status and every Deployment complete. */
export function healthyRevision(snapshot: AppSnapshot): string | undefined {
  const verdict = assessKustomization(snapshot.kustomization);
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
    detectedAt: now.toISOString(),
    manual: false,
    dryRun: false,
  };
}
