// What a DELETE asks for, as kube-apiserver reads it (staging/src/k8s.io/apiserver/pkg/registry/
// generic/registry/store.go: shouldOrphanDependents, shouldDeleteDependents,
// deletionFinalizersForGarbageCollection; pkg/registry/core/pod/strategy.go: CheckGracefulDelete):
// the propagation policy turned into the garbage collector's finalizers, and a Pod's grace period.
import type { KubeObject } from './store.ts';

/** The garbage collector deletes this object's dependents first (propagationPolicy=Foreground). */
export const FOREGROUND_FINALIZER = 'foregroundDeletion';
/** The garbage collector removes this object's ownerReferences from its dependents first. */
export const ORPHAN_FINALIZER = 'orphan';

export type PropagationPolicy = 'Foreground' | 'Background' | 'Orphan';

/** The fields of meta/v1 DeleteOptions the sandbox acts on. */
export interface DeleteOptions {
  propagationPolicy?: PropagationPolicy;
  /** Legacy: true = Orphan, false = the kind's default (Background). */
  orphanDependents?: boolean;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

const POLICIES: readonly string[] = ['Foreground', 'Background', 'Orphan'];

/** Thrown for DeleteOptions kube-apiserver answers 422 to; the caller wraps it in a Status. */
export class InvalidDeleteOptions extends Error {}

/**
 * DeleteOptions from a request: the body (kubectl, client-go) and the query string (client-node
 * sends both); the body wins where both say something.
 */
export function deleteOptionsOf(body: unknown, query: URLSearchParams): DeleteOptions {
  const fromBody = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const options: DeleteOptions = {};
  const policy = fromBody['propagationPolicy'] ?? query.get('propagationPolicy') ?? undefined;
  const orphan = fromBody['orphanDependents'] ?? queryBoolean(query.get('orphanDependents'));
  const grace = fromBody['gracePeriodSeconds'] ?? queryNumber(query.get('gracePeriodSeconds'));
  if (policy !== undefined && policy !== null) {
    if (typeof policy !== 'string' || !POLICIES.includes(policy)) {
      throw new InvalidDeleteOptions(
        `propagationPolicy: Unsupported value: ${JSON.stringify(policy)}: supported values: "Foreground", "Background", "Orphan", "nil"`,
      );
    }
    options.propagationPolicy = policy as PropagationPolicy;
  }
  if (typeof orphan === 'boolean') options.orphanDependents = orphan;
  if (options.orphanDependents !== undefined && options.propagationPolicy !== undefined) {
    throw new InvalidDeleteOptions(
      `propagationPolicy: Invalid value: "${options.propagationPolicy}": orphanDependents and deletionPropagation cannot be both set`,
    );
  }
  if (typeof grace === 'number' && Number.isInteger(grace)) options.gracePeriodSeconds = grace;
  const preconditions = fromBody['preconditions'];
  if (typeof preconditions === 'object' && preconditions !== null) {
    options.preconditions = preconditions;
  }
  return options;
}

function queryBoolean(value: string | null): boolean | undefined {
  return value === 'true' ? true : value === 'false' ? false : undefined;
}

function queryNumber(value: string | null): number | undefined {
  if (value === null || value === '') return undefined;
  const n = Number(value);
  return Number.isInteger(n) ? n : undefined;
}

/**
 * The finalizers an object carries once this DELETE is accepted: an explicit policy (or the legacy
 * orphanDependents) replaces whichever of `orphan`/`foregroundDeletion` it had; without one, the
 * finalizers it already has decide, and the default (Background) adds none.
 */
export function finalizersAfterDelete(existing: readonly string[], options: DeleteOptions): string[] {
  let orphan: boolean;
  let foreground: boolean;
  if (options.orphanDependents !== undefined) {
    orphan = options.orphanDependents;
    foreground = false;
  } else if (options.propagationPolicy !== undefined) {
    orphan = options.propagationPolicy === 'Orphan';
    foreground = options.propagationPolicy === 'Foreground';
  } else {
    foreground = existing.includes(FOREGROUND_FINALIZER);
    orphan = !foreground && existing.includes(ORPHAN_FINALIZER);
  }
  const others = existing.filter((f) => f !== ORPHAN_FINALIZER && f !== FOREGROUND_FINALIZER);
  if (orphan) others.push(ORPHAN_FINALIZER);
  if (foreground) others.push(FOREGROUND_FINALIZER);
  return others;
}

/**
 * CheckGracefulDelete for Pods: the request's gracePeriodSeconds, else the spec's
 * terminationGracePeriodSeconds (defaulted to 30 by the API server), and 0 (at once) for a Pod no
 * kubelet runs: not bound to a node, or already Succeeded/Failed.
 */
export function podGracePeriodSeconds(pod: KubeObject, options: DeleteOptions): number {
  const spec = pod.spec?.terminationGracePeriodSeconds;
  let period = options.gracePeriodSeconds ?? (typeof spec === 'number' ? spec : 30);
  if (!pod.spec?.nodeName) period = 0;
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') period = 0;
  return period < 0 ? 1 : period;
}

export function finalizersOf(object: KubeObject): string[] {
  const finalizers = object.metadata['finalizers'];
  return Array.isArray(finalizers) ? finalizers.filter((f): f is string => typeof f === 'string') : [];
}

/** Kubernetes' timestamps: RFC 3339, whole seconds. */
export function kubeTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}
