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
import { applicationSetHoldRefusal } from './argo-applicationset.ts';

const APPLICATION_KIND = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application' } as const;
export const ARGO_REFRESH_ANNOTATION = 'argocd.argoproj.io/refresh';
/** The label Argo CD's label tracking puts on every managed object (common/common.go). */
export const ARGO_INSTANCE_LABEL = 'app.kubernetes.io/instance';
/** Annotation tracking (the default since Argo CD 3.0): `<app-instance>:<group>/<kind>:<ns>/<name>`. */
export const ARGO_TRACKING_ANNOTATION = 'argocd.argoproj.io/tracking-id';
export const ARGO_DEFAULT_NAMESPACE = 'argocd';

const sourceSchema = z.looseObject({
  repoURL: z.string(),
  path: z.string().optional(),
  targetRevision: z.string().optional(),
  chart: z.string().optional(),
  ref: z.string().optional(),
  helm: z.looseObject({ valueFiles: z.array(z.string()).optional() }).optional(),
});
type ApplicationSource = z.output<typeof sourceSchema>;
const revisionsSchema = z.array(z.string()).optional();

export const applicationSchema = z.looseObject({
  metadata: metadataSchema,
  spec: z
    .looseObject({
      source: sourceSchema.optional(),
      sources: z.array(sourceSchema).optional(),
      syncPolicy: z
        .looseObject({ automated: z.looseObject({}).nullable().optional() })
        .nullable()
        .optional(),
    })
    .optional(),
  operation: z.unknown().optional(),
  status: z
    .looseObject({
      sync: z
        .looseObject({
          status: z.string().optional(),
          revision: z.string().optional(),
          revisions: revisionsSchema,
        })
        .optional(),
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
              revisions: revisionsSchema,
              resources: z.array(z.looseObject({ status: z.string().optional() })).optional(),
            })
            .optional(),
        })
        .optional(),
      history: z
        .array(z.looseObject({ revision: z.string().optional(), revisions: revisionsSchema }))
        .optional(),
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

// Multi-source Applications (spec.sources[]) report one revision per source, index-aligned
// (status.sync.revisions, syncResult.revisions, history[].revisions). Rewind acts on one Git
// repository at a time: the app's revision, as the pipeline sees it, is that of its tracked
// source, the Git source (not a `chart:` from a Helm repository) whose revision changed in the
// app's newest change (status.history), else its first Git source. Such a revision's raw form
// keeps every source's revision (`<rev0>,<rev1>@sha1:<tracked sha>`), so Rewind's record of a
// healthy revision can be read back for whichever source a later failure is tracked on.

function isMulti(app: Application): boolean {
  return (app.spec?.sources?.length ?? 0) > 0;
}

/** Indices of the sources that live in Git (a `chart:` source comes from a Helm repository). */
function gitSourceIndices(app: Application): number[] {
  return (app.spec?.sources ?? []).flatMap((source, i) => (source.chart ? [] : [i]));
}

/** Which source a multi-source revision list is tracked on (see above). */
function trackedIndex(app: Application, revisions: readonly string[]): number | undefined {
  const git = gitSourceIndices(app).filter((i) => revisionOf(revisions[i]) !== undefined);
  const key = revisions.join(',');
  const previous = [...(app.status?.history ?? [])]
    .reverse()
    .find((entry) => entry.revisions && entry.revisions.join(',') !== key)?.revisions;
  return git.find((i) => previous !== undefined && previous[i] !== revisions[i]) ?? git[0];
}

function multiRevision(app: Application, revisions: readonly string[] | undefined): Revision | undefined {
  if (!revisions) return undefined;
  const index = trackedIndex(app, revisions);
  const tracked = index === undefined ? undefined : revisionOf(revisions[index]);
  return tracked ? { sha: tracked.sha, raw: `${revisions.join(',')}@sha1:${tracked.sha}` } : undefined;
}

/** The revision the controller compared against (status.sync.revision, or the tracked source's). */
function targetRevision(app: Application): Revision | undefined {
  const sync = app.status?.sync;
  return isMulti(app) ? multiRevision(app, sync?.revisions) : revisionOf(sync?.revision);
}

/** The revision of the last sync operation's result. */
function resultRevision(app: Application): Revision | undefined {
  const result = app.status?.operationState?.syncResult;
  return isMulti(app) ? multiRevision(app, result?.revisions) : revisionOf(result?.revision);
}

/** The revision live in the cluster: the last sync's, else the newest history entry's. */
function syncedRevision(app: Application): Revision | undefined {
  const op = app.status?.operationState;
  if (op?.phase === 'Succeeded') return resultRevision(app);
  const last = app.status?.history?.at(-1);
  return isMulti(app) ? multiRevision(app, last?.revisions) : revisionOf(last?.revision);
}

/** Whether a history entry deployed `sha` (any source's revision of a multi-source entry). */
function historyHas(app: Application, sha: string): boolean {
  return (app.status?.history ?? []).some(
    (entry) =>
      revisionOf(entry.revision)?.sha === sha ||
      (entry.revisions ?? []).some((r) => revisionOf(r)?.sha === sha),
  );
}

/**
 * Rewind's record of a healthy revision, for the source the app's current revision is tracked on
 * (a multi-source record keeps every source's revision).
 */
function recordedArgoRevision(object: unknown, raw: string): Revision | undefined {
  const app = parseApplication(object);
  const recorded = tryParseRevision(raw);
  if (!app || !isMulti(app) || !recorded) return recorded;
  const at = raw.lastIndexOf('@');
  const revisions = raw.slice(0, Math.max(at, 0)).split(',');
  const current =
    app.status?.operationState?.syncResult?.revisions ?? app.status?.sync?.revisions ?? revisions;
  const index = trackedIndex(app, current);
  const tracked = index === undefined ? undefined : revisionOf(revisions[index]);
  return tracked ? { sha: tracked.sha, raw } : undefined;
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

/** A render error at the compared revision: the revision (a commit, or the branch Argo was asked for). */
function unrenderable(
  app: Application,
): { condition: ApplicationCondition; revision?: Revision; ref?: string } | undefined {
  const condition = renderError(app);
  if (!condition) return undefined;
  const compared = app.status?.sync?.revision ?? app.spec?.source?.targetRevision ?? '';
  const revision = revisionOf(compared);
  // A commit Argo synced before rendered then: what fails now is a fetch, not the revision.
  if (revision && historyHas(app, revision.sha)) return undefined;
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
  const target = targetRevision(app);
  const synced = syncedRevision(app);
  const since = op?.finishedAt ?? op?.startedAt;
  const withSince = since ? { since } : {};

  if (op?.phase === 'Failed' || op?.phase === 'Error') {
    const bad = resultRevision(app) ?? target;
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
    .find(({ sha }) => sha !== undefined && !historyHas(app, sha));
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

/**
 * App of apps: a parent Application whose only unhealthy resources are child Applications (Argo
 * aggregates a child's health into its parent when the Application health check is configured) is
 * not the app to act on: the child is, with its own source and workloads. The parent's verdict is
 * then "progressing" until its children are healthy, so its revision is never taken for a culprit.
 */
function parentVerdict(object: unknown, verdict: Verdict): Verdict {
  if (verdict.state !== 'failed' || verdict.reason !== 'Degraded') return verdict;
  const status = (object as { status?: { resources?: unknown } } | undefined)?.status;
  type ResourceStatus = { group?: unknown; kind?: unknown; health?: { status?: unknown } } | undefined;
  const resources = Array.isArray(status?.resources) ? (status.resources as ResourceStatus[]) : [];
  const degraded = resources.filter((resource) => resource?.health?.status === 'Degraded');
  const causes = [...verdict.message.matchAll(/(?:Caused by |, )([\w.]*\/\w+):/g)].map((m) => m[1]);
  const children =
    degraded.length > 0
      ? degraded.every((resource) => resource?.kind === 'Application' && resource.group === 'argoproj.io')
      : causes.length > 0 && causes.every((cause) => cause === 'argoproj.io/Application');
  if (!children) return verdict;
  return {
    ...verdict,
    state: 'progressing',
    reason: 'ChildApplicationDegraded',
    message: `only child Applications are Degraded (${verdict.message}); Rewind acts on the child Application, not on this parent.`,
  };
}

/**
 * The Git source Rewind reverts in, and the app's directory there: spec.source, or the tracked
 * source of a multi-source app. A source that only lends value files (`ref:` without `path:`)
 * is known by the directory of the files the others take from it (`$<ref>/<dir>/values.yaml`).
 */
function trackedSource(app: Application): { source: ApplicationSource; path: string } | undefined {
  if (!isMulti(app)) {
    const source = app.spec?.source;
    return source ? { source, path: normaliseSourcePath(source.path ?? '') } : undefined;
  }
  const sources = app.spec?.sources ?? [];
  const current = app.status?.operationState?.syncResult?.revisions ?? app.status?.sync?.revisions;
  const index = (current ? trackedIndex(app, current) : undefined) ?? gitSourceIndices(app)[0];
  const source = index === undefined ? undefined : sources[index];
  if (!source) return undefined;
  if (source.path !== undefined || !source.ref)
    return { source, path: normaliseSourcePath(source.path ?? '') };
  const prefix = `$${source.ref}/`;
  const dirs = sources
    .flatMap((other) => other.helm?.valueFiles ?? [])
    .filter((file) => file.startsWith(prefix))
    .map((file) => normaliseSourcePath(file.slice(prefix.length)).split('/').slice(0, -1));
  const common = dirs.reduce<string[] | undefined>((shared, dir) => {
    if (shared === undefined) return dir;
    const differs = shared.findIndex((part, i) => dir[i] !== part);
    return differs === -1 ? shared : shared.slice(0, differs);
  }, undefined);
  return { source, path: (common ?? []).join('/') };
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
  assess: (object) => parentVerdict(object, assessApplication(object)),
  recordedRevision: recordedArgoRevision,
  attemptedRevision(object) {
    const app = parseApplication(object);
    if (!app) return undefined;
    // A render error at a branch: the commit Argo tried is not on the object.
    const broken = unrenderable(app);
    if (broken) return broken.revision;
    return resultRevision(app) ?? targetRevision(app);
  },
  appliedRevision(object) {
    const app = parseApplication(object);
    if (!app || app.status?.sync?.status !== 'Synced') return app ? syncedRevision(app) : undefined;
    return targetRevision(app);
  },
  appliedMeansHealthy: () => false,
  // Never synced successfully at `revision` (history lists successful syncs), and either its
  // manifests could not be generated (a render ComparisonError at it, or at the branch when Argo
  // does not say which commit) or its sync operation ended Failed/Error without writing an object
  // (a ComparisonError, or a task refused in the dry run).
  failedBeforeApply(object, revision) {
    const app = parseApplication(object);
    const status = app?.status;
    if (!app || !status || historyHas(app, revision)) return false;
    const op = status.operationState;
    if (op?.phase === 'Failed' || op?.phase === 'Error') {
      const attempted = resultRevision(app) ?? targetRevision(app);
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
    const app = parseApplication(object);
    const tracked = app ? trackedSource(app) : undefined;
    if (!tracked) return undefined;
    return {
      key: `${tracked.source.repoURL}#${tracked.source.targetRevision ?? 'HEAD'}`,
      path: tracked.path,
    };
  },

  async source(_cluster, object) {
    const app = parseApplication(object);
    const label = `Application ${object.metadata?.namespace}/${object.metadata?.name}`;
    const tracked = app ? trackedSource(app) : undefined;
    if (!tracked) {
      return {
        kind: 'unsupported',
        reason: 'UnsupportedSource',
        message: `${label} has no source in Git (spec.source, or a spec.sources[] entry without chart:); revert by hand.`,
      };
    }
    const { source, path } = tracked;
    const target = (source.targetRevision ?? '').trim();
    if (/^[0-9a-f]{40}$/.test(target)) {
      return {
        kind: 'unsupported',
        reason: 'UnsupportedRef',
        message: `${label} is pinned to commit ${target}, not a branch: a revert commit would never be deployed; set targetRevision to the branch (e.g. main).`,
      };
    }
    const followsHead = target === '' || target === 'HEAD';
    return {
      kind: 'git',
      url: source.repoURL,
      branch: followsHead ? 'HEAD' : target,
      ...(followsHead ? { followsDefaultBranch: true } : {}),
      path,
      key: `${source.repoURL}#${target || 'HEAD'}`,
    };
  },

  // Argo resolves the branch on refresh: status.sync.revision is the commit it compared against.
  async sourceHas(_cluster, object, revision) {
    const sync = parseApplication(object)?.status?.sync;
    return sync?.revision === revision || (sync?.revisions ?? []).includes(revision);
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
  holdRefusal: applicationSetHoldRefusal,
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
