// The sandbox's Flux: a source-controller for GitRepository and a kustomize-controller for
// Kustomization, working directly on the object store. Follows the shape of Flux's reconcilers
// (fluxcd/source-controller, fluxcd/kustomize-controller): record a condition before slow work,
// always write status on the way out, one reconcile at a time per object, requeue on interval
// (success) or retryInterval (failure), reconcile at once on a generation change or a new
// `reconcile.fluxcd.io/requestedAt` value, and events only on transitions.
import { EventRecorder } from './events.ts';
import { createHash } from 'node:crypto';
import { type Condition, kubeTime, removeCondition, setCondition } from './conditions.ts';
import { durationOr, formatGoDuration } from './flux-duration.ts';
import { type HealthTarget, formatTarget, waitForHealth } from './flux-health.ts';
import { BuildError, buildManifests, isNamespaced } from './flux-kustomize.ts';
import { GitMirrors } from './flux-source.ts';
import { matchesLive } from './object-apply.ts';
import { serverSideApply } from './server-side-apply.ts';
import { SerialQueue } from './serial-queue.ts';
import {
  GIT_REPOSITORY,
  KUSTOMIZATION,
  NAMESPACE,
  type ResourceType,
  apiVersionOf,
  resourceByKind,
} from './resources.ts';
import type { KubeObject, ObjectStore, StoreEvent } from './store.ts';

export interface FluxSyncerOptions {
  /** Where the syncer keeps its clones of GitRepository sources. */
  cacheDir: string;
}

export const REQUESTED_AT_ANNOTATION = 'reconcile.fluxcd.io/requestedAt';
export const OWNER_NAME_LABEL = 'kustomize.toolkit.fluxcd.io/name';
export const OWNER_NAMESPACE_LABEL = 'kustomize.toolkit.fluxcd.io/namespace';
/** Per-object opt-out of apply and prune. */
const RECONCILE_ANNOTATION = 'kustomize.toolkit.fluxcd.io/reconcile';
/** kustomize-controller always applies server-side, as its own field manager, taking conflicts. */
const FLUX_APPLY = { manager: 'kustomize-controller', force: true } as const;

const DEFAULT_SOURCE_INTERVAL_MS = 60_000;
const DEFAULT_KUSTOMIZATION_INTERVAL_MS = 5 * 60_000;
const MAX_HISTORY = 5;
/** kustomize-controller's --requeue-dependency default: how soon a missing source is looked at again. */
const DEPENDENCY_REQUEUE_MS = 30_000;

function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? 'default'}/${name}`;
}

function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}

function requestedAtOf(object: KubeObject): string | undefined {
  return object.metadata.annotations?.[REQUESTED_AT_ANNOTATION];
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A reconcile that ends with Ready=False and this reason. */
class ReconcileFailure extends Error {
  constructor(
    readonly reason: string,
    message: string,
    /** Waiting on a dependency (no source or artifact yet): logged by Flux, no event. */
    readonly quiet = false,
  ) {
    super(message);
  }
}

interface InventoryEntry {
  id: string;
  v: string;
}

interface HistoryEntry {
  digest: string;
  firstReconciled: string;
  lastReconciled: string;
  lastReconciledDuration: string;
  lastReconciledStatus: string;
  metadata: { revision: string };
  totalReconciliations: number;
}

/** `<namespace>_<name>_<group>_<kind>`, as fluxcd/pkg/ssa ObjMetadata ids read. */
function inventoryId(type: ResourceType, namespace: string | undefined, name: string): string {
  return `${type.namespaced ? (namespace ?? 'default') : ''}_${name}_${type.group}_${type.kind}`;
}

function parseInventoryEntry(
  entry: InventoryEntry,
): { type: ResourceType; namespace: string; name: string } | undefined {
  const parts = entry.id.split('_');
  if (parts.length !== 4) return undefined;
  const [namespace, name, group, kind] = parts as [string, string, string, string];
  const type = resourceByKind(group ? `${group}/${entry.v}` : entry.v, kind);
  return type ? { type, namespace, name } : undefined;
}

export class FluxSyncer {
  private readonly mirrors: GitMirrors;
  private readonly abort = new AbortController();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Last seen generation / requestedAt / artifact revision per object, to spot triggers. */
  private readonly seen = new Map<
    string,
    { generation: number; requestedAt: string | undefined; revision?: string }
  >();
  /** What this syncer last applied per object (inventory id -> manifest JSON), to notice removed fields. */
  private readonly lastApplied = new Map<string, string>();
  private readonly sources: SerialQueue;
  private readonly kustomizations: SerialQueue;
  private unsubscribes: (() => void)[] = [];
  private readonly recorders: Record<'source-controller' | 'kustomize-controller', EventRecorder>;
  private started = false;

  constructor(
    readonly store: ObjectStore,
    readonly options: FluxSyncerOptions,
  ) {
    this.mirrors = new GitMirrors(options.cacheDir);
    this.recorders = {
      'source-controller': new EventRecorder(store, 'source-controller'),
      'kustomize-controller': new EventRecorder(store, 'kustomize-controller'),
    };
    this.sources = new SerialQueue((key) => this.reconcileSource(key));
    this.kustomizations = new SerialQueue((key) => this.reconcileKustomization(key));
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribes = [
      this.store.watch(GIT_REPOSITORY, (event) => this.onSourceEvent(event)),
      this.store.watch(KUSTOMIZATION, (event) => this.onKustomizationEvent(event)),
    ];
    for (const source of this.store.list(GIT_REPOSITORY))
      this.onSourceEvent({ type: 'ADDED', object: source });
    for (const ks of this.store.list(KUSTOMIZATION)) this.onKustomizationEvent({ type: 'ADDED', object: ks });
  }

  async stop(): Promise<void> {
    this.sources.closed = true;
    this.kustomizations.closed = true;
    for (const unsubscribe of this.unsubscribes) unsubscribe();
    this.unsubscribes = [];
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.abort.abort();
    await Promise.all([this.sources.idle(), this.kustomizations.idle()]);
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  // ---- triggers -------------------------------------------------------------------------------

  /** Records an object's trigger fields; true when its generation or requestedAt changed. */
  private noticeChange(kind: string, object: KubeObject): boolean {
    const key = `${kind}/${objectKey(object.metadata.namespace, object.metadata.name)}`;
    const previous = this.seen.get(key);
    const generation = object.metadata.generation ?? 0;
    const requestedAt = requestedAtOf(object);
    const revision: string | undefined = object.status?.artifact?.revision;
    this.seen.set(key, { generation, requestedAt, ...(revision === undefined ? {} : { revision }) });
    return !previous || previous.generation !== generation || previous.requestedAt !== requestedAt;
  }

  private onSourceEvent(event: Pick<StoreEvent, 'type' | 'object'>): void {
    const { namespace, name } = event.object.metadata;
    const key = objectKey(namespace, name);
    if (event.type === 'DELETED') {
      this.cancelTimer(`GitRepository/${key}`);
      this.seen.delete(`GitRepository/${key}`);
      return;
    }
    const before = this.seen.get(`GitRepository/${key}`)?.revision;
    if (this.noticeChange('GitRepository', event.object)) this.requestSource(key);
    const revision: string | undefined = event.object.status?.artifact?.revision;
    if (revision && revision !== before) {
      for (const ks of this.store.list(KUSTOMIZATION)) {
        const ref = ks.spec?.sourceRef ?? {};
        if (
          (ref.kind ?? 'GitRepository') === 'GitRepository' &&
          ref.name === name &&
          (ref.namespace ?? ks.metadata.namespace) === namespace
        ) {
          this.requestKustomization(objectKey(ks.metadata.namespace, ks.metadata.name));
        }
      }
    }
  }

  private onKustomizationEvent(event: Pick<StoreEvent, 'type' | 'object'>): void {
    const key = objectKey(event.object.metadata.namespace, event.object.metadata.name);
    if (event.type === 'DELETED') {
      this.cancelTimer(`Kustomization/${key}`);
      this.seen.delete(`Kustomization/${key}`);
      if (event.object.spec?.prune === true) {
        const deleted = event.object;
        setImmediate(() => this.garbageCollect(deleted));
      }
      return;
    }
    if (this.noticeChange('Kustomization', event.object)) this.requestKustomization(key);
  }

  private requestSource(key: string): void {
    this.cancelTimer(`GitRepository/${key}`);
    this.sources.request(key);
  }

  private requestKustomization(key: string): void {
    this.cancelTimer(`Kustomization/${key}`);
    this.kustomizations.request(key);
  }

  private cancelTimer(timerKey: string): void {
    const timer = this.timers.get(timerKey);
    if (timer) clearTimeout(timer);
    this.timers.delete(timerKey);
  }

  private requeue(timerKey: string, afterMs: number, request: () => void): void {
    if (this.stopped) return;
    this.cancelTimer(timerKey);
    const timer = setTimeout(() => {
      this.timers.delete(timerKey);
      request();
    }, afterMs);
    timer.unref();
    this.timers.set(timerKey, timer);
  }

  // ---- status, events ---------------------------------------------------------------------------

  private writeStatus(
    type: ResourceType,
    namespace: string,
    name: string,
    status: Record<string, unknown>,
  ): void {
    if (this.stopped) return;
    this.store.mutate(
      type,
      namespace,
      name,
      (object) => {
        object.status = structuredClone(status);
      },
      { subresource: 'status' },
    );
  }

  private recordEvent(
    object: KubeObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    component: 'source-controller' | 'kustomize-controller',
    annotations: Record<string, string> = {},
  ): void {
    if (this.stopped) return;
    this.recorders[component].record(object, type, reason, message, annotations);
  }

  // ---- GitRepository ---------------------------------------------------------------------------

  private async reconcileSource(key: string): Promise<void> {
    const [namespace, name] = splitKey(key);
    const object = this.store.get(GIT_REPOSITORY, namespace, name);
    if (!object || object.spec?.suspend === true || this.stopped) return;
    const generation = object.metadata.generation ?? 0;
    const interval = durationOr(object.spec?.interval, DEFAULT_SOURCE_INTERVAL_MS);
    const url: unknown = object.spec?.url;
    const branch: string =
      typeof object.spec?.ref?.branch === 'string' && object.spec.ref.branch
        ? object.spec.ref.branch
        : 'master';
    const requestedAt = requestedAtOf(object);
    const status: Record<string, any> = structuredClone(object.status ?? {});
    const before = status['conditions']?.find((c: Condition) => c.type === 'Ready') as Condition | undefined;
    const condition = (type: string, value: Condition['status'], reason: string, message: string): void => {
      status['conditions'] = setCondition(status['conditions'], {
        type,
        status: value,
        observedGeneration: generation,
        reason,
        message,
      });
    };
    try {
      if (typeof url !== 'string' || url === '') throw new Error('spec.url is required');
      const fetched = await this.mirrors.fetch(namespace, name, url, branch, this.abort.signal);
      if (this.stopped) return;
      const revision = `${branch}@sha1:${fetched.sha}`;
      const isNew = status['artifact']?.revision !== revision;
      if (isNew) {
        const file = `gitrepository/${namespace}/${name}/${fetched.sha}.tar.gz`;
        status['artifact'] = {
          digest: fetched.digest,
          lastUpdateTime: kubeTime(),
          path: file,
          revision,
          size: fetched.size,
          url: `http://source-controller.flux-system.svc.cluster.local./${file}`,
        };
      }
      const message = `stored artifact for revision '${revision}'`;
      condition('Ready', 'True', 'Succeeded', message);
      condition('ArtifactInStorage', 'True', 'Succeeded', message);
      for (const type of ['FetchFailed', 'Reconciling', 'Stalled']) {
        status['conditions'] = removeCondition(status['conditions'], type);
      }
      status['observedGeneration'] = generation;
      if (isNew) {
        this.recordEvent(
          object,
          'Normal',
          'NewArtifact',
          `stored artifact with revision '${revision}' from '${url}'`,
          'source-controller',
          { 'source.toolkit.fluxcd.io/revision': revision },
        );
      }
    } catch (error) {
      if (this.stopped) return;
      const message = `failed to checkout and determine revision: unable to clone '${String(url)}': ${errorMessage(error)}`;
      condition('Ready', 'False', 'GitOperationFailed', message);
      condition('FetchFailed', 'True', 'GitOperationFailed', message);
      if (before?.status !== 'False' || before.message !== message) {
        this.recordEvent(object, 'Warning', 'GitOperationFailed', message, 'source-controller');
      }
    }
    if (requestedAt !== undefined) status['lastHandledReconcileAt'] = requestedAt;
    this.writeStatus(GIT_REPOSITORY, namespace, name, status);
    this.requeue(`GitRepository/${key}`, interval, () => this.requestSource(key));
  }

  // ---- Kustomization ---------------------------------------------------------------------------

  private async reconcileKustomization(key: string): Promise<void> {
    const [namespace, name] = splitKey(key);
    const object = this.store.get(KUSTOMIZATION, namespace, name);
    if (!object || object.spec?.suspend === true || this.stopped) return;
    const spec = object.spec ?? {};
    const generation = object.metadata.generation ?? 0;
    const requestedAt = requestedAtOf(object);
    const interval = durationOr(spec.interval, DEFAULT_KUSTOMIZATION_INTERVAL_MS);
    const retryInterval = durationOr(spec.retryInterval, interval);
    // GetTimeout(): spec.timeout when set, else interval - 30s, never below 30s. (Real Flux also
    // floors an explicit timeout at 30s; the sandbox honours short timeouts so tests stay fast.)
    const timeoutMs =
      typeof spec.timeout === 'string' && spec.timeout
        ? durationOr(spec.timeout, Math.max(interval - 30_000, 30_000))
        : Math.max(interval - 30_000, 30_000);
    const timeout = formatGoDuration(timeoutMs);
    const started = Date.now();

    const status: Record<string, any> = structuredClone(object.status ?? {});
    const readyBefore = (status['conditions'] ?? []).find((c: Condition) => c.type === 'Ready') as
      Condition | undefined;
    const condition = (type: string, value: Condition['status'], reason: string, message: string): void => {
      status['conditions'] = setCondition(status['conditions'], {
        type,
        status: value,
        observedGeneration: generation,
        reason,
        message,
      });
    };
    const write = (): void => this.writeStatus(KUSTOMIZATION, namespace, name, status);

    let revision: string | undefined;
    let digest: string | undefined;
    let outcome: 'succeeded' | 'failed' | 'aborted' = 'failed';
    let quiet = false;
    try {
      const source = this.resolveSource(object);
      revision = source.revision;
      const isNew =
        revision !== status['lastAppliedRevision'] ||
        generation !== status['observedGeneration'] ||
        (requestedAt !== undefined && requestedAt !== status['lastHandledReconcileAt']);
      status['lastAttemptedRevision'] = revision;
      if (isNew) condition('Ready', 'Unknown', 'Progressing', 'Reconciliation in progress');
      condition(
        'Reconciling',
        'True',
        'Progressing',
        `Fetching manifests for revision ${revision} with a timeout of ${timeout}`,
      );
      write();

      const tree = await this.mirrors
        .tree(source.namespace, source.name, source.sha)
        .catch((error: unknown) => {
          throw new ReconcileFailure(
            'ArtifactFailed',
            `failed to read artifact ${revision}: ${errorMessage(error)}`,
          );
        });
      const manifests = await buildManifests(tree, {
        ...(typeof spec.path === 'string' ? { path: spec.path } : {}),
        ...(typeof spec.targetNamespace === 'string' && spec.targetNamespace
          ? { targetNamespace: spec.targetNamespace }
          : {}),
      }).catch((error: unknown) => {
        if (error instanceof BuildError) {
          throw new ReconcileFailure(
            error.reason,
            error.reason === 'BuildFailed' ? `kustomize build failed: ${error.message}` : error.message,
          );
        }
        throw error;
      });
      if (this.stopped) return;
      digest = `sha256:${createHash('sha256').update(JSON.stringify(manifests)).digest('hex')}`;

      const applied = this.apply(object, manifests);
      if (applied.changes.length > 0) {
        this.recordEvent(
          object,
          'Normal',
          'Progressing',
          applied.changes.join('\n'),
          'kustomize-controller',
          {
            'kustomize.toolkit.fluxcd.io/revision': revision,
          },
        );
      }
      const previousInventory: InventoryEntry[] = status['inventory']?.entries ?? [];
      status['inventory'] = { entries: applied.inventory };
      if (spec.prune === true) {
        const pruned = this.prune(object, previousInventory, applied.inventory);
        if (pruned.length > 0) {
          this.recordEvent(object, 'Normal', 'Progressing', pruned.join('\n'), 'kustomize-controller', {
            'kustomize.toolkit.fluxcd.io/revision': revision,
          });
        }
      }
      write();

      const targets = spec.wait === true ? applied.targets : this.healthCheckTargets(object);
      if (targets.length > 0) {
        const message = `Running health checks for revision ${revision} with a timeout of ${timeout}`;
        condition('Reconciling', 'True', 'Progressing', message);
        condition('Healthy', 'Unknown', 'Progressing', message);
        write();
        const checkStart = Date.now();
        const health = await waitForHealth(this.store, targets, { timeoutMs, signal: this.abort.signal });
        if (health.result === 'aborted') {
          outcome = 'aborted';
          return;
        }
        // A timer may fire a millisecond before the wall clock says its delay has passed; a timed-out
        // check has waited its whole timeout, as kstatus' poller reports it.
        const waited = Date.now() - checkStart;
        const elapsed = formatGoDuration(health.result === 'timeout' ? Math.max(waited, timeoutMs) : waited);
        if (health.result !== 'healthy') {
          const failure = `health check failed after ${elapsed}: ${health.message}`;
          condition('Healthy', 'False', 'HealthCheckFailed', failure);
          throw new ReconcileFailure('HealthCheckFailed', failure);
        }
        condition('Healthy', 'True', 'Succeeded', `Health check passed in ${elapsed}`);
      } else {
        status['conditions'] = removeCondition(status['conditions'], 'Healthy');
      }

      status['lastAppliedRevision'] = revision;
      condition('Ready', 'True', 'ReconciliationSucceeded', `Applied revision: ${revision}`);
      for (const type of ['Reconciling', 'Stalled']) {
        status['conditions'] = removeCondition(status['conditions'], type);
      }
      status['observedGeneration'] = generation;
      outcome = 'succeeded';
    } catch (error) {
      if (this.stopped) {
        outcome = 'aborted';
        return;
      }
      const failure =
        error instanceof ReconcileFailure
          ? error
          : new ReconcileFailure('ReconciliationFailed', errorMessage(error));
      condition('Ready', 'False', failure.reason, failure.message);
      quiet = failure.quiet;
      // finalizeStatus: a failed reconcile keeps Reconciling, with reason ProgressingWithRetry.
      const reconciling = (status['conditions'] as Condition[]).find((c) => c.type === 'Reconciling');
      if (reconciling) condition('Reconciling', 'True', 'ProgressingWithRetry', reconciling.message);
    } finally {
      if (outcome !== 'aborted' && !this.stopped) {
        if (requestedAt !== undefined) status['lastHandledReconcileAt'] = requestedAt;
        const ready = (status['conditions'] as Condition[]).find((c) => c.type === 'Ready');
        if (digest && revision && ready) {
          status['history'] = upsertHistory(status['history'], {
            digest,
            revision,
            status: ready.reason,
            at: new Date(),
            durationMs: Date.now() - started,
          });
        }
        write();
        if (!quiet)
          this.reportTransition(object, readyBefore, ready, revision, Date.now() - started, interval);
        this.requeue(
          `Kustomization/${key}`,
          outcome === 'succeeded' ? interval : quiet ? DEPENDENCY_REQUEUE_MS : retryInterval,
          () => this.requestKustomization(key),
        );
      }
    }
  }

  private reportTransition(
    object: KubeObject,
    before: Condition | undefined,
    after: Condition | undefined,
    revision: string | undefined,
    durationMs: number,
    intervalMs: number,
  ): void {
    if (
      !after ||
      (before?.status === after.status && before.reason === after.reason && before.message === after.message)
    ) {
      return;
    }
    const annotations: Record<string, string> = revision
      ? { 'kustomize.toolkit.fluxcd.io/revision': revision }
      : {};
    if (after.status === 'True') {
      this.recordEvent(
        object,
        'Normal',
        after.reason,
        `Reconciliation finished in ${formatGoDuration(durationMs)}, next run in ${formatGoDuration(intervalMs)}`,
        'kustomize-controller',
        { ...annotations, 'kustomize.toolkit.fluxcd.io/commit_status': 'update' },
      );
    } else if (after.status === 'False') {
      this.recordEvent(object, 'Warning', after.reason, after.message, 'kustomize-controller', annotations);
    }
  }

  /** The source's artifact, or a ReconcileFailure with reason ArtifactFailed. */
  private resolveSource(ks: KubeObject): { namespace: string; name: string; revision: string; sha: string } {
    const ref = ks.spec?.sourceRef ?? {};
    const kind: string = ref.kind ?? 'GitRepository';
    const namespace: string = ref.namespace ?? ks.metadata.namespace ?? 'default';
    const name: string = ref.name ?? '';
    if (kind !== 'GitRepository') {
      throw new ReconcileFailure('ArtifactFailed', `source kind '${kind}' is not supported by the sandbox`);
    }
    const source = this.store.get(GIT_REPOSITORY, namespace, name);
    if (!source) {
      throw new ReconcileFailure('ArtifactFailed', `Source '${kind}/${namespace}/${name}' not found`, true);
    }
    const revision: unknown = source.status?.artifact?.revision;
    const sha = typeof revision === 'string' ? /[0-9a-f]{40}$/.exec(revision)?.[0] : undefined;
    if (typeof revision !== 'string' || !sha) {
      throw new ReconcileFailure('ArtifactFailed', `Source artifact not found, retrying in 30s`, true);
    }
    return { namespace, name, revision, sha };
  }

  private healthCheckTargets(ks: KubeObject): HealthTarget[] {
    const checks: any[] = Array.isArray(ks.spec?.healthChecks) ? ks.spec.healthChecks : [];
    return checks.map((check) => {
      const type = resourceByKind(String(check?.apiVersion ?? ''), String(check?.kind ?? ''));
      if (!type) {
        throw new ReconcileFailure(
          'ReconciliationFailed',
          `health check ${check?.kind}/${check?.name}: no matches for kind "${check?.kind}" in version "${check?.apiVersion}"`,
        );
      }
      return {
        type,
        namespace: type.namespaced ? (check.namespace ?? ks.metadata.namespace ?? 'default') : undefined,
        name: String(check.name),
      };
    });
  }

  // ---- apply and prune -------------------------------------------------------------------------

  /**
   * Server-side-apply-like: validates every object first (as Flux's dry-run does), then creates
   * missing objects and updates those whose manifest changed or drifted. Status and server
   * fields are kept; labels and annotations set by others are kept.
   */
  private apply(
    ks: KubeObject,
    manifests: readonly KubeObject[],
  ): { inventory: InventoryEntry[]; targets: HealthTarget[]; changes: string[] } {
    const owner = {
      [OWNER_NAME_LABEL]: ks.metadata.name,
      [OWNER_NAMESPACE_LABEL]: ks.metadata.namespace ?? 'default',
    };
    const planned = manifests.map((manifest) => {
      const type = resourceByKind(manifest.apiVersion, manifest.kind);
      const namespace = isNamespaced(manifest.apiVersion, manifest.kind)
        ? (manifest.metadata.namespace ?? 'default')
        : undefined;
      const target = { type, namespace, name: manifest.metadata.name };
      const id = `${manifest.kind}/${namespace ? `${namespace}/` : ''}${manifest.metadata.name}`;
      if (!type) {
        throw new ReconcileFailure(
          'ReconciliationFailed',
          `${id} dry-run failed: no matches for kind "${manifest.kind}" in version "${manifest.apiVersion}"`,
        );
      }
      return { manifest, target: { ...target, type }, id };
    });
    const namespacesInSet = new Set(
      planned.filter((p) => p.target.type === NAMESPACE).map((p) => p.target.name),
    );
    for (const { target, id } of planned) {
      if (
        target.namespace &&
        !namespacesInSet.has(target.namespace) &&
        !this.store.get(NAMESPACE, undefined, target.namespace)
      ) {
        throw new ReconcileFailure(
          'ReconciliationFailed',
          `${id} dry-run failed (NotFound): namespaces "${target.namespace}" not found`,
        );
      }
    }
    // Namespaces first, as Flux applies cluster definitions before the objects that need them.
    planned.sort((a, b) => Number(b.target.type === NAMESPACE) - Number(a.target.type === NAMESPACE));

    const changes: string[] = [];
    for (const { manifest, target, id } of planned) {
      const desired: KubeObject = structuredClone(manifest);
      desired.apiVersion = apiVersionOf(target.type);
      desired.metadata = {
        ...desired.metadata,
        name: target.name,
        labels: { ...desired.metadata.labels, ...owner },
      };
      if (target.namespace) desired.metadata.namespace = target.namespace;
      else delete desired.metadata.namespace;
      delete desired.status;
      const inventoryKey = `${inventoryId(target.type, target.namespace, target.name)}`;
      const desiredJson = JSON.stringify(desired);
      const existing = this.store.get(target.type, target.namespace, target.name);
      try {
        if (!existing) {
          serverSideApply(this.store, target.type, desired, FLUX_APPLY);
          changes.push(`${id} created`);
        } else if (
          existing.metadata.annotations?.[RECONCILE_ANNOTATION] === 'disabled' ||
          existing.metadata.labels?.[RECONCILE_ANNOTATION] === 'disabled'
        ) {
          continue;
        } else if (this.lastApplied.get(inventoryKey) !== desiredJson || !matchesLive(desired, existing)) {
          if (serverSideApply(this.store, target.type, desired, FLUX_APPLY) === 'configured') {
            changes.push(`${id} configured`);
          }
        }
      } catch (error) {
        throw new ReconcileFailure('ReconciliationFailed', `${id} apply failed: ${errorMessage(error)}`);
      }
      this.lastApplied.set(inventoryKey, desiredJson);
    }
    const inventory = planned
      .map(({ target }) => ({
        id: inventoryId(target.type, target.namespace, target.name),
        v: target.type.version,
      }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { inventory, targets: planned.map((p) => p.target), changes };
  }

  /** Deletes what left the inventory, if it still carries this Kustomization's owner labels. */
  private prune(
    ks: KubeObject,
    previous: readonly InventoryEntry[],
    current: readonly InventoryEntry[],
  ): string[] {
    const keep = new Set(current.map((entry) => entry.id));
    const removed: string[] = [];
    for (const entry of previous) {
      if (keep.has(entry.id)) continue;
      const parsed = parseInventoryEntry(entry);
      if (!parsed) continue;
      const namespace = parsed.type.namespaced ? parsed.namespace : undefined;
      const object = this.store.get(parsed.type, namespace, parsed.name);
      this.lastApplied.delete(entry.id);
      if (!object || !this.ownedBy(object, ks)) continue;
      if (object.metadata.annotations?.[RECONCILE_ANNOTATION] === 'disabled') continue;
      try {
        this.store.delete(parsed.type, namespace, parsed.name);
        removed.push(`${formatTarget({ type: parsed.type, namespace, name: parsed.name })} deleted`);
      } catch (error) {
        throw new ReconcileFailure('PruneFailed', `failed to delete ${entry.id}: ${errorMessage(error)}`);
      }
    }
    return removed;
  }

  private ownedBy(object: KubeObject, ks: KubeObject): boolean {
    return (
      object.metadata.labels?.[OWNER_NAME_LABEL] === ks.metadata.name &&
      object.metadata.labels?.[OWNER_NAMESPACE_LABEL] === (ks.metadata.namespace ?? 'default')
    );
  }

  /** A deleted Kustomization with `prune: true` takes its inventory with it (Flux's finalizer). */
  private garbageCollect(ks: KubeObject): void {
    if (this.stopped) return;
    const entries: InventoryEntry[] = ks.status?.inventory?.entries ?? [];
    try {
      this.prune(ks, entries, []);
    } catch {
      // Best effort: the Kustomization is gone, nothing is left to report on.
    }
  }
}

function upsertHistory(
  history: unknown,
  entry: { digest: string; revision: string; status: string; at: Date; durationMs: number },
): HistoryEntry[] {
  const entries: HistoryEntry[] = Array.isArray(history) ? structuredClone(history as HistoryEntry[]) : [];
  const now = kubeTime(entry.at);
  const duration = formatGoDuration(entry.durationMs);
  const existing = entries.find((h) => h.digest === entry.digest && h.lastReconciledStatus === entry.status);
  if (existing) {
    existing.lastReconciled = now;
    existing.lastReconciledDuration = duration;
    existing.totalReconciliations += 1;
    existing.metadata = { revision: entry.revision };
  } else {
    entries.push({
      digest: entry.digest,
      firstReconciled: now,
      lastReconciled: now,
      lastReconciledDuration: duration,
      lastReconciledStatus: entry.status,
      metadata: { revision: entry.revision },
      totalReconciliations: 1,
    });
  }
  // Newest first; the entry just touched wins ties within the same second.
  const touched = existing ?? entries[entries.length - 1]!;
  const ordered = [touched, ...entries.filter((h) => h !== touched)].sort((a, b) =>
    a === touched ? -1 : b === touched ? 1 : b.lastReconciled.localeCompare(a.lastReconciled),
  );
  return ordered.slice(0, MAX_HISTORY);
}
