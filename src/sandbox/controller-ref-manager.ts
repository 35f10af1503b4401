// Adoption and release by selector (k8s.io/kubernetes pkg/controller/controller_ref_manager.go:
// ClaimObject): a controller owns the objects whose controller ownerReference names it; it adopts
// orphans its selector matches (how `kubectl delete deployment --cascade=orphan` followed by a
// re-apply finds its ReplicaSets again) and releases what it owns once its labels stop matching.
import { controllerOf, controllerReference } from './replicaset-controller.ts';
import type { ResourceType } from './resources.ts';
import type { KubeObject, ObjectStore } from './store.ts';

interface LabelSelectorRequirement {
  key?: unknown;
  operator?: unknown;
  values?: unknown;
}

/**
 * metav1.LabelSelectorAsSelector, matched against labels. An absent or empty selector matches
 * nothing here: apps/v1 refuses one, and a controller must not claim every object.
 */
export function selectorMatches(selector: any, labels: Record<string, string> | undefined): boolean {
  const matchLabels = (selector?.matchLabels ?? {}) as Record<string, string>;
  const expressions: LabelSelectorRequirement[] = Array.isArray(selector?.matchExpressions)
    ? selector.matchExpressions
    : [];
  if (Object.keys(matchLabels).length === 0 && expressions.length === 0) return false;
  const have = labels ?? {};
  if (Object.entries(matchLabels).some(([k, v]) => have[k] !== v)) return false;
  return expressions.every((e) => {
    const key = String(e.key);
    const values = Array.isArray(e.values) ? e.values.map(String) : [];
    switch (e.operator) {
      case 'In':
        return key in have && values.includes(have[key]!);
      case 'NotIn':
        return !(key in have) || !values.includes(have[key]!);
      case 'Exists':
        return key in have;
      case 'DoesNotExist':
        return !(key in have);
      default:
        return false;
    }
  });
}

export interface ClaimOutcome {
  adopted: string[];
  released: string[];
}

/**
 * ClaimObject over `candidates` (what the owner controls plus the orphans of its namespace): adopts
 * matching orphans, releases owned objects that no longer match. An owner being deleted does
 * neither, nor is an object being deleted adopted.
 */
export function claimObjects(
  store: ObjectStore,
  type: ResourceType,
  owner: KubeObject,
  selector: unknown,
  candidates: readonly KubeObject[],
): ClaimOutcome {
  const outcome: ClaimOutcome = { adopted: [], released: [] };
  if (owner.metadata.deletionTimestamp) return outcome;
  const uid = owner.metadata.uid ?? '';
  for (const candidate of candidates) {
    const controller = controllerOf(candidate);
    const matches = selectorMatches(selector, candidate.metadata.labels);
    if (controller && controller.uid !== uid) continue;
    if (controller && !matches) {
      if (rewriteOwners(store, type, candidate, (refs) => refs.filter((ref) => ref.uid !== uid)))
        outcome.released.push(candidate.metadata.name);
    } else if (!controller && matches && !candidate.metadata.deletionTimestamp) {
      const ref = controllerReference(owner);
      // The strategic merge patch kube-controller-manager sends replaces a reference with that uid.
      if (rewriteOwners(store, type, candidate, (refs) => [...refs.filter((r) => r.uid !== uid), ref]))
        outcome.adopted.push(candidate.metadata.name);
    }
  }
  return outcome;
}

/** Writes new ownerReferences on the object, if it is still the one seen (same uid). */
function rewriteOwners(
  store: ObjectStore,
  type: ResourceType,
  seen: KubeObject,
  change: (
    refs: NonNullable<KubeObject['metadata']['ownerReferences']>,
  ) => KubeObject['metadata']['ownerReferences'] & object,
): boolean {
  let written = false;
  store.mutate(type, seen.metadata.namespace, seen.metadata.name, (object) => {
    if (object.metadata.uid !== seen.metadata.uid) return false;
    const refs = change(object.metadata.ownerReferences ?? []);
    if (refs.length > 0) object.metadata.ownerReferences = refs;
    else delete object.metadata.ownerReferences;
    written = true;
    return true;
  });
  return written;
}
