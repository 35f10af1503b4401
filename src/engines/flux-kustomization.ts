import { z } from 'zod';
import { type Revision, tryParseRevision } from '../domain/revision.ts';
import {
  conditionSchema,
  findCondition,
  isFresh,
  metadataSchema,
  type ObjectRef,
  type Verdict,
} from './types.ts';

// Detection rules for Flux Kustomizations (design.md "Detection"; gitops-engines.md §2.1, §4):
// Ready=False with an apply/health failure reason is a failure of `lastAttemptedRevision`, while
// `lastAppliedRevision` is only written after apply + health checks pass, so it is the last good one.

export const kustomizationSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.literal('Kustomization').optional(),
  metadata: metadataSchema,
  spec: z
    .looseObject({
      path: z.string().optional(),
      suspend: z.boolean().optional(),
      sourceRef: z
        .looseObject({ kind: z.string(), name: z.string(), namespace: z.string().optional() })
        .optional(),
    })
    .optional(),
  status: z
    .looseObject({
      observedGeneration: z.number().optional(),
      conditions: z.array(conditionSchema).optional(),
      lastAppliedRevision: z.string().optional(),
      lastAttemptedRevision: z.string().optional(),
    })
    .optional(),
});
export type Kustomization = z.output<typeof kustomizationSchema>;

/** Ready=False reasons that mean the revision itself is broken (a revert can help). */
export const KUSTOMIZATION_FAILURE_REASONS: ReadonlySet<string> = new Set([
  'HealthCheckFailed',
  'ReconciliationFailed',
  'BuildFailed',
  'PruneFailed',
  'ValidationFailed',
  'Stalled',
  'InvalidCELExpression',
]);

function unknownVerdict(reason: string, message: string, fresh = true): Verdict {
  return { state: 'unknown', reason, message, fresh };
}

export function assessKustomization(input: unknown): Verdict {
  const parsed = kustomizationSchema.safeParse(input);
  if (!parsed.success) {
    return unknownVerdict(
      'InvalidObject',
      `not a readable Kustomization: ${parsed.error.issues[0]?.message ?? ''}`,
    );
  }
  const obj = parsed.data;
  const status = obj.status ?? {};
  const conditions = status.conditions ?? [];
  const ready = findCondition(conditions, 'Ready');
  const fresh = isFresh(obj.metadata.generation, status.observedGeneration, ready);
  const since = ready?.lastTransitionTime === undefined ? {} : { since: ready.lastTransitionTime };
  const attempted = parseOptionalRevision(status.lastAttemptedRevision);
  const applied = parseOptionalRevision(status.lastAppliedRevision);

  if (obj.spec?.suspend === true) {
    return {
      state: 'suspended',
      reason: 'Suspended',
      message: 'spec.suspend is true; Flux does not reconcile it.',
      fresh,
      ...since,
    };
  }
  if (!fresh) {
    return unknownVerdict(
      'StaleStatus',
      `status describes generation ${status.observedGeneration ?? ready?.observedGeneration ?? '?'}, spec is at ${obj.metadata.generation}; waiting for the controller.`,
      false,
    );
  }
  if (ready === undefined) return unknownVerdict('NoReadyCondition', 'no Ready condition yet.');

  const reconciling = findCondition(conditions, 'Reconciling');
  const stalled = findCondition(conditions, 'Stalled');
  const healthy = findCondition(conditions, 'Healthy');
  const message = ready.message ?? '';
  const reason = ready.reason ?? 'Unknown';

  const failed =
    (ready.status === 'False' && KUSTOMIZATION_FAILURE_REASONS.has(reason)) ||
    stalled?.status === 'True' ||
    // Healthy=False alone is not enough: it lingers from the previous attempt while a new
    // reconcile runs (Ready=Unknown, Progressing), and that new attempt may be the fix.
    (ready.status === 'False' && healthy?.status === 'False');
  if (failed) {
    const failReason =
      ready.status === 'False'
        ? reason
        : ((stalled?.status === 'True' ? stalled.reason : healthy?.reason) ?? reason);
    return {
      state: 'failed',
      reason: failReason,
      message: message || (stalled?.message ?? healthy?.message ?? ''),
      fresh,
      ...since,
      ...(attempted === undefined ? {} : { badRevision: attempted }),
      // When the failing revision is the applied one, the object does not know an earlier good revision.
      ...(applied === undefined || applied.sha === attempted?.sha ? {} : { goodRevision: applied }),
    };
  }
  if (ready.status === 'True') {
    return {
      state: 'healthy',
      reason,
      message,
      fresh,
      ...since,
      ...(applied === undefined ? {} : { goodRevision: applied }),
    };
  }
  if (reconciling?.status === 'True' || ready.status === 'Unknown' || reason === 'HealthCheckCanceled') {
    return {
      state: 'progressing',
      reason: reconciling?.reason ?? reason,
      message: reconciling?.message ?? message,
      fresh,
      ...since,
      ...(attempted === undefined ? {} : { badRevision: attempted }),
      ...(applied === undefined ? {} : { goodRevision: applied }),
    };
  }
  // Ready=False for reasons a revert does not fix (DependencyNotReady, ArtifactFailed, AccessDenied...).
  return { state: 'unknown', reason, message, fresh, ...since };
}

export interface KustomizationSource {
  readonly sourceRef: ObjectRef;
  /** Path inside the source artifact, normalised: no leading './', no trailing '/', '' for the root. */
  readonly path: string;
}

export function sourceOf(input: unknown): KustomizationSource | undefined {
  const parsed = kustomizationSchema.safeParse(input);
  if (!parsed.success) return undefined;
  const obj = parsed.data;
  const ref = obj.spec?.sourceRef;
  if (ref === undefined) return undefined;
  const namespace = ref.namespace ?? obj.metadata.namespace ?? 'flux-system';
  return {
    sourceRef: { kind: ref.kind, name: ref.name, namespace },
    path: normaliseSourcePath(obj.spec?.path ?? ''),
  };
}

export function normaliseSourcePath(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  return parts.join('/');
}

function parseOptionalRevision(raw: string | undefined): Revision | undefined {
  return raw === undefined || raw === '' ? undefined : tryParseRevision(raw);
}
