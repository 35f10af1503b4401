// The Engine port for Argo CD Applications (argoproj.io/v1alpha1), following Argo CD's own status
// semantics (shared/reference/gitops-engines.md §1; argo-cd pkg/apis/application/v1alpha1/types.go,
// gitops-engine pkg/health, controller/health.go):
// - failed: health Degraded, or the last sync operation Failed/Errored;
// - health right after a sync is not trusted until the controller reconciled again
//   (`reconciledAt` after `operationState.finishedAt`, as Kargo's Argo CD health checker does);
// - Argo's history lists successful syncs, not healthy ones: the last good revision is Rewind's
//   own record (the last-healthy annotation), never history[len-2];
// - hold = automated sync off (self-heal would undo a native rollback), restored exactly as it was;
// - "apply now" = hard refresh, then a sync operation (what `argocd app sync` sets through the API).
import { z } from 'zod';
import { type Revision, tryParseRevision } from '../domain/revision.ts';
import { type Engine, pollUntil } from './engine.ts';
import { metadataSchema, type Verdict } from './types.ts';
import { normaliseSourcePath } from './flux-kustomization.ts';

const APPLICATION_KIND = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application' } as const;
export const ARGO_REFRESH_ANNOTATION = 'argocd.argoproj.io/refresh';
/** The label Argo CD's label tracking puts on every managed object (common/common.go). */
export const ARGO_INSTANCE_LABEL = 'app.kubernetes.io/instance';
/** Annotation tracking (the default since Argo CD 3.0): `<app-instance>:<group>/<kind>:<ns>/<name>`. */
export const ARGO_TRACKING_ANNOTATION = 'argocd.argoproj.io/tracking-id';
export const ARGO_DEFAULT_NAMESPACE = 'argocd';

export const applicationSchema = z.looseObject({
  metadata: metadataSchema,
  spec: z
    .looseObject({
      source: z
        .looseObject({
          repoURL: z.string(),
          path: z.string().optional(),
          targetRevision: z.string().optional(),
        })
        .optional(),
      sources: z.array(z.unknown()).optional(),
      syncPolicy: z
        .looseObject({ automated: z.looseObject({}).nullable().optional() })
        .nullable()
        .optional(),
    })
    .optional(),
  operation: z.unknown().optional(),
  status: z
    .looseObject({
      sync: z.looseObject({ status: z.string().optional(), revision: z.string().optional() }).optional(),
      health: z.looseObject({ status: z.string().optional(), message: z.string().optional() }).optional(),
      reconciledAt: z.string().optional(),
      operationState: z
        .looseObject({
          phase: z.string().optional(),
          message: z.string().optional(),
          startedAt: z.string().optional(),
          finishedAt: z.string().optional(),
          syncResult: z
            .looseObject({
              revision: z.string().optional(),
              resources: z.array(z.looseObject({ status: z.string().optional() })).optional(),
            })
            .optional(),
        })
        .optional(),
      history: z.array(z.looseObject({ revision: z.string().optional() })).optional(),
      conditions: z
        .array(
          z.looseObject({
            type: z.string(),
            message: z.string().optional(),
            lastTransitionTime: z.string().optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});
type Application = z.output<typeof applicationSchema>;

function parseApplication(object: unknown): Application | undefined {
  const parsed = applicationSchema.safeParse(object);
  return parsed.success ? parsed.data : undefined;
}

function revisionOf(raw: string | undefined): Revision | undefined {
  return raw ? tryParseRevision(raw) : undefined;
}

/** The revision live in the cluster: the last sync's, else the newest history entry's. */
function syncedRevision(app: Application): Revision | undefined {
  const op = app.status?.operationState;
  if (op?.phase === 'Succeeded') return revisionOf(op.syncResult?.revision);
  return revisionOf(app.status?.history?.at(-1)?.revision);
}

type ApplicationCondition = NonNullable<NonNullable<Application['status']>['conditions']>[number];

// What each of Argo CD's application condition types (ApplicationCondition.type) says about the
// revision Argo compared, and so whether reverting it can help:
// - ComparisonError: broken revision when the revision's manifests could not be generated
//   ("Failed to load target state: failed to generate manifest for source 1 of 1: ..." with a
//   kustomize, Helm or YAML error): nothing of it can ever be applied, sync.status is Unknown. Not
//   the revision's fault when the repository, the chart repository or the repo-server could not be
//   reached (the same prefix wrapping a fetch or connection error), nor for the other comparison
//   errors (live state, diff, health, signatures): Argo cannot judge then, and neither can Rewind.
// - SyncError: automated sync refused or failed to start. "Failed sync attempt to <sha>: ..." is
//   the failed sync of that revision (its operationState says so too): broken revision. The others
//   (auto-sync would wipe out all resources, sync windows, project rules) are guards for a person.
// - InvalidSpecError: the Application or its AppProject is wrong (destination or repository not
//   permitted, no source): Git does not hold the fix, so Rewind does not judge the revision.
// - UnknownError, DeletionError: Argo CD's own trouble, or deleting the Application: not a revision.
// - SharedResourceWarning, RepeatedResourceWarning, ExcludedResourceWarning,
//   OrphanedResourceWarning: warnings; the app still syncs and has a health.
const RENDER_ERROR = /failed to generate manifest/i;
const NOT_THE_REVISION =
  /failed to fetch|could not read|repository not found|authentication (required|failed)|unable to resolve|failed to get git client|failed to initialize repository|connection refused|no such host|i\/o timeout|deadline exceeded|code = (Unavailable|DeadlineExceeded|Canceled)|tls handshake|could not download|failed to pull/i;
const FAILED_SYNC_ATTEMPT = /^Failed sync attempt to ([0-9a-f]{40})\b/;

/** A condition saying the revision's manifests cannot be rendered (see above). */
function renderError(app: Application): ApplicationCondition | undefined {
  return app.status?.conditions?.find(
    (condition) =>
      condition.type === 'ComparisonError' &&
      RENDER_ERROR.test(condition.message ?? '') &&
      !NOT_THE_REVISION.test(condition.message ?? ''),
  );
}

/** A condition Argo CD sets when it cannot compare at all, for reasons Git does not hold. */
function cannotCompare(app: Application): ApplicationCondition | undefined {
  return app.status?.conditions?.find(
    (condition) => condition.type === 'ComparisonError' || condition.type === 'InvalidSpecError',
  );
}

function inHistory(app: Application, sha: string): boolean {
  return (app.status?.history ?? []).some((entry) => revisionOf(entry.revision)?.sha === sha);
}

/** A render error at the compared revision: the revision (a commit, or the branch Argo was asked for). */
function unrenderable(
  app: Application,
): { condition: ApplicationCondition; revision?: Revision; ref?: string } | undefined {
  const condition = renderError(app);
  if (!condition) return undefined;
  const compared = app.status?.sync?.revision ?? app.spec?.source?.targetRevision ?? '';
  const revision = revisionOf(compared);
  // A commit Argo synced before rendered then: what fails now is a fetch, not the revision.
  if (revision && inHistory(app, revision.sha)) return undefined;
  return revision ? { condition, revision } : compared ? { condition, ref: compared } : undefined;
}

export function assessApplication(object: unknown): Verdict {
  const app = parseApplication(object);
  if (!app)
    return { state: 'unknown', reason: 'InvalidObject', message: 'not a readable Application', fresh: true };
  const status = app.status ?? {};
  const health = status.health?.status ?? 'Unknown';
  const healthMessage = status.health?.message ?? '';
  const op = status.operationState;
  const target = revisionOf(status.sync?.revision);
  const synced = syncedRevision(app);
  const since = op?.finishedAt ?? op?.startedAt;
  const withSince = since ? { since } : {};

  if (op?.phase === 'Failed' || op?.phase === 'Error') {
    const bad = revisionOf(op.syncResult?.revision) ?? target;
    return {
      state: 'failed',
      reason: `Sync${op.phase}`,
      message: op.message ?? 'the sync operation failed',
      fresh: true,
      ...withSince,
      ...(bad ? { badRevision: bad } : {}),
    };
  }
  if (app.operation !== undefined || op?.phase === 'Running' || op?.phase === 'Terminating') {
    return {
      state: 'progressing',
      reason: 'OperationRunning',
      message: op?.message ?? 'a sync operation is running',
      fresh: true,
      ...withSince,
      ...(target ? { badRevision: target } : {}),
    };
  }
  // Health computed before the controller looked again after the sync describes the old objects.
  if (
    op?.finishedAt &&
    (!status.reconciledAt || Date.parse(status.reconciledAt) < Date.parse(op.finishedAt))
  ) {
    return {
      state: 'unknown',
      reason: 'StaleHealth',
      message: `health not re-assessed since the sync finished at ${op.finishedAt}; waiting for the controller.`,
      fresh: false,
    };
  }
  const broken = unrenderable(app);
  if (broken) {
    const at = broken.condition.lastTransitionTime;
    return {
      state: 'failed',
      reason: broken.condition.type,
      message: broken.condition.message ?? 'Argo CD could not render the revision',
      fresh: true,
      ...(at ? { since: at } : withSince),
      ...(broken.revision ? { badRevision: broken.revision } : { unresolvedRevision: broken.ref! }),
    };
  }
  const attempt = status.conditions
    ?.filter((condition) => condition.type === 'SyncError')
    .map((condition) => ({ condition, sha: FAILED_SYNC_ATTEMPT.exec(condition.message ?? '')?.[1] }))
    .find(({ sha }) => sha !== undefined && !inHistory(app, sha));
  if (attempt) {
    const at = attempt.condition.lastTransitionTime;
    return {
      state: 'failed',
      reason: 'SyncError',
      message: attempt.condition.message ?? '',
      fresh: true,
      ...(at ? { since: at } : withSince),
      badRevision: revisionOf(attempt.sha)!,
    };
  }
  const blocked = status.sync?.status === 'Unknown' ? cannotCompare(app) : undefined;
  if (blocked) {
    return {
      state: 'unknown',
      reason: blocked.type,
      message: `Argo CD cannot compare the application (not a revision Git can fix): ${blocked.message ?? ''}`,
      fresh: true,
    };
  }
  if (health === 'Degraded') {
    return {
      state: 'failed',
      reason: 'Degraded',
      message: healthMessage || 'Argo CD reports the application Degraded',
      fresh: true,
      ...withSince,
      ...(synced ? { badRevision: synced } : target ? { badRevision: target } : {}),
    };
  }
  if (health === 'Healthy' && status.sync?.status === 'Synced') {
    return {
      state: 'healthy',
      reason: 'Healthy',
      message: healthMessage,
      fresh: true,
      ...withSince,
      ...(target ? { goodRevision: target } : {}),
    };
  }
  if (health === 'Progressing' || health === 'Healthy' || health === 'Missing' || health === 'Suspended') {
    return {
      state: 'progressing',
      reason: health === 'Healthy' ? `Healthy${status.sync?.status ?? ''}` : health,
      message: healthMessage,
      fresh: true,
      ...withSince,
      ...(synced ? { badRevision: synced } : {}),
    };
  }
  return { state: 'unknown', reason: health, message: healthMessage, fresh: true };
}

/** `<ns>_<name>` or `<name>` (Application.InstanceName) to the Application's namespace and name. */
function instanceToApp(instance: string): { namespace: string; name: string } | undefined {
  if (instance === '') return undefined;
  const [first, second] = instance.split('_');
  return second !== undefined && first
    ? { namespace: first, name: second }
    : { namespace: ARGO_DEFAULT_NAMESPACE, name: instance };
}

export const argoApplicationEngine: Engine = {
  id: 'argo-application',
  kind: { ...APPLICATION_KIND, plural: 'applications', group: 'argoproj.io' },
  noun: 'Argo CD Application',
  listCommand: 'kubectl get applications -A',
  ref: (app) => ({ ...APPLICATION_KIND, namespace: app.namespace, name: app.name }),
  assess: assessApplication,
  attemptedRevision(object) {
    const app = parseApplication(object);
    if (!app) return undefined;
    // A render error at a branch: the commit Argo tried is not on the object.
    const broken = unrenderable(app);
    if (broken) return broken.revision;
    return (
      revisionOf(app.status?.operationState?.syncResult?.revision) ?? revisionOf(app.status?.sync?.revision)
    );
  },
  appliedRevision(object) {
    const app = parseApplication(object);
    if (!app || app.status?.sync?.status !== 'Synced') return app ? syncedRevision(app) : undefined;
    return revisionOf(app.status.sync.revision);
  },
  appliedMeansHealthy: () => false,
  // Never synced successfully at `revision` (history lists successful syncs), and either its
  // manifests could not be generated (a render ComparisonError at it, or at the branch when Argo
  // does not say which commit) or its sync operation ended Failed/Error without writing an object
  // (a ComparisonError, or a task refused in the dry run).
  failedBeforeApply(object, revision) {
    const app = parseApplication(object);
    const status = app?.status;
    if (!app || !status || inHistory(app, revision)) return false;
    const op = status.operationState;
    if (op?.phase === 'Failed' || op?.phase === 'Error') {
      const attempted = revisionOf(op.syncResult?.revision) ?? revisionOf(status.sync?.revision);
      const written = (op.syncResult?.resources ?? []).some(
        (resource) => resource.status === 'Synced' || resource.status === 'Pruned',
      );
      return attempted?.sha === revision && !written;
    }
    const broken = unrenderable(app);
    return broken !== undefined && (broken.revision === undefined || broken.revision.sha === revision);
  },
  workloadSelector: (app) =>
    `${ARGO_INSTANCE_LABEL}=${app.namespace === ARGO_DEFAULT_NAMESPACE ? app.name : `${app.namespace}_${app.name}`}`,
  appOfWorkload(deployment) {
    const tracking = deployment.metadata?.annotations?.[ARGO_TRACKING_ANNOTATION];
    if (tracking) return instanceToApp(tracking.split(':')[0] ?? '');
    return instanceToApp(deployment.metadata?.labels?.[ARGO_INSTANCE_LABEL] ?? '');
  },

  sourceRefOf(object) {
    const source = parseApplication(object)?.spec?.source;
    if (!source) return undefined;
    return {
      key: `${source.repoURL}#${source.targetRevision ?? 'HEAD'}`,
      path: normaliseSourcePath(source.path ?? ''),
    };
  },

  async source(_cluster, object) {
    const app = parseApplication(object);
    const source = app?.spec?.source;
    const label = `Application ${object.metadata?.namespace}/${object.metadata?.name}`;
    if (!source || (app?.spec?.sources?.length ?? 0) > 0) {
      return {
        kind: 'unsupported',
        reason: 'UnsupportedSource',
        message: `${label} has no single spec.source (multi-source Applications are not supported yet); revert by hand.`,
      };
    }
    const target = (source.targetRevision ?? '').trim();
    if (target === '' || target === 'HEAD' || /^[0-9a-f]{40}$/.test(target)) {
      return {
        kind: 'unsupported',
        reason: 'UnsupportedRef',
        message: `${label} follows "${target || 'HEAD'}", not a named branch; set spec.source.targetRevision to the branch (e.g. main) so a revert commit on it is deployed.`,
      };
    }
    return {
      kind: 'git',
      url: source.repoURL,
      branch: target,
      path: normaliseSourcePath(source.path ?? ''),
      key: `${source.repoURL}#${target}`,
    };
  },

  // Argo resolves the branch on refresh: status.sync.revision is the commit it compared against.
  async sourceHas(_cluster, object, revision) {
    return parseApplication(object)?.status?.sync?.revision === revision;
  },

  async applyNow(cluster, request) {
    const ref = this.ref(request.app);
    await cluster.annotate(ref, { [ARGO_REFRESH_ANNOTATION]: 'hard' });
    let fetched = true;
    if (request.release) {
      fetched = await pollUntil(async () => {
        const object = await cluster.get(ref);
        return object !== undefined && (await this.sourceHas(cluster, object, request.revision));
      }, request.fetchTimeoutMs);
      await this.release(cluster, request.app, request.release);
    }
    // A sync now (what `argocd app sync` sets): to the branch head, which contains the revert. The
    // API server refuses a second operation while one is set; the controller then syncs anyway.
    const current = await cluster.get(ref);
    if (current && parseApplication(current)?.operation === undefined) {
      await cluster.mergePatch(ref, {
        operation: { initiatedBy: { username: 'rewind' }, sync: { syncStrategy: { hook: {} } } },
      });
    }
    return { fetched };
  },

  planHold(object) {
    const automated = parseApplication(object)?.spec?.syncPolicy?.automated;
    return { automated: automated ?? null };
  },
  async hold(cluster, app) {
    await cluster.mergePatch(this.ref(app), { spec: { syncPolicy: { automated: null } } });
  },
  async release(cluster, app, hold) {
    const automated = hold['automated'];
    if (automated === null || automated === undefined) return;
    await cluster.mergePatch(this.ref(app), { spec: { syncPolicy: { automated } } });
  },
  releaseHint: (app) =>
    `Rewind turned automated sync off for Application ${app.namespace}/${app.name} (fast path / suspendWhilePending): once Git is right, turn it back on ("argocd app set ${app.name} --sync-policy automated", with --self-heal/--auto-prune as before).`,
};
