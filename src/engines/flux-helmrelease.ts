import { z } from 'zod';
import {
  conditionSchema,
  findCondition,
  isFresh,
  metadataSchema,
  type ObjectRef,
  type Verdict,
} from './types.ts';

// HelmRelease revisions are chart versions, not Git commits: the failing Git revision belongs to
// the Kustomization that applied the HelmRelease, named by Flux's owner labels.

export const helmReleaseSchema = z.looseObject({
  apiVersion: z.string().optional(),
  kind: z.literal('HelmRelease').optional(),
  metadata: metadataSchema.partial({ name: true }),
  spec: z.looseObject({ suspend: z.boolean().optional() }).optional(),
  status: z
    .looseObject({
      observedGeneration: z.number().optional(),
      conditions: z.array(conditionSchema).optional(),
      lastAttemptedRevision: z.string().optional(),
    })
    .optional(),
});

export const HELMRELEASE_FAILURE_REASONS: ReadonlySet<string> = new Set([
  'UpgradeFailed',
  'InstallFailed',
  'RetriesExceeded',
  'RollbackSucceeded',
  'RollbackFailed',
  'TestFailed',
  'UninstallFailed',
  'ReconciliationFailed',
]);

export const KUSTOMIZE_OWNER_NAME_LABEL = 'kustomize.toolkit.fluxcd.io/name';
export const KUSTOMIZE_OWNER_NAMESPACE_LABEL = 'kustomize.toolkit.fluxcd.io/namespace';

export interface HelmReleaseVerdict extends Verdict {
  /** The Flux Kustomization that applied this HelmRelease: its revisions are the Git ones. */
  readonly owner?: ObjectRef;
  /** `status.lastAttemptedRevision`: a chart version such as `6.3.5`, never a Git SHA. */
  readonly chartVersion?: string;
}

export function ownerKustomizationOf(
  labels: Readonly<Record<string, string>> | undefined,
): ObjectRef | undefined {
  const name = labels?.[KUSTOMIZE_OWNER_NAME_LABEL];
  const namespace = labels?.[KUSTOMIZE_OWNER_NAMESPACE_LABEL];
  return name === undefined || namespace === undefined
    ? undefined
    : { kind: 'Kustomization', namespace, name };
}

export function assessHelmRelease(input: unknown): HelmReleaseVerdict {
  const parsed = helmReleaseSchema.safeParse(input);
  if (!parsed.success) {
    return {
      state: 'unknown',
      reason: 'InvalidObject',
      message: `not a readable HelmRelease: ${parsed.error.issues[0]?.message ?? ''}`,
      fresh: true,
    };
  }
  const obj = parsed.data;
  const status = obj.status ?? {};
  const conditions = status.conditions ?? [];
  const ready = findCondition(conditions, 'Ready');
  const fresh = isFresh(obj.metadata.generation, status.observedGeneration, ready);
  const owner = ownerKustomizationOf(obj.metadata.labels);
  const extra = {
    ...(owner === undefined ? {} : { owner }),
    ...(status.lastAttemptedRevision === undefined ? {} : { chartVersion: status.lastAttemptedRevision }),
    ...(ready?.lastTransitionTime === undefined ? {} : { since: ready.lastTransitionTime }),
  };

  if (obj.spec?.suspend === true) {
    return {
      state: 'suspended',
      reason: 'Suspended',
      message: 'spec.suspend is true; Flux does not reconcile it.',
      fresh,
      ...extra,
    };
  }
  if (!fresh) {
    return {
      state: 'unknown',
      reason: 'StaleStatus',
      message: `status describes generation ${status.observedGeneration ?? ready?.observedGeneration ?? '?'}, spec is at ${obj.metadata.generation}; waiting for the controller.`,
      fresh: false,
      ...extra,
    };
  }
  if (ready === undefined)
    return {
      state: 'unknown',
      reason: 'NoReadyCondition',
      message: 'no Ready condition yet.',
      fresh,
      ...extra,
    };

  const stalled = findCondition(conditions, 'Stalled');
  const released = findCondition(conditions, 'Released');
  const reason = ready.reason ?? 'Unknown';
  if (ready.status === 'False' && (HELMRELEASE_FAILURE_REASONS.has(reason) || stalled?.status === 'True')) {
    // After a remediated upgrade Ready says RollbackSucceeded; Released says what actually failed.
    const cause = released?.status === 'False' && released.reason !== undefined ? released : ready;
    const stalledFirst = stalled?.status === 'True' ? stalled : cause;
    return {
      state: 'failed',
      reason: stalledFirst.reason ?? reason,
      message: [
        stalledFirst.message,
        cause !== stalledFirst ? cause.message : undefined,
        ready !== cause ? ready.message : undefined,
      ]
        .filter((m): m is string => m !== undefined && m !== '')
        .join('; '),
      fresh,
      ...extra,
    };
  }
  if (ready.status === 'True')
    return { state: 'healthy', reason, message: ready.message ?? '', fresh, ...extra };
  const reconciling = findCondition(conditions, 'Reconciling');
  if (reconciling?.status === 'True' || ready.status === 'Unknown') {
    return {
      state: 'progressing',
      reason: reconciling?.reason ?? reason,
      message: reconciling?.message ?? ready.message ?? '',
      fresh,
      ...extra,
    };
  }
  return { state: 'unknown', reason, message: ready.message ?? '', fresh, ...extra };
}
