// Writing a desired object into the store the way the sandbox's GitOps controllers apply (Flux's
// server-side apply, Argo CD's kubectl apply), and the drift test both use: the live object
// "matches" when every field Git sets has the same value live (defaults and status added by the
// server, and labels or annotations others add, are not drift).
import { recordUpdate } from './managed-fields.ts';
import type { ResourceType } from './resources.ts';
import type { KubeObject, ObjectStore } from './store.ts';

/** Fields the server owns; everything else of an object comes from its manifest. */
export const SERVER_FIELDS: ReadonlySet<string> = new Set(['apiVersion', 'kind', 'metadata', 'status']);

/** True when every field `wanted` sets has the same value in `actual` (lists element-wise). */
export function isSubset(wanted: unknown, actual: unknown): boolean {
  if (Array.isArray(wanted)) {
    return (
      Array.isArray(actual) &&
      wanted.length === actual.length &&
      wanted.every((item, index) => isSubset(item, actual[index]))
    );
  }
  if (typeof wanted === 'object' && wanted !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return false;
    return Object.entries(wanted).every(([k, v]) => isSubset(v, (actual as Record<string, unknown>)[k]));
  }
  return wanted === actual;
}

/** True when the live object carries everything `desired` sets (its labels and annotations too). */
export function matchesLive(desired: KubeObject, live: KubeObject): boolean {
  for (const [field, value] of Object.entries(desired)) {
    if (field === 'metadata') {
      if (!isSubset(desired.metadata.labels ?? {}, live.metadata.labels ?? {})) return false;
      if (!isSubset(desired.metadata.annotations ?? {}, live.metadata.annotations ?? {})) return false;
    } else if (!SERVER_FIELDS.has(field) && !isSubset(value, live[field])) return false;
  }
  return true;
}

export type WriteOutcome = 'created' | 'configured' | 'unchanged';

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseLastApplied(object: KubeObject): Record<string, unknown> | undefined {
  const text = object.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'];
  if (!text) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return isMap(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * kubectl apply's three-way merge, for maps (lists are replaced): what the manifest sets wins; a
 * field it no longer sets is removed only when the last apply set it; fields others set (status
 * aside, e.g. `kubectl rollout pause`'s spec.paused) stay.
 */
function threeWay(desired: unknown, lastApplied: unknown, live: unknown): unknown {
  if (desired === undefined) return lastApplied === undefined ? live : undefined;
  if (!isMap(desired) || !isMap(live)) return desired;
  const merged: Record<string, unknown> = {};
  const previous = isMap(lastApplied) ? lastApplied : {};
  for (const key of new Set([...Object.keys(live), ...Object.keys(desired)])) {
    const value = threeWay(desired[key], previous[key], live[key]);
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}

/**
 * Creates `desired`, or merges it into `existing` as kubectl apply does (three-way, with the last
 * applied configuration), keeping status, server fields, and the labels, annotations and fields
 * others set: a client-side apply, recorded in managedFields as an `Update` by `manager`. Throws the store's StatusError when the
 * write is refused.
 */
export function writeObject(
  store: ObjectStore,
  type: ResourceType,
  desired: KubeObject,
  existing: KubeObject | undefined,
  manager: string,
): WriteOutcome {
  if (!existing) {
    const created = structuredClone(desired);
    recordUpdate(type, undefined, created, manager);
    store.create(type, created);
    return 'created';
  }
  const next: KubeObject = structuredClone(existing);
  const lastApplied = parseLastApplied(existing);
  for (const field of new Set([...Object.keys(next), ...Object.keys(desired)])) {
    if (SERVER_FIELDS.has(field)) continue;
    const merged = threeWay(desired[field], lastApplied?.[field], existing[field]);
    if (merged === undefined) delete next[field];
    else next[field] = merged;
  }
  next.metadata.labels = { ...existing.metadata.labels, ...desired.metadata.labels };
  if (desired.metadata.annotations || existing.metadata.annotations) {
    next.metadata.annotations = { ...existing.metadata.annotations, ...desired.metadata.annotations };
  }
  recordUpdate(type, existing, next, manager);
  const stored = store.update(type, next);
  return stored.metadata.resourceVersion === existing.metadata.resourceVersion ? 'unchanged' : 'configured';
}
