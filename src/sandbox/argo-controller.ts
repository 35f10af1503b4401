// The sandbox's Argo CD application-controller: reconciles Application (argoproj.io/v1alpha1) on the
// object store the way argo-cd's controller/appcontroller.go does. Two queues per app, as Argo has:
// a refresh (compare desired with live, write sync/health/resources/reconciledAt, decide on an
// automated sync) and an operation (run `.operation.sync`, write operationState and history, clear
// `.operation`). A refresh runs every reconcileTimeoutMs, at once on a spec change or the
// `argocd.argoproj.io/refresh` annotation (then removed), and against the last resolved revision
// whenever a tracked live object changes (which is how drift and health changes are noticed).
import { createHash } from 'node:crypto';
import {
  type AppSource,
  type Comparison,
  compare,
  desiredResources,
  instanceName,
  resourceStatuses,
  trackedInstance,
} from './argo-compare.ts';
import {
  type ApplicationCondition,
  type Target,
  appendHistory,
  autoSyncDecision,
  retryDelayMs,
  revisionFields,
} from './argo-policy.ts';
import { type SourceType, renderSources, sourcesOf } from './argo-sources.ts';
import { type OperationPhase, runSync } from './argo-sync.ts';
import { kubeTime } from './conditions.ts';
import { EventRecorder } from './events.ts';
import { GitMirrors } from './flux-source.ts';
import { APPLICATION, EVENT } from './resources.ts';
import { SerialQueue } from './serial-queue.ts';
import type { KubeObject, ObjectStore, StoreEvent } from './store.ts';

export interface ArgoControllerOptions {
  /** Where the controller keeps its mirrors of the apps' repositories (Argo's repo-server cache). */
  cacheDir: string;
  /** timeout.reconciliation: how often every app is compared with Git. Argo's default: 180 s. */
  reconcileTimeoutMs?: number;
  /** --self-heal-timeout-seconds: how long after the last sync a self-heal may run. Default 5 s. */
  selfHealTimeoutMs?: number;
  /** The control-plane namespace; apps outside it are tracked as `<namespace>_<name>`. */
  namespace?: string;
  /** A Helm 3 binary, for sources that are charts (`helm template`, as the repo-server runs it). */
  helm?: string;
  /**
   * --repo-error-grace-period-seconds: how long a failure to get an app's manifests is kept quiet
   * (status left as it was) by refreshes that do not force resolving the revision. Argo's default: 180 s.
   */
  repoErrorGracePeriodMs?: number;
}

export const REFRESH_ANNOTATION = 'argocd.argoproj.io/refresh';
const SKIP_RECONCILE_ANNOTATION = 'argocd.argoproj.io/skip-reconcile';
const DEFAULT_RECONCILE_TIMEOUT_MS = 180_000;
const DEFAULT_SELF_HEAL_TIMEOUT_MS = 5_000;
const MAX_CACHED_MANIFESTS = 256;
const DEFAULT_REPO_ERROR_GRACE_PERIOD_MS = 180_000;

/**
 * Argo's comparison levels: `force` (CompareWithLatestForceResolve: a refresh annotation or a spec
 * change) resolves the branch anew and reports a manifest error at once; `latest` (the periodic
 * refresh, after an operation) resolves it too; `recent` compares with the revision last resolved.
 */
type RefreshLevel = 'force' | 'latest' | 'recent';
const LEVEL_ORDER: Record<RefreshLevel, number> = { recent: 0, latest: 1, force: 2 };

interface Rendered {
  objects: KubeObject[];
  sourceType: SourceType;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

export class ArgoController {
  private readonly mirrors: GitMirrors;
  private readonly refreshes: SerialQueue;
  private readonly operations: SerialQueue;
  private readonly recorder: EventRecorder;
  private readonly abort = new AbortController();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** The strongest refresh asked for since the last one ran, per app. */
  private readonly pending = new Map<string, RefreshLevel>();
  /** Last resolved SHAs per app and sources, for refreshes that do not go to Git. */
  private readonly resolved = new Map<string, Target>();
  /** Argo's manifest cache: rendered manifests per repository, commit and path. */
  private readonly manifests = new Map<string, Promise<Rendered>>();
  /** Generation and refresh annotation last seen per app, to tell user changes from our own. */
  private readonly seen = new Map<string, number>();
  private readonly reconcileTimeoutMs: number;
  private readonly selfHealTimeoutMs: number;
  private readonly repoErrorGracePeriodMs: number;
  /** state.go repoErrorCache: when an app's manifests first failed to load, per app. */
  private readonly repoErrors = new Map<string, number>();
  private readonly namespace: string;
  private readonly helm: string | undefined;
  private unsubscribes: (() => void)[] = [];
  private started = false;

  constructor(
    readonly store: ObjectStore,
    options: ArgoControllerOptions,
  ) {
    this.mirrors = new GitMirrors(options.cacheDir);
    this.recorder = new EventRecorder(store, 'argocd-application-controller');
    this.reconcileTimeoutMs = options.reconcileTimeoutMs ?? DEFAULT_RECONCILE_TIMEOUT_MS;
    this.selfHealTimeoutMs = options.selfHealTimeoutMs ?? DEFAULT_SELF_HEAL_TIMEOUT_MS;
    this.repoErrorGracePeriodMs = options.repoErrorGracePeriodMs ?? DEFAULT_REPO_ERROR_GRACE_PERIOD_MS;
    this.namespace = options.namespace ?? 'argocd';
    this.helm = options.helm;
    this.refreshes = new SerialQueue((key) => this.refresh(key));
    this.operations = new SerialQueue((key) => this.operate(key));
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribes = [
      this.store.watch(APPLICATION, (event) => this.onApplicationEvent(event)),
      this.store.watch(undefined, (event) => this.onLiveEvent(event)),
    ];
    for (const app of this.store.list(APPLICATION)) this.onApplicationEvent({ type: 'ADDED', object: app });
  }

  async stop(): Promise<void> {
    this.refreshes.closed = true;
    this.operations.closed = true;
    for (const unsubscribe of this.unsubscribes) unsubscribe();
    this.unsubscribes = [];
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.abort.abort();
    await Promise.all([this.refreshes.idle(), this.operations.idle()]);
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  // ---- triggers -------------------------------------------------------------------------------

  private onApplicationEvent(event: Pick<StoreEvent, 'type' | 'object'>): void {
    const app = event.object;
    const key = `${app.metadata.namespace ?? this.namespace}/${app.metadata.name}`;
    if (event.type === 'DELETED') {
      for (const timer of [`refresh/${key}`, `selfheal/${key}`, `retry/${key}`]) this.cancelTimer(timer);
      this.seen.delete(key);
      this.pending.delete(key);
      this.repoErrors.delete(key);
      return;
    }
    const generation = app.metadata.generation ?? 0;
    const changed = this.seen.get(key) !== generation;
    this.seen.set(key, generation);
    if (changed || app.metadata.annotations?.[REFRESH_ANNOTATION] !== undefined) {
      this.requestRefresh(key, 'force');
    }
    if (changed && app['operation']) this.operations.request(key);
  }

  /** A change to a tracked object refreshes its app against the revision it already knows. */
  private onLiveEvent(event: StoreEvent): void {
    if (event.resource === APPLICATION || event.resource === EVENT) return;
    const instance = trackedInstance(event.object);
    if (!instance) return;
    const underscore = instance.indexOf('_');
    const key =
      underscore === -1
        ? `${this.namespace}/${instance}`
        : `${instance.slice(0, underscore)}/${instance.slice(underscore + 1)}`;
    if (this.seen.has(key)) this.requestRefresh(key, 'recent');
  }

  private requestRefresh(key: string, level: RefreshLevel): void {
    const pending = this.pending.get(key);
    if (pending === undefined || LEVEL_ORDER[level] > LEVEL_ORDER[pending]) this.pending.set(key, level);
    this.refreshes.request(key);
  }

  private schedule(timerKey: string, afterMs: number, run: () => void): void {
    if (this.stopped) return;
    this.cancelTimer(timerKey);
    const timer = setTimeout(
      () => {
        this.timers.delete(timerKey);
        run();
      },
      Math.max(0, afterMs),
    );
    timer.unref();
    this.timers.set(timerKey, timer);
  }

  private cancelTimer(timerKey: string): void {
    const timer = this.timers.get(timerKey);
    if (timer) clearTimeout(timer);
    this.timers.delete(timerKey);
  }

  /** Writes the Application itself (annotations, `.operation`) without it counting as a user change. */
  private writeApp(namespace: string, name: string, change: (app: KubeObject) => boolean | void): void {
    if (this.stopped) return;
    const stored = this.store.mutate(APPLICATION, namespace, name, change);
    if (stored) this.seen.set(`${namespace}/${name}`, stored.metadata.generation ?? 0);
  }

  private writeStatus(namespace: string, name: string, change: (status: Record<string, any>) => void): void {
    if (this.stopped) return;
    this.store.mutate(
      APPLICATION,
      namespace,
      name,
      (app) => {
        app.status = structuredClone(app.status ?? {});
        change(app.status);
      },
      { subresource: 'status' },
    );
  }

  // ---- Git and manifests ----------------------------------------------------------------------

  private mirrorName(repoURL: string): string {
    return createHash('sha256').update(repoURL).digest('hex').slice(0, 16);
  }

  private async resolveRevision(source: AppSource, revision: string): Promise<string> {
    const fetched = await this.mirrors.resolve(
      'repositories',
      this.mirrorName(source.repoURL),
      source.repoURL,
      revision,
      this.abort.signal,
    );
    return fetched.sha;
  }

  /** Resolves every source of the app (or an operation's override) to a commit. */
  private async resolveTarget(spec: any, revisions?: unknown): Promise<Target> {
    const { sources, multi } = sourcesOf(spec);
    const wanted = (i: number): string => {
      const asked: unknown = multi ? (Array.isArray(revisions) ? revisions[i] : undefined) : revisions;
      return typeof asked === 'string' && asked ? asked : sources[i]!.targetRevision;
    };
    const resolved = await Promise.all(sources.map((source, i) => this.resolveRevision(source, wanted(i))));
    return { sources, revisions: resolved, multi };
  }

  private render(app: KubeObject, target: Target): Promise<Rendered> {
    const destination = app.spec?.destination?.namespace;
    const namespace = typeof destination === 'string' && destination ? destination : 'default';
    const cacheKey = JSON.stringify([target.sources, target.revisions, app.metadata.name, namespace]);
    let rendered = this.manifests.get(cacheKey);
    if (!rendered) {
      rendered = Promise.all(
        target.sources.map((source, i) =>
          this.mirrors.tree('repositories', this.mirrorName(source.repoURL), target.revisions[i]!),
        ),
      ).then((trees) =>
        renderSources(target.sources, trees, { helm: this.helm, release: app.metadata.name, namespace }),
      );
      rendered.catch(() => this.manifests.delete(cacheKey));
      this.manifests.set(cacheKey, rendered);
      // Bounded, oldest first, like the repo-server's cache expiry.
      if (this.manifests.size > MAX_CACHED_MANIFESTS)
        this.manifests.delete(this.manifests.keys().next().value!);
    }
    return rendered.then((r) => ({ objects: structuredClone(r.objects), sourceType: r.sourceType }));
  }

  private async compareAt(
    app: KubeObject,
    target: Target,
  ): Promise<Comparison & Pick<Rendered, 'sourceType'>> {
    const { objects: manifests, sourceType } = await this.render(app, target).catch((error: unknown) => {
      throw new Error(`Failed to load target state: ${errorMessage(error)}`);
    });
    const instance = instanceName(app, this.namespace);
    const destination = app.spec?.destination?.namespace;
    const desired = desiredResources(
      manifests,
      instance,
      typeof destination === 'string' && destination ? destination : undefined,
    );
    return { ...compare(this.store, instance, desired), sourceType };
  }

  // ---- refresh ---------------------------------------------------------------------------------

  private async refresh(key: string): Promise<void> {
    const [namespace, name] = splitKey(key);
    const level = this.pending.get(key) ?? 'latest';
    this.pending.delete(key);
    const app = this.store.get(APPLICATION, namespace, name);
    if (!app || this.stopped || app.metadata.deletionTimestamp) return;
    if (app.metadata.annotations?.[SKIP_RECONCILE_ANNOTATION] === 'true') return;
    const refreshRequested = app.metadata.annotations?.[REFRESH_ANNOTATION] !== undefined;
    const goToGit = level !== 'recent' || refreshRequested;
    const forceResolve = level === 'force' || refreshRequested;

    let comparison: (Comparison & Pick<Rendered, 'sourceType'>) | undefined;
    let target: Target | undefined;
    let comparisonError: ApplicationCondition | undefined;
    try {
      const resolvedKey = `${key}\0${JSON.stringify(sourcesOf(app.spec))}`;
      target = goToGit ? undefined : this.resolved.get(resolvedKey);
      target ??= await this.resolveTarget(app.spec).catch((error: unknown) => {
        throw new Error(`Failed to load target state: failed to get latest revision: ${errorMessage(error)}`);
      });
      this.resolved.set(resolvedKey, target);
      comparison = await this.compareAt(app, target);
      this.repoErrors.delete(key);
    } catch (error) {
      if (this.stopped) return;
      comparisonError = {
        type: 'ComparisonError',
        message: errorMessage(error),
        lastTransitionTime: kubeTime(),
      };
      // state.go CompareAppState: a manifest error is ignored (the status stays as it was) while it
      // is new or younger than the grace period, unless the refresh forces resolving the revision.
      const firstSeen = this.repoErrors.get(key);
      if (firstSeen === undefined) this.repoErrors.set(key, Date.now());
      if (
        !forceResolve &&
        (firstSeen === undefined || Date.now() - firstSeen <= this.repoErrorGracePeriodMs)
      ) {
        if (goToGit) this.scheduleRefresh(key);
        return;
      }
    }
    if (this.stopped) return;

    // Read again: an operation may have finished while Git was fetched.
    const current = this.store.get(APPLICATION, namespace, name);
    if (!current) return;
    const decision =
      comparison && target ? autoSyncDecision(current, comparison, target, this.selfHealTimeoutMs) : {};
    const conditions = [comparisonError, decision.condition].filter(
      (condition): condition is ApplicationCondition => condition !== undefined,
    );
    // Without manifests Argo still compares the live objects (all of them extraneous, their sync
    // status Unknown) and computes health from them; sync.revision stays the revision it was asked
    // to compare (the branch, at the latest level), as it has no resolved commit to report.
    const live = comparison ?? compare(this.store, instanceName(app, this.namespace), []);
    const requested =
      level === 'recent' && !refreshRequested
        ? (current.status?.sync?.revision ?? app.spec?.source?.targetRevision)
        : app.spec?.source?.targetRevision;
    const requestedRevision = typeof requested === 'string' && requested ? requested : undefined;
    // One source: the resolved commit when it rendered, else the ref Argo was asked to compare.
    const revision = comparison && target ? target.revisions[0] : requestedRevision;
    const before = current.status ?? {};
    this.writeStatus(namespace, name, (status) => {
      const now = kubeTime();
      status['controllerNamespace'] = this.namespace;
      status['reconciledAt'] = now;
      const multi = target?.multi ?? sourcesOf(app.spec).multi;
      status['sync'] = {
        status: comparison?.sync ?? 'Unknown',
        comparedTo: {
          ...(multi ? { sources: app.spec?.sources ?? [] } : { source: app.spec?.source ?? {} }),
          destination: app.spec?.destination ?? {},
        },
        ...(multi ? (target ? { revisions: target.revisions } : {}) : revision ? { revision } : {}),
      };
      const health = live.health;
      status['health'] = {
        status: health.status,
        ...(health.message ? { message: health.message } : {}),
        lastTransitionTime:
          status['health']?.status === health.status ? (status['health']?.lastTransitionTime ?? now) : now,
      };
      status['resources'] = resourceStatuses(live).map((resource) =>
        comparison ? resource : { ...resource, status: 'Unknown' },
      );
      status['summary'] = live.images.length > 0 ? { images: live.images } : {};
      if (comparison) status['sourceType'] = comparison.sourceType;
      else delete status['sourceType'];
      const previous: ApplicationCondition[] = Array.isArray(status['conditions'])
        ? status['conditions']
        : [];
      const next = conditions.map(
        (condition) =>
          previous.find((p) => p.type === condition.type && p.message === condition.message) ?? condition,
      );
      if (next.length > 0) status['conditions'] = next;
      else delete status['conditions'];
    });
    this.recordTransitions(current, before, live, comparison ? comparison.sync : 'Unknown');
    if (refreshRequested) {
      this.writeApp(namespace, name, (object) => {
        if (object.metadata.annotations?.[REFRESH_ANNOTATION] === undefined) return false;
        delete object.metadata.annotations[REFRESH_ANNOTATION];
      });
    }
    if (decision.operation) {
      const operation = decision.operation;
      this.writeApp(namespace, name, (object) => {
        if (object['operation']) return false;
        object['operation'] = operation;
      });
      this.operations.request(key);
    }
    if (decision.selfHealInMs !== undefined) {
      this.schedule(`selfheal/${key}`, decision.selfHealInMs, () => this.requestRefresh(key, 'recent'));
    }
    if (goToGit) this.scheduleRefresh(key);
  }

  /** The periodic refresh (timeout.reconciliation) after this one. */
  private scheduleRefresh(key: string): void {
    this.schedule(`refresh/${key}`, this.reconcileTimeoutMs, () => this.requestRefresh(key, 'latest'));
  }

  private recordTransitions(app: KubeObject, before: any, comparison: Comparison, syncStatus: string): void {
    if (this.stopped) return;
    const sync = before.sync?.status;
    if (sync && sync !== syncStatus) {
      this.recorder.normal(app, 'ResourceUpdated', `Updated sync status: ${sync} -> ${syncStatus}`);
    }
    const health = before.health?.status;
    if (health && health !== comparison.health.status) {
      const cause = comparison.health.message ? ` (${comparison.health.message})` : '';
      this.recorder.normal(
        app,
        'ResourceUpdated',
        `Updated health status: ${health} -> ${comparison.health.status}${cause}`,
      );
    }
  }

  // ---- operation ---------------------------------------------------------------------------------

  private async operate(key: string): Promise<void> {
    const [namespace, name] = splitKey(key);
    const app = this.store.get(APPLICATION, namespace, name);
    const operation: any = app?.['operation'];
    if (!app || !operation || this.stopped) return;
    const previous = app.status?.operationState;
    const continuing =
      previous?.phase === 'Running' && JSON.stringify(previous.operation) === JSON.stringify(operation);
    const state: Record<string, any> = continuing
      ? structuredClone(previous)
      : { operation: structuredClone(operation), phase: 'Running', message: '', startedAt: kubeTime() };
    if (!continuing) {
      this.writeStatus(namespace, name, (status) => {
        status['operationState'] = state;
      });
      const what = operation.initiatedBy?.automated ? 'automated sync' : 'sync';
      this.recorder.normal(
        app,
        'OperationStarted',
        `Initiated ${what} to ${operation.sync?.revision ?? 'HEAD'}`,
      );
    }

    const outcome = await this.sync(app, operation);
    if (this.stopped) return;
    const retry = operation.retry;
    const retryCount: number = state['retryCount'] ?? 0;
    const limit: number = typeof retry?.limit === 'number' ? retry.limit : 0;
    if (outcome.phase !== 'Succeeded' && retry && (limit < 0 || retryCount < limit)) {
      const delay = retryDelayMs(retry, retryCount + 1);
      state['retryCount'] = retryCount + 1;
      state['message'] =
        `${outcome.message}. Retrying attempt #${retryCount + 1} at ${new Date(Date.now() + delay).toTimeString().slice(0, 8)}.`;
      if (outcome.syncResult) state['syncResult'] = outcome.syncResult;
      this.writeStatus(namespace, name, (status) => {
        status['operationState'] = state;
      });
      this.schedule(`retry/${key}`, delay, () => this.operations.request(key));
      return;
    }

    const finishedAt = kubeTime();
    state['phase'] = outcome.phase;
    state['message'] = outcome.message;
    state['finishedAt'] = finishedAt;
    if (outcome.syncResult) state['syncResult'] = outcome.syncResult;
    this.writeStatus(namespace, name, (status) => {
      status['operationState'] = state;
      if (outcome.phase === 'Succeeded' && outcome.syncResult) {
        const { resources: _resources, ...revisions } = outcome.syncResult;
        status['history'] = appendHistory(app, status['history'], {
          revisions,
          deployStartedAt: state['startedAt'],
          deployedAt: finishedAt,
          initiatedBy: operation.initiatedBy ?? {},
        });
      }
    });
    // Clear only the operation that ran: one set meanwhile (another client, Rewind) is the next to run.
    const ran = JSON.stringify(operation);
    this.writeApp(namespace, name, (object) => {
      if (object['operation'] === undefined || JSON.stringify(object['operation']) !== ran) return false;
      delete object['operation'];
    });
    const revision =
      (outcome.syncResult?.['revision'] as string | undefined) ??
      (outcome.syncResult?.['revisions'] as string[] | undefined)?.join(', ') ??
      operation.sync?.revision ??
      '';
    if (outcome.phase === 'Succeeded') {
      this.recorder.normal(app, 'OperationCompleted', `Sync operation to ${revision} succeeded`);
    } else {
      this.recorder.warning(
        app,
        'OperationCompleted',
        `Sync operation to ${revision} failed: ${outcome.message}`,
      );
    }
    this.requestRefresh(key, 'latest');
  }

  /** controller/sync.go SyncAppState for a sync operation. */
  private async sync(
    app: KubeObject,
    operation: any,
  ): Promise<{
    phase: Exclude<OperationPhase, 'Running'>;
    message: string;
    syncResult?: { resources: unknown[] } & Record<string, unknown>;
  }> {
    // The operation's own sources (a rollback) override the spec's for this sync.
    const overrides = operation.sync?.sources ?? operation.sync?.source;
    const spec = operation.sync?.sources
      ? { sources: operation.sync.sources }
      : operation.sync?.source
        ? { source: operation.sync.source }
        : app.spec;
    let target: Target;
    try {
      target = await this.resolveTarget(spec, operation.sync?.revisions ?? operation.sync?.revision);
    } catch (error) {
      return { phase: 'Error', message: `ComparisonError: ${errorMessage(error)}` };
    }
    const revisions = revisionFields(
      target,
      overrides ?? (target.multi ? app.spec?.sources : app.spec?.source),
    );
    try {
      const comparison = await this.compareAt(app, target);
      if (this.stopped) return { phase: 'Error', message: 'controller stopped' };
      const prune = operation.sync?.prune === true;
      const outcome = runSync(this.store, comparison, prune);
      return {
        phase: outcome.phase,
        message: outcome.message,
        syncResult: { resources: outcome.resources, ...revisions },
      };
    } catch (error) {
      return {
        phase: 'Error',
        message: `ComparisonError: ${errorMessage(error)}`,
        syncResult: { resources: [], ...revisions },
      };
    }
  }
}
