// The Engine port for Argo CD Applications (argoproj.io/v1alpha1), following Argo CD's own status
// semantics (argo-cd pkg/apis/application/v1alpha1/types.go,
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
      conditions: z.array(z.looseObject({ type: z.string(), message: z.string().optional() })).optional(),
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
  // manifests could not be generated (ComparisonError) or its sync operation ended Failed/Error
  // without writing an object (a ComparisonError, or a task refused in the dry run).
  failedBeforeApply(object, revision) {
    const app = parseApplication(object);
    const status = app?.status;
    if (!status || (status.history ?? []).some((entry) => revisionOf(entry.revision)?.sha === revision))
      return false;
    const op = status.operationState;
    if (op?.phase === 'Failed' || op?.phase === 'Error') {
      const attempted = revisionOf(op.syncResult?.revision) ?? revisionOf(status.sync?.revision);
      const written = (op.syncResult?.resources ?? []).some(
        (resource) => resource.status === 'Synced' || resource.status === 'Pruned',
      );
      return attempted?.sha === revision && !written;
    }
    return (
      revisionOf(status.sync?.revision)?.sha === revision &&
      (status.conditions ?? []).some((condition) => condition.type === 'ComparisonError')
    );
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
