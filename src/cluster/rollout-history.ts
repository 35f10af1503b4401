// A Deployment's rollout history as the Deployment controller records it on its ReplicaSets
// (kubernetes pkg/controller/deployment/util/deployment_util.go): `deployment.kubernetes.io/revision`
// is the RS's latest rollout number, `revision-history` the numbers it held before (a reused RS is
// renumbered, not recreated). Pure: callers pass the objects as the API returns them.
import { templateImages, templatesEqual, type PodTemplate } from './template.ts';

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY_ANNOTATION = 'deployment.kubernetes.io/revision-history';
export const CHANGE_CAUSE_ANNOTATION = 'kubernetes.io/change-cause';

type Timestamp = string | Date;

export interface ObjectMetaLike {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  creationTimestamp?: Timestamp;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { uid?: string; kind?: string; name?: string; controller?: boolean }[];
}

export interface ReplicaSetLike {
  metadata?: ObjectMetaLike;
  spec?: { replicas?: number; template?: PodTemplate };
  status?: {
    replicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    observedGeneration?: number;
  };
}

export interface DeploymentConditionLike {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  lastUpdateTime?: Timestamp;
  lastTransitionTime?: Timestamp;
}

export interface DeploymentLike {
  metadata?: ObjectMetaLike;
  spec?: { replicas?: number; paused?: boolean; template?: PodTemplate };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    unavailableReplicas?: number;
    conditions?: DeploymentConditionLike[];
  };
}

export interface RolloutHistoryEntry {
  revision: number;
  /** Revisions this ReplicaSet held before `revision` (it was reused by a revert), oldest first. */
  revisionHistory: number[];
  rsName: string;
  uid: string;
  template: PodTemplate;
  images: string[];
  replicas: { desired: number; current: number; ready: number; available: number };
  createdAt?: Date;
  changeCause?: string;
}

/** The RS's `deployment.kubernetes.io/revision`, 0 when absent or unparsable (as kubectl does). */
export function revisionOf(object: { metadata?: ObjectMetaLike } | undefined): number {
  const value = Number(object?.metadata?.annotations?.[REVISION_ANNOTATION]);
  return Number.isInteger(value) && value > 0 ? value : 0;
}

/** Parses `revision-history` ("1,3"); ignores malformed entries. */
export function parseRevisionHistory(value: string | undefined): number[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((part) => Number(part.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

export function timestampOf(value: Timestamp | undefined | null): Date | undefined {
  if (value === undefined || value === null) return undefined;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * The ReplicaSets the Deployment controls (controller owner reference with the Deployment's uid).
 * When either side lacks the identifying fields (trimmed exports, synthetic input), all are kept.
 */
export function controlledReplicaSets<T extends ReplicaSetLike>(
  deployment: DeploymentLike,
  replicaSets: T[],
): T[] {
  const uid = deployment.metadata?.uid;
  if (uid === undefined) return [...replicaSets];
  return replicaSets.filter((rs) => {
    const refs = rs.metadata?.ownerReferences;
    if (refs === undefined || refs.length === 0) return true;
    return refs.some((ref) => ref.controller === true && ref.uid === uid);
  });
}

function byCreation(a: ReplicaSetLike, b: ReplicaSetLike): number {
  const ta = timestampOf(a.metadata?.creationTimestamp)?.getTime() ?? 0;
  const tb = timestampOf(b.metadata?.creationTimestamp)?.getTime() ?? 0;
  return ta - tb || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '');
}

/** Newest rollout first: highest revision, then most recently created. */
export function byRevisionDescending(a: ReplicaSetLike, b: ReplicaSetLike): number {
  return revisionOf(b) - revisionOf(a) || byCreation(b, a);
}

export function historyEntry(rs: ReplicaSetLike): RolloutHistoryEntry {
  const template = rs.spec?.template ?? {};
  const entry: RolloutHistoryEntry = {
    revision: revisionOf(rs),
    revisionHistory: parseRevisionHistory(rs.metadata?.annotations?.[REVISION_HISTORY_ANNOTATION]),
    rsName: rs.metadata?.name ?? '',
    uid: rs.metadata?.uid ?? '',
    template,
    images: templateImages(template),
    replicas: {
      desired: rs.spec?.replicas ?? 0,
      current: rs.status?.replicas ?? 0,
      ready: rs.status?.readyReplicas ?? 0,
      available: rs.status?.availableReplicas ?? 0,
    },
  };
  const createdAt = timestampOf(rs.metadata?.creationTimestamp);
  if (createdAt) entry.createdAt = createdAt;
  const changeCause = rs.metadata?.annotations?.[CHANGE_CAUSE_ANNOTATION];
  if (changeCause !== undefined) entry.changeCause = changeCause;
  return entry;
}

/** The Deployment's rollout history (what `kubectl rollout history` lists), oldest revision first. */
export function rolloutHistory(
  deployment: DeploymentLike,
  replicaSets: ReplicaSetLike[],
): RolloutHistoryEntry[] {
  return controlledReplicaSets(deployment, replicaSets)
    .sort((a, b) => byRevisionDescending(b, a))
    .map(historyEntry);
}

/**
 * The ReplicaSet serving the Deployment's current template: the oldest controlled RS whose template
 * equals it ignoring pod-template-hash (FindNewReplicaSet in deployment_util.go). Undefined while the
 * controller has not created it yet.
 */
export function activeReplicaSet<T extends ReplicaSetLike>(
  deployment: DeploymentLike,
  replicaSets: T[],
): T | undefined {
  return controlledReplicaSets(deployment, replicaSets)
    .filter((rs) => templatesEqual(rs.spec?.template, deployment.spec?.template))
    .sort(byCreation)[0];
}

/**
 * The ReplicaSet a rollback moved the Deployment away from: the newest ReplicaSet created before
 * `before` (the incident start), when the Deployment's template is served by an older one again (the
 * controller reused it, as after a revert). Undefined when the active ReplicaSet is that newest one
 * (an ordinary roll-forward) or is not known yet.
 */
export function rolledBackFrom<T extends ReplicaSetLike>(
  deployment: DeploymentLike,
  replicaSets: T[],
  before: Timestamp,
): T | undefined {
  const until = timestampOf(before);
  const active = activeReplicaSet(deployment, replicaSets);
  if (until === undefined || active === undefined) return undefined;
  const newest = controlledReplicaSets(deployment, replicaSets)
    .filter((rs) => (timestampOf(rs.metadata?.creationTimestamp)?.getTime() ?? Infinity) < until.getTime())
    .sort(byCreation)
    .at(-1);
  return newest !== undefined && newest !== active && byCreation(active, newest) < 0 ? newest : undefined;
}

export interface LastGoodCandidatesOptions {
  /** The template known to be bad; defaults to the Deployment's current template. */
  badTemplate?: PodTemplate;
  /** Only ReplicaSets created before this instant (the incident start) can hold a known-good template. */
  before?: Timestamp;
}

/**
 * Candidates for the last-good pod template, most recently rolled out first, one per distinct
 * template, excluding the bad template. The first is what `kubectl rollout undo` would pick; the
 * caller confirms it against its own record (or the engine's last-good Git revision).
 */
export function lastGoodTemplateCandidates(
  deployment: DeploymentLike,
  replicaSets: ReplicaSetLike[],
  options: LastGoodCandidatesOptions = {},
): RolloutHistoryEntry[] {
  const bad = options.badTemplate ?? deployment.spec?.template;
  const before = timestampOf(options.before);
  const out: RolloutHistoryEntry[] = [];
  for (const entry of [...rolloutHistory(deployment, replicaSets)].reverse()) {
    if (bad !== undefined && templatesEqual(entry.template, bad)) continue;
    if (before !== undefined && (entry.createdAt === undefined || entry.createdAt >= before)) continue;
    if (out.some((seen) => templatesEqual(seen.template, entry.template))) continue;
    out.push(entry);
  }
  return out;
}
