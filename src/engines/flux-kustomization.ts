import { z } from 'zod';
import type { KubeObjectJson } from '../cluster/informer.ts';
import { type Revision, tryParseRevision } from '../domain/revision.ts';
import { type Engine, type EngineCluster, type EngineObjectRef, pollUntil } from './engine.ts';
import {
  conditionSchema,
  findCondition,
  isFresh,
  metadataSchema,
  type ObjectRef,
  type Verdict,
} from './types.ts';

// Detection rules for Flux Kustomizations (kustomize-controller's status conditions and revisions):
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

/**
 * Ready=False reasons of a reconcile that stops before or while applying: kustomize build errors and
 * the apply's own failures (Flux dry-runs each stage on the server before applying it, so these
 * usually apply nothing; an apply error after a passed dry run can leave part of the revision
 * applied, which is why the pipeline also checks the workloads). Not HealthCheckFailed or
 * PruneFailed, which come after the apply.
 */
const KUSTOMIZATION_NOT_APPLIED_REASONS: ReadonlySet<string> = new Set([
  'BuildFailed',
  'ValidationFailed',
  'ReconciliationFailed',
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

// ---- The Engine port for Flux Kustomizations -------------------------------------------------

const KUSTOMIZATION_KIND = { apiVersion: 'kustomize.toolkit.fluxcd.io/v1', kind: 'Kustomization' } as const;
const GIT_REPOSITORY_KIND = { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'GitRepository' } as const;
/** `flux reconcile` patches this annotation; any new value triggers a reconcile (fluxcd/pkg apis/meta). */
export const RECONCILE_REQUESTED_AT = 'reconcile.fluxcd.io/requestedAt';
export const KUSTOMIZE_NAME_LABEL = 'kustomize.toolkit.fluxcd.io/name';
export const KUSTOMIZE_NAMESPACE_LABEL = 'kustomize.toolkit.fluxcd.io/namespace';

function gitRepositoryRef(object: KubeObjectJson): EngineObjectRef | undefined {
  const source = sourceOf(object);
  if (!source || source.sourceRef.kind !== 'GitRepository') return undefined;
  return { ...GIT_REPOSITORY_KIND, namespace: source.sourceRef.namespace, name: source.sourceRef.name };
}

async function artifactRevision(
  cluster: EngineCluster,
  object: KubeObjectJson,
): Promise<Revision | undefined> {
  const ref = gitRepositoryRef(object);
  const repo = ref ? await cluster.get(ref) : undefined;
  return parseOptionalRevision(repo?.status?.artifact?.revision as string | undefined);
}

export const fluxKustomizationEngine: Engine = {
  id: 'flux-kustomization',
  kind: { ...KUSTOMIZATION_KIND, plural: 'kustomizations', group: 'kustomize.toolkit.fluxcd.io' },
  noun: 'Flux Kustomization',
  listCommand: 'kubectl get kustomizations -A',
  ref: (app) => ({ ...KUSTOMIZATION_KIND, namespace: app.namespace, name: app.name }),
  assess: assessKustomization,
  attemptedRevision: (object) =>
    parseOptionalRevision(object.status?.lastAttemptedRevision as string | undefined),
  appliedRevision: (object) =>
    parseOptionalRevision(object.status?.lastAppliedRevision as string | undefined),
  // lastAppliedRevision is written after the health checks pass only when there are some.
  appliedMeansHealthy: (object) =>
    object.spec?.wait === true || ((object.spec?.healthChecks as unknown[] | undefined)?.length ?? 0) > 0,
  // lastAppliedRevision is written after a successful apply only: a failed attempt at a revision
  // Flux never applied, stopped for a reason that comes before or at the apply.
  failedBeforeApply(object, revision) {
    const verdict = assessKustomization(object);
    return (
      verdict.state === 'failed' &&
      KUSTOMIZATION_NOT_APPLIED_REASONS.has(verdict.reason) &&
      verdict.badRevision?.sha === revision &&
      this.appliedRevision(object)?.sha !== revision
    );
  },
  workloadSelector: (app) =>
    `${KUSTOMIZE_NAME_LABEL}=${app.name},${KUSTOMIZE_NAMESPACE_LABEL}=${app.namespace}`,
  appOfWorkload(deployment) {
    const labels = deployment.metadata?.labels ?? {};
    const name = labels[KUSTOMIZE_NAME_LABEL];
    const namespace = labels[KUSTOMIZE_NAMESPACE_LABEL];
    return name && namespace ? { namespace, name } : undefined;
  },

  sourceRefOf(object) {
    const source = sourceOf(object);
    if (!source) return undefined;
    return { key: `${source.sourceRef.namespace}/${source.sourceRef.name}`, path: source.path };
  },

  async source(cluster, object) {
    const source = sourceOf(object);
    const repoRef = gitRepositoryRef(object);
    if (!source || !repoRef) {
      return {
        kind: 'unsupported',
        reason: 'UnsupportedSource',
        message: `Kustomization ${object.metadata?.namespace}/${object.metadata?.name} does not come from a GitRepository; Rewind can only revert Git sources.`,
      };
    }
    const repo = await cluster.get(repoRef);
    const url = repo?.spec?.url as string | undefined;
    const ref = (repo?.spec?.ref ?? {}) as Record<string, unknown>;
    const branch = ref['branch'] as string | undefined;
    // Flux's default ref is the master branch; tags, semver ranges and pinned commits cannot take a revert.
    if (repo && !branch && (ref['tag'] || ref['semver'] || ref['commit'] || ref['name'])) {
      return {
        kind: 'unsupported',
        reason: 'UnsupportedRef',
        message: `GitRepository ${repoRef.namespace}/${repoRef.name} follows a tag, semver range or commit, not a branch; a revert commit would not be deployed. Roll back by moving that ref.`,
      };
    }
    if (!repo || !url) {
      return {
        kind: 'unsupported',
        reason: 'SourceNotFound',
        message: `GitRepository ${repoRef.namespace}/${repoRef.name} not found or has no spec.url.`,
      };
    }
    return {
      kind: 'git',
      url,
      branch: branch ?? 'master',
      path: source.path,
      key: `${repoRef.namespace}/${repoRef.name}`,
    };
  },

  async sourceHas(cluster, object, revision) {
    return (await artifactRevision(cluster, object))?.sha === revision;
  },

  // `flux reconcile kustomization --with-source`: the source first, then the Kustomization. Resuming
  // triggers a reconcile at once, so it waits for the artifact: with the old one, Flux would re-apply
  // the bad revision and then block on its health check for spec.timeout.
  async applyNow(cluster, request) {
    const object = await cluster.get(this.ref(request.app));
    if (!object) return { fetched: false };
    const repoRef = gitRepositoryRef(object);
    if (repoRef) await cluster.annotate(repoRef, { [RECONCILE_REQUESTED_AT]: request.token });
    let fetched = true;
    if (request.release) {
      fetched = await pollUntil(
        () => this.sourceHas(cluster, object, request.revision),
        request.fetchTimeoutMs,
      );
      await this.release(cluster, request.app, request.release);
    }
    await cluster.annotate(this.ref(request.app), { [RECONCILE_REQUESTED_AT]: request.token });
    return { fetched };
  },

  // `flux suspend|resume`: a merge patch of spec.suspend, nothing else.
  // A Kustomization a person had suspended already stays suspended when Rewind lets go.
  planHold: (object) => ({ wasSuspended: object.spec?.suspend === true }),
  async hold(cluster, app) {
    await cluster.mergePatch(this.ref(app), { spec: { suspend: true } });
  },
  async release(cluster, app, hold) {
    if (hold['wasSuspended'] === true) return;
    await cluster.mergePatch(this.ref(app), { spec: { suspend: false } });
  },
  releaseHint: (app) =>
    `Rewind left Kustomization ${app.namespace}/${app.name} suspended (fast path / suspendWhilePending): once Git is right, run "flux resume kustomization ${app.name} -n ${app.namespace}".`,
};
