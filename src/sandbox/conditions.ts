// metav1.Condition helpers, with the semantics of fluxcd/pkg/runtime/conditions: setting a
// condition keeps its lastTransitionTime unless its status changes.

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

/** RFC 3339 with second precision, as metav1.Time serialises. */
export function kubeTime(date: Date = new Date()): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((condition) => condition.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/**
 * Returns the conditions with `next` set: replaces the condition of the same type, keeping its
 * lastTransitionTime when the status did not change. Order: Ready first, then the rest by type,
 * as Flux sorts them.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: Omit<Condition, 'lastTransitionTime'> & { lastTransitionTime?: string },
  now: Date = new Date(),
): Condition[] {
  const previous = findCondition(conditions, next.type);
  const lastTransitionTime =
    previous && previous.status === next.status
      ? previous.lastTransitionTime
      : (next.lastTransitionTime ?? kubeTime(now));
  const condition: Condition = {
    type: next.type,
    status: next.status,
    ...(next.observedGeneration === undefined ? {} : { observedGeneration: next.observedGeneration }),
    lastTransitionTime,
    reason: next.reason,
    message: next.message,
  };
  const others = (conditions ?? []).filter((c) => c.type !== next.type);
  return sortConditions([...others, condition]);
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((condition) => condition.type !== type);
}

const ORDER = ['Ready', 'Reconciling', 'Stalled'];

function sortConditions(conditions: Condition[]): Condition[] {
  const rank = (type: string): number => {
    const index = ORDER.indexOf(type);
    return index === -1 ? ORDER.length : index;
  };
  return conditions.sort((a, b) => rank(a.type) - rank(b.type) || a.type.localeCompare(b.type));
}
