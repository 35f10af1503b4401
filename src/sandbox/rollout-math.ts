// The arithmetic and bookkeeping of Kubernetes' Deployment controller, as pure functions over plain
// API objects: surge/unavailability fenceposts, how far the new ReplicaSet may grow, proportional
// scaling, revision annotations and the Progressing/Available condition rules. Names follow
// kubernetes/pkg/controller/deployment/util/deployment_util.go so the two can be read side by side.
import type { KubeObject } from './store.ts';

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY_ANNOTATION = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/max-replicas';
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';
const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';
const DEPRECATED_ROLLBACK_TO_ANNOTATION = 'deprecated.deployment.rollback.to';
/** Kubernetes caps revision-history at this many characters, dropping the oldest numbers. */
const MAX_REVISION_HISTORY_CHARS = 2000;
/** Go's MaxInt32: "no deadline" / "no history limit". */
const MAX_INT32 = 2147483647;

/** Annotations a Deployment never copies onto its ReplicaSets (they are the controller's own). */
const ANNOTATIONS_NOT_COPIED = new Set([
  LAST_APPLIED_ANNOTATION,
  REVISION_ANNOTATION,
  REVISION_HISTORY_ANNOTATION,
  DESIRED_REPLICAS_ANNOTATION,
  MAX_REPLICAS_ANNOTATION,
  DEPRECATED_ROLLBACK_TO_ANNOTATION,
]);

export const Reason = {
  NewReplicaSetCreated: 'NewReplicaSetCreated',
  FoundNewReplicaSet: 'FoundNewReplicaSet',
  ReplicaSetUpdated: 'ReplicaSetUpdated',
  NewReplicaSetAvailable: 'NewReplicaSetAvailable',
  ProgressDeadlineExceeded: 'ProgressDeadlineExceeded',
  DeploymentPaused: 'DeploymentPaused',
  DeploymentResumed: 'DeploymentResumed',
  MinimumReplicasAvailable: 'MinimumReplicasAvailable',
  MinimumReplicasUnavailable: 'MinimumReplicasUnavailable',
} as const;

export interface DeploymentCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastUpdateTime: string;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

/** The counters of a Deployment's status (zero-valued ones are omitted when written). */
export interface DeploymentCounts {
  observedGeneration: number;
  replicas: number;
  updatedReplicas: number;
  readyReplicas: number;
  availableReplicas: number;
  unavailableReplicas: number;
}

export interface DeploymentStatus extends Partial<DeploymentCounts> {
  conditions?: DeploymentCondition[];
  collisionCount?: number;
}

/** Timestamps with milliseconds: the sandbox's deadlines are short enough that seconds would skew them. */
export function timestamp(now: number): string {
  return new Date(now).toISOString();
}

// --- integers or percentages ------------------------------------------------------------------

/** intstr.GetScaledValueFromIntOrPercent. */
export function scaledValue(value: unknown, total: number, roundUp: boolean): number {
  if (typeof value === 'number') return Math.trunc(value);
  if (typeof value === 'string') {
    const percent = /^(\d+)%$/.exec(value.trim());
    if (percent) {
      const scaled = (Number(percent[1]) * total) / 100;
      return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
    }
    const plain = Number(value);
    if (value.trim() !== '' && Number.isInteger(plain)) return plain;
  }
  throw new Error(`invalid value for IntOrString: ${JSON.stringify(value)}`);
}

/** ResolveFenceposts: surge rounds up, unavailability rounds down, and both 0 means 1 unavailable. */
export function resolveFenceposts(
  maxSurge: unknown,
  maxUnavailable: unknown,
  desired: number,
): { surge: number; unavailable: number } {
  const surge = scaledValue(maxSurge ?? '25%', desired, true);
  let unavailable = scaledValue(maxUnavailable ?? '25%', desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

export function isRollingUpdate(d: KubeObject): boolean {
  return (d.spec?.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
}

export function desiredReplicas(d: KubeObject): number {
  return d.spec?.replicas ?? 1;
}

export function maxSurge(d: KubeObject): number {
  if (!isRollingUpdate(d)) return 0;
  const rolling = d.spec?.strategy?.rollingUpdate ?? {};
  return resolveFenceposts(rolling.maxSurge, rolling.maxUnavailable, desiredReplicas(d)).surge;
}

export function maxUnavailable(d: KubeObject): number {
  const desired = desiredReplicas(d);
  if (!isRollingUpdate(d) || desired === 0) return 0;
  const rolling = d.spec?.strategy?.rollingUpdate ?? {};
  const { unavailable } = resolveFenceposts(rolling.maxSurge, rolling.maxUnavailable, desired);
  return Math.min(unavailable, desired);
}

export function hasProgressDeadline(d: KubeObject): boolean {
  const seconds = d.spec?.progressDeadlineSeconds;
  return typeof seconds === 'number' && seconds !== MAX_INT32;
}

export function revisionHistoryLimit(d: KubeObject): number | undefined {
  const limit = d.spec?.revisionHistoryLimit;
  return typeof limit === 'number' && limit !== MAX_INT32 ? limit : undefined;
}

// --- ReplicaSet counts ------------------------------------------------------------------------

export function specReplicas(rs: KubeObject): number {
  return rs.spec?.replicas ?? 0;
}

function statusCount(rs: KubeObject, field: string): number {
  const value = rs.status?.[field];
  return typeof value === 'number' ? value : 0;
}

/** Sum of spec.replicas: the Pods that exist or are about to (GetReplicaCountForReplicaSets). */
export function sumSpecReplicas(sets: readonly KubeObject[]): number {
  return sets.reduce((sum, rs) => sum + specReplicas(rs), 0);
}

export function sumStatus(
  sets: readonly KubeObject[],
  field: 'replicas' | 'readyReplicas' | 'availableReplicas',
): number {
  return sets.reduce((sum, rs) => sum + statusCount(rs, field), 0);
}

export function availableReplicasOf(rs: KubeObject): number {
  return statusCount(rs, 'availableReplicas');
}

export function filterActive(sets: readonly (KubeObject | undefined)[]): KubeObject[] {
  return sets.filter((rs): rs is KubeObject => rs !== undefined && specReplicas(rs) > 0);
}

/** How many replicas the new ReplicaSet may have now (NewRSNewReplicas). */
export function newReplicaSetReplicas(
  d: KubeObject,
  allSets: readonly KubeObject[],
  newSet: KubeObject,
): number {
  const desired = desiredReplicas(d);
  if (!isRollingUpdate(d)) return desired;
  const current = sumSpecReplicas(allSets);
  const maxTotal = desired + maxSurge(d);
  if (current >= maxTotal) return specReplicas(newSet);
  const scaleUp = Math.min(maxTotal - current, desired - specReplicas(newSet));
  return specReplicas(newSet) + scaleUp;
}

/** IsSaturated: the new ReplicaSet has every desired replica, all of them available. */
export function isSaturated(d: KubeObject, rs: KubeObject | undefined): boolean {
  if (!rs) return false;
  const desired = desiredReplicas(d);
  return (
    rs.metadata.annotations?.[DESIRED_REPLICAS_ANNOTATION] === String(desired) &&
    specReplicas(rs) === desired &&
    availableReplicasOf(rs) === desired
  );
}

/** GetProportion: this ReplicaSet's share of a scaling event, bounded by what is left to hand out. */
export function proportion(d: KubeObject, rs: KubeObject, toAdd: number, added: number): number {
  if (specReplicas(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  const fraction = replicaSetFraction(d, rs);
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

function replicaSetFraction(d: KubeObject, rs: KubeObject): number {
  const desired = desiredReplicas(d);
  if (desired === 0) return -specReplicas(rs);
  const deploymentReplicas = desired + maxSurge(d);
  const annotated = Number(rs.metadata.annotations?.[MAX_REPLICAS_ANNOTATION]);
  const previousMax = Number.isInteger(annotated) ? annotated : (d.status?.replicas ?? 0);
  if (previousMax <= 0) return 0;
  const size = (specReplicas(rs) * deploymentReplicas) / previousMax;
  return roundHalfAwayFromZero(size) - specReplicas(rs);
}

function roundHalfAwayFromZero(value: number): number {
  return Math.sign(value) * Math.round(Math.abs(value));
}

// --- revisions and annotations ----------------------------------------------------------------

export function revisionOf(rs: KubeObject): number {
  const revision = Number(rs.metadata.annotations?.[REVISION_ANNOTATION]);
  return Number.isInteger(revision) && revision > 0 ? revision : 0;
}

export function maxRevision(sets: readonly KubeObject[]): number {
  return sets.reduce((max, rs) => Math.max(max, revisionOf(rs)), 0);
}

/** Copies the Deployment's own annotations (change-cause, ...) onto a ReplicaSet; true if any changed. */
function copyDeploymentAnnotations(d: KubeObject, rs: KubeObject): boolean {
  const annotations = (rs.metadata.annotations ??= {});
  let changed = false;
  for (const [key, value] of Object.entries(d.metadata.annotations ?? {})) {
    if (ANNOTATIONS_NOT_COPIED.has(key) || annotations[key] === value) continue;
    annotations[key] = value;
    changed = true;
  }
  return changed;
}

export function setReplicasAnnotations(rs: KubeObject, desired: number, max: number): boolean {
  const annotations = (rs.metadata.annotations ??= {});
  let changed = false;
  if (annotations[DESIRED_REPLICAS_ANNOTATION] !== String(desired)) {
    annotations[DESIRED_REPLICAS_ANNOTATION] = String(desired);
    changed = true;
  }
  if (annotations[MAX_REPLICAS_ANNOTATION] !== String(max)) {
    annotations[MAX_REPLICAS_ANNOTATION] = String(max);
    changed = true;
  }
  return changed;
}

export function replicasAnnotationsNeedUpdate(rs: KubeObject, desired: number, max: number): boolean {
  const annotations = rs.metadata.annotations ?? {};
  return (
    annotations[DESIRED_REPLICAS_ANNOTATION] !== String(desired) ||
    annotations[MAX_REPLICAS_ANNOTATION] !== String(max)
  );
}

/**
 * SetNewReplicaSetAnnotations: copies the Deployment's annotations, raises the revision to
 * `newRevision` and, when an existing ReplicaSet is brought back, appends its previous revision to
 * `revision-history`. A ReplicaSet about to be created also gets its replica annotations.
 */
export function setNewReplicaSetAnnotations(
  d: KubeObject,
  rs: KubeObject,
  newRevision: number,
  exists: boolean,
): boolean {
  let changed = copyDeploymentAnnotations(d, rs);
  const annotations = (rs.metadata.annotations ??= {});
  const oldRevisionText = annotations[REVISION_ANNOTATION] ?? '';
  const oldRevision = oldRevisionText === '' ? 0 : Number(oldRevisionText);
  if (!Number.isInteger(oldRevision)) return changed;
  if (oldRevision < newRevision) {
    annotations[REVISION_ANNOTATION] = String(newRevision);
    changed = true;
    if (oldRevisionText !== '') {
      const history = annotations[REVISION_HISTORY_ANNOTATION] ?? '';
      const previous = history === '' ? [] : history.split(',');
      previous.push(oldRevisionText);
      while (previous.join(',').length > MAX_REVISION_HISTORY_CHARS && previous.length > 1) previous.shift();
      annotations[REVISION_HISTORY_ANNOTATION] = previous.join(',');
    }
  }
  if (!exists && setReplicasAnnotations(rs, desiredReplicas(d), desiredReplicas(d) + maxSurge(d))) {
    changed = true;
  }
  return changed;
}

// --- conditions -------------------------------------------------------------------------------

export function getCondition(
  status: DeploymentStatus | undefined,
  type: string,
): DeploymentCondition | undefined {
  return status?.conditions?.find((condition) => condition.type === type);
}

export function newCondition(
  type: string,
  status: DeploymentCondition['status'],
  reason: string,
  message: string,
  now: number,
): DeploymentCondition {
  const at = timestamp(now);
  return { type, status, lastUpdateTime: at, lastTransitionTime: at, reason, message };
}

/**
 * SetDeploymentCondition: a condition with the same status and reason is left alone; a status
 * that does not change keeps its lastTransitionTime. The new condition goes last.
 */
export function setCondition(status: DeploymentStatus, condition: DeploymentCondition): void {
  const current = getCondition(status, condition.type);
  if (current && current.status === condition.status && current.reason === condition.reason) return;
  const next = { ...condition };
  if (current && current.status === condition.status) next.lastTransitionTime = current.lastTransitionTime;
  status.conditions = [...(status.conditions ?? []).filter((c) => c.type !== condition.type), next];
}

export function removeCondition(status: DeploymentStatus, type: string): void {
  if (!status.conditions) return;
  status.conditions = status.conditions.filter((condition) => condition.type !== type);
}

// --- rollout state ----------------------------------------------------------------------------

/** DeploymentComplete: every desired replica updated and available, and the spec observed. */
export function deploymentComplete(d: KubeObject, status: DeploymentStatus | undefined): boolean {
  const desired = desiredReplicas(d);
  return (
    (status?.updatedReplicas ?? 0) === desired &&
    (status?.replicas ?? 0) === desired &&
    (status?.availableReplicas ?? 0) === desired &&
    (status?.observedGeneration ?? 0) >= (d.metadata.generation ?? 0)
  );
}

/** DeploymentProgressing: more updated, ready or available replicas, or fewer old ones. */
export function deploymentProgressing(d: KubeObject, next: DeploymentStatus): boolean {
  const previous: DeploymentStatus = d.status ?? {};
  const oldBefore = (previous.replicas ?? 0) - (previous.updatedReplicas ?? 0);
  const oldAfter = (next.replicas ?? 0) - (next.updatedReplicas ?? 0);
  return (
    (next.updatedReplicas ?? 0) > (previous.updatedReplicas ?? 0) ||
    oldAfter < oldBefore ||
    (next.readyReplicas ?? 0) > (previous.readyReplicas ?? 0) ||
    (next.availableReplicas ?? 0) > (previous.availableReplicas ?? 0)
  );
}

/** When the Progressing condition's deadline passes (ms since epoch), or undefined without one. */
export function progressDeadline(d: KubeObject, status: DeploymentStatus): number | undefined {
  if (!hasProgressDeadline(d)) return undefined;
  const condition = getCondition(status, 'Progressing');
  if (!condition) return undefined;
  return Date.parse(condition.lastUpdateTime) + (d.spec.progressDeadlineSeconds as number) * 1000;
}

/** DeploymentTimedOut: no progress since the Progressing condition's lastUpdateTime + deadline. */
export function deploymentTimedOut(d: KubeObject, status: DeploymentStatus, now: number): boolean {
  const condition = getCondition(status, 'Progressing');
  if (!hasProgressDeadline(d) || !condition) return false;
  if (condition.reason === Reason.NewReplicaSetAvailable) return false;
  if (condition.reason === Reason.ProgressDeadlineExceeded) return true;
  const deadline = progressDeadline(d, status);
  return deadline !== undefined && deadline < now;
}
