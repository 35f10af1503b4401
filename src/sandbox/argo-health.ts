// Argo CD's resource health (gitops-engine/pkg/health) for the kinds the sandbox serves, and the
// app-level aggregation of argo-cd controller/health.go: the app is as healthy as its worst
// immediate managed resource. Deployments follow health_deployment.go (kubectl rollout status):
// Degraded only once the progress deadline has passed, Progressing before.
import type { KubeObject } from './store.ts';

export type HealthStatus = 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended' | 'Missing' | 'Unknown';

export interface ResourceHealth {
  status: HealthStatus;
  message?: string;
}

/** gitops-engine health.go healthOrder: later is worse. */
const ORDER: readonly HealthStatus[] = [
  'Healthy',
  'Suspended',
  'Progressing',
  'Missing',
  'Degraded',
  'Unknown',
];

export function isWorse(current: HealthStatus, candidate: HealthStatus): boolean {
  return ORDER.indexOf(candidate) > ORDER.indexOf(current);
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** getAppsv1DeploymentHealth. */
export function deploymentHealth(deployment: KubeObject): ResourceHealth {
  const name = deployment.metadata.name;
  if (deployment.spec?.paused === true) return { status: 'Suspended', message: 'Deployment is paused' };
  const status = deployment.status ?? {};
  if ((deployment.metadata.generation ?? 0) > count(status.observedGeneration)) {
    return {
      status: 'Progressing',
      message: 'Waiting for rollout to finish: observed deployment generation less than desired generation',
    };
  }
  const conditions: any[] = Array.isArray(status.conditions) ? status.conditions : [];
  const progressing = conditions.find((condition) => condition?.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return { status: 'Degraded', message: `Deployment "${name}" exceeded its progress deadline` };
  }
  const wanted = typeof deployment.spec?.replicas === 'number' ? deployment.spec.replicas : 1;
  const updated = count(status.updatedReplicas);
  if (updated < wanted) {
    return {
      status: 'Progressing',
      message: `Waiting for rollout to finish: ${updated} out of ${wanted} new replicas have been updated...`,
    };
  }
  if (count(status.replicas) > updated) {
    return {
      status: 'Progressing',
      message: `Waiting for rollout to finish: ${count(status.replicas) - updated} old replicas are pending termination...`,
    };
  }
  if (count(status.availableReplicas) < updated) {
    return {
      status: 'Progressing',
      message: `Waiting for rollout to finish: ${count(status.availableReplicas)} of ${updated} updated replicas are available...`,
    };
  }
  return { status: 'Healthy' };
}

/**
 * The health of one live object, or undefined for kinds Argo has no health check for (ConfigMap,
 * Namespace, ...), which then do not count towards the app's health.
 */
export function resourceHealth(live: KubeObject | undefined): ResourceHealth | undefined {
  if (!live) return { status: 'Missing' };
  if (live.apiVersion === 'apps/v1' && live.kind === 'Deployment') return deploymentHealth(live);
  if (live.apiVersion === 'v1' && live.kind === 'Service') return { status: 'Healthy' };
  return undefined;
}

export interface AppHealthInput {
  /** `apps/Deployment:default/web`, as Argo 3.6 names causes. */
  id: string;
  health: ResourceHealth | undefined;
}

/**
 * setApplicationHealth: the worst resource health; missing resources only make the app Missing
 * when none of its resources exists (Argo CD >= 3.4). The message lists up to 3 causes (3.6).
 */
export function appHealth(resources: readonly AppHealthInput[]): { status: HealthStatus; message?: string } {
  const present = resources.filter((r) => r.health !== undefined && r.health.status !== 'Missing');
  if (resources.length > 0 && present.length === 0 && resources.some((r) => r.health?.status === 'Missing')) {
    return { status: 'Missing' };
  }
  let worst: HealthStatus = 'Healthy';
  for (const resource of present)
    if (isWorse(worst, resource.health!.status)) worst = resource.health!.status;
  if (worst === 'Healthy') return { status: worst };
  const causes = present.filter((r) => r.health!.status === worst).map((r) => r.id);
  const listed = causes.slice(0, 3).join(', ');
  const more = causes.length > 3 ? ` and ${causes.length - 3} more` : '';
  return { status: worst, message: `Caused by ${listed}${more}` };
}
