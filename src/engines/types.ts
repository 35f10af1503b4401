import { z } from 'zod';
import type { Revision } from '../domain/revision.ts';

export type HealthState = 'healthy' | 'progressing' | 'failed' | 'unknown' | 'suspended';

/** What an engine object says about its application, read without side effects. */
export interface Verdict {
  readonly state: HealthState;
  /** The revision that is failing (Flux `lastAttemptedRevision`, Argo `sync.revision`). */
  readonly badRevision?: Revision;
  /**
   * The ref the engine failed at when it does not say which commit that was (Argo CD after a render
   * error reports `sync.revision` as the branch it was asked to compare, not the commit it resolved):
   * the detector reads the commit from the branch head.
   */
  readonly unresolvedRevision?: string;
  /** The last revision the engine applied successfully, when the object records it and it differs. */
  readonly goodRevision?: Revision;
  /** Machine reason, usually the engine's condition reason (`HealthCheckFailed`, `StaleStatus`...). */
  readonly reason: string;
  readonly message: string;
  /** False when status describes an older generation of the spec: then nothing else is trustworthy. */
  readonly fresh: boolean;
  /** When the current Ready state began (condition `lastTransitionTime`), for grace periods and timings. */
  readonly since?: string;
}

export interface ObjectRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

// Lenient schemas: they check the fields Rewind reads and pass everything else through, because
// engine objects come from the cluster and carry much more than we need.
export const conditionSchema = z.looseObject({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().optional(),
  message: z.string().optional(),
  observedGeneration: z.number().optional(),
  lastTransitionTime: z.string().optional(),
});
export type KubeCondition = z.output<typeof conditionSchema>;

export const metadataSchema = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  generation: z.number().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export function findCondition(conditions: readonly KubeCondition[], type: string): KubeCondition | undefined {
  return conditions.find((c) => c.type === type);
}

/**
 * Status is fresh when the controller has observed the current spec generation, both on the object
 * and on its Ready condition (Flux sets both; either lagging means a reconcile has not finished).
 */
export function isFresh(
  generation: number | undefined,
  observedGeneration: number | undefined,
  ready: KubeCondition | undefined,
): boolean {
  if (generation === undefined) return true;
  if (observedGeneration !== undefined && observedGeneration < generation) return false;
  if (ready?.observedGeneration !== undefined && ready.observedGeneration < generation) return false;
  return true;
}
