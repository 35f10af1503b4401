// The sandbox's ReplicaSet controller, and the small controller kit the workload controllers share:
// watch-fed caches indexed by controlling owner, coalescing work queues drained in a fixed order,
// and an Event recorder. Everything is level-triggered: a watch event only enqueues a key, and the
// reconcile reads the current state. Nothing writes from inside a watch listener, so every
// watcher (the API server's included) sees events in resourceVersion order.
import { claimObjects, selectorMatches } from './controller-ref-manager.ts';
import type { EventRecorder } from './events.ts';
import { applyPodTemplateDefaults, canonicalJson, randomSafeSuffix } from './pod-template.ts';
import {
  SANDBOX_NODE,
  comparePodsForDeletion,
  isPodActive,
  isPodAvailable,
  podReadySince,
} from './pod-simulator.ts';
import { POD, REPLICA_SET, type ResourceType } from './resources.ts';
import {
  type KubeObject,
  type ObjectStore,
  type OwnerReference,
  StatusError,
  type StoreEvent,
} from './store.ts';

// --- controller kit -----------------------------------------------------------------------------

export function objectKey(object: KubeObject): string {
  return `${object.metadata.namespace ?? 'default'}/${object.metadata.name}`;
}

export function controllerOf(object: KubeObject): OwnerReference | undefined {
  return object.metadata.ownerReferences?.find((ref) => ref.controller === true);
}

export function controllerReference(owner: KubeObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/**
 * The objects of one kind as the watch last reported them, indexed by controlling owner's uid and
 * by creation order. Cached objects are shared: never mutate them, clone before changing.
 * Listeners run after the cache is updated.
 */
export class ObjectCache {
  private readonly objects = new Map<string, KubeObject>();
  private readonly byController = new Map<string, Set<string>>();
  /** Keys of objects without a controller: candidates for adoption. */
  private readonly orphanKeys = new Set<string>();
  private readonly creationOrder = new Map<string, number>();
  private readonly listeners: ((event: StoreEvent) => void)[] = [];
  private unsubscribe: (() => void) | undefined;
  private sequence = 0;

  constructor(
    private readonly store: ObjectStore,
    readonly type: ResourceType,
  ) {}

  onEvent(listener: (event: StoreEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Loads what exists (announced to listeners as ADDED) and follows the watch from there. */
  start(): void {
    const existing = this.store
      .list(this.type)
      .sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''));
    const rv = Number(this.store.resourceVersion);
    this.unsubscribe = this.store.watch(this.type, (event) => this.apply(event));
    for (const object of existing) this.apply({ type: 'ADDED', resource: this.type, object, rv });
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  get(key: string): KubeObject | undefined {
    return this.objects.get(key);
  }

  /** The objects whose controlling owner has this uid, oldest first. */
  ownedBy(uid: string): KubeObject[] {
    const keys = this.byController.get(uid);
    if (!keys) return [];
    const owned: KubeObject[] = [];
    for (const key of keys) {
      const object = this.objects.get(key);
      if (object) owned.push(object);
    }
    return owned.sort((a, b) => this.compareCreation(a, b));
  }

  /** Every cached object (unordered). */
  all(): IterableIterator<KubeObject> {
    return this.objects.values();
  }

  /** The objects of a namespace that no controller owns. */
  orphansIn(namespace: string): KubeObject[] {
    const found: KubeObject[] = [];
    for (const key of this.orphanKeys) {
      const object = this.objects.get(key);
      if (object && (object.metadata.namespace ?? 'default') === namespace) found.push(object);
    }
    return found;
  }

  /** Creation order: timestamp, then the order this cache saw them appear (finer than seconds). */
  compareCreation(a: KubeObject, b: KubeObject): number {
    const byTime = (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '');
    if (byTime !== 0) return byTime;
    const seq = (o: KubeObject) => this.creationOrder.get(o.metadata.uid ?? '') ?? Number.MAX_SAFE_INTEGER;
    return seq(a) - seq(b) || a.metadata.name.localeCompare(b.metadata.name);
  }

  private apply(event: StoreEvent): void {
    const key = objectKey(event.object);
    const previous = this.objects.get(key);
    if (previous) this.unindex(key, previous);
    if (event.type === 'DELETED') {
      this.objects.delete(key);
      this.creationOrder.delete(event.object.metadata.uid ?? '');
    } else {
      this.objects.set(key, event.object);
      const uid = event.object.metadata.uid ?? '';
      if (!this.creationOrder.has(uid)) this.creationOrder.set(uid, this.sequence++);
      const owner = controllerOf(event.object)?.uid;
      if (owner) {
        let keys = this.byController.get(owner);
        if (!keys) this.byController.set(owner, (keys = new Set()));
        keys.add(key);
      } else this.orphanKeys.add(key);
    }
    for (const listener of this.listeners) listener(event);
  }

  private unindex(key: string, object: KubeObject): void {
    this.orphanKeys.delete(key);
    const owner = controllerOf(object)?.uid;
    if (!owner) return;
    const keys = this.byController.get(owner);
    keys?.delete(key);
    if (keys?.size === 0) this.byController.delete(owner);
  }
}

/**
 * Runs its queues in one `setImmediate` tick, in the order they were created. The order matters:
 * ReplicaSets act on a scale-down (deleting Pods) before Deployments get to scale anything up,
 * which keeps the Pod count within maxSurge at every instant.
 */
export class Scheduler {
  private readonly queues: WorkQueue[] = [];
  private scheduled = false;
  private stopped = false;

  constructor(private readonly onError: (queue: string, key: string, error: unknown) => void) {}

  queue(name: string, reconcile: (key: string) => void): WorkQueue {
    const queue = new WorkQueue(name, reconcile, this, this.onError);
    this.queues.push(queue);
    return queue;
  }

  wake(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => this.tick());
  }

  stop(): void {
    this.stopped = true;
    for (const queue of this.queues) queue.clear();
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  private tick(): void {
    this.scheduled = false;
    if (this.stopped) return;
    for (const queue of this.queues) queue.drain();
    if (this.queues.some((queue) => queue.hasPending)) this.wake();
  }
}

const RETRY_BASE_MS = 50;
const RETRY_MAX_MS = 5000;

/** A set of keys to reconcile: adding a key twice before it is processed processes it once. */
export class WorkQueue {
  private pending = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();

  constructor(
    readonly name: string,
    private readonly reconcile: (key: string) => void,
    private readonly scheduler: Scheduler,
    private readonly onError: (queue: string, key: string, error: unknown) => void,
  ) {}

  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  add(key: string): void {
    if (this.scheduler.isStopped) return;
    this.pending.add(key);
    this.scheduler.wake();
  }

  /** Processes the key again after `ms`; an earlier request for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.scheduler.isStopped) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.delayed.set(key, { at, timer });
  }

  /** Drops everything queued for a key (its object is gone). */
  forget(key: string): void {
    this.pending.delete(key);
    this.failures.delete(key);
    const existing = this.delayed.get(key);
    if (existing) clearTimeout(existing.timer);
    this.delayed.delete(key);
  }

  clear(): void {
    this.pending.clear();
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.failures.clear();
  }

  drain(): void {
    if (this.pending.size === 0) return;
    const keys = this.pending;
    this.pending = new Set();
    for (const key of keys) {
      try {
        this.reconcile(key);
        this.failures.delete(key);
      } catch (error) {
        const failures = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, failures);
        // A conflict only means someone wrote first: retry at once-ish and stay quiet.
        const conflict = error instanceof StatusError && error.code === 409;
        if (!conflict) this.onError(this.name, key, error);
        this.addAfter(key, Math.min(RETRY_BASE_MS * 2 ** (failures - 1), RETRY_MAX_MS));
      }
    }
  }
}

// --- the ReplicaSet controller ------------------------------------------------------------------

export interface ReplicaSetControllerDeps {
  store: ObjectStore;
  replicaSets: ObjectCache;
  pods: ObjectCache;
  queue: WorkQueue;
  recorder: EventRecorder;
  /** The status a new Pod is created with (the Pod simulator's "scheduled, creating containers"). */
  initialPodStatus: (pod: KubeObject) => unknown;
}

/** Creates and deletes Pods to match each ReplicaSet's spec.replicas, and reports their state. */
export class ReplicaSetController {
  constructor(private readonly deps: ReplicaSetControllerDeps) {}

  observeReplicaSet(event: StoreEvent): void {
    const key = objectKey(event.object);
    if (event.type === 'DELETED') this.deps.queue.forget(key);
    else this.deps.queue.add(key);
  }

  observePod(event: StoreEvent): void {
    const pod = event.object;
    const namespace = pod.metadata.namespace ?? 'default';
    const owner = controllerOf(pod);
    if (owner?.kind === 'ReplicaSet') this.deps.queue.add(`${namespace}/${owner.name}`);
    if (owner || event.type === 'DELETED') return;
    // An orphan: every ReplicaSet that may adopt it looks (getPodReplicaSets).
    for (const rs of this.deps.replicaSets.all()) {
      if ((rs.metadata.namespace ?? 'default') !== namespace) continue;
      if (selectorMatches(rs.spec?.selector, pod.metadata.labels)) this.deps.queue.add(objectKey(rs));
    }
  }

  reconcile(key: string): void {
    const { replicaSets, pods: podCache } = this.deps;
    const rs = replicaSets.get(key);
    if (!rs) return;
    // claimPods: only active Pods are adopted or released.
    const namespace = rs.metadata.namespace ?? 'default';
    const candidates = [...podCache.ownedBy(rs.metadata.uid ?? ''), ...podCache.orphansIn(namespace)].filter(
      isPodActive,
    );
    claimObjects(this.deps.store, POD, rs, rs.spec?.selector, candidates);
    let pods = podCache.ownedBy(rs.metadata.uid ?? '').filter(isPodActive);
    const desired: number = rs.spec?.replicas ?? 1;
    if (!rs.metadata.deletionTimestamp) {
      if (pods.length < desired) {
        for (let i = pods.length; i < desired; i++) pods.push(this.createPod(rs));
      } else if (pods.length > desired) {
        const doomed = [...pods].sort(comparePodsForDeletion).slice(0, pods.length - desired);
        for (const pod of doomed) this.deletePod(rs, pod);
        const gone = new Set(doomed);
        pods = pods.filter((pod) => !gone.has(pod));
      }
    }
    this.updateStatus(key, rs, pods);
  }

  private createPod(rs: KubeObject): KubeObject {
    const { store, recorder } = this.deps;
    const template = applyPodTemplateDefaults(rs.spec?.template);
    const metadata = template.metadata ?? {};
    for (let attempt = 0; ; attempt++) {
      const pod: KubeObject = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: `${rs.metadata.name}-${randomSafeSuffix()}`,
          generateName: `${rs.metadata.name}-`,
          namespace: rs.metadata.namespace ?? 'default',
          ...(metadata.labels ? { labels: { ...metadata.labels } } : {}),
          ...(metadata.annotations ? { annotations: { ...metadata.annotations } } : {}),
          ownerReferences: [controllerReference(rs)],
        },
        spec: { ...template.spec, nodeName: SANDBOX_NODE },
      };
      pod.status = this.deps.initialPodStatus(pod);
      try {
        const created = store.create(POD, pod);
        recorder.normal(rs, 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
        return created;
      } catch (error) {
        const nameTaken = error instanceof StatusError && error.code === 409;
        if (!nameTaken || attempt >= 5) throw error;
      }
    }
  }

  private deletePod(rs: KubeObject, pod: KubeObject): void {
    try {
      this.deps.store.delete(POD, pod.metadata.namespace, pod.metadata.name);
    } catch (error) {
      if (error instanceof StatusError && error.code === 404) return;
      throw error;
    }
    this.deps.recorder.normal(rs, 'SuccessfulDelete', `Deleted pod: ${pod.metadata.name}`);
  }

  private updateStatus(key: string, rs: KubeObject, pods: readonly KubeObject[]): void {
    const now = Date.now();
    const minReadySeconds: number = rs.spec?.minReadySeconds ?? 0;
    const templateLabels: Record<string, string> = rs.spec?.template?.metadata?.labels ?? {};
    let fullyLabeled = 0;
    let ready = 0;
    let available = 0;
    let nextAvailableAt: number | undefined;
    for (const pod of pods) {
      const labels = pod.metadata.labels ?? {};
      if (Object.entries(templateLabels).every(([k, v]) => labels[k] === v)) fullyLabeled++;
      const since = podReadySince(pod);
      if (since === undefined) continue;
      ready++;
      if (isPodAvailable(pod, minReadySeconds, now)) available++;
      else {
        const at = since + minReadySeconds * 1000;
        nextAvailableAt = nextAvailableAt === undefined ? at : Math.min(nextAvailableAt, at);
      }
    }
    const status: Record<string, unknown> = { replicas: pods.length };
    if (fullyLabeled > 0) status['fullyLabeledReplicas'] = fullyLabeled;
    if (ready > 0) status['readyReplicas'] = ready;
    if (available > 0) status['availableReplicas'] = available;
    if (rs.metadata.generation) status['observedGeneration'] = rs.metadata.generation;
    if (rs.status?.conditions) status['conditions'] = rs.status.conditions;
    if (nextAvailableAt !== undefined) this.deps.queue.addAfter(key, nextAvailableAt - now + 1);
    const current = this.deps.replicaSets.get(key);
    if (!current || canonicalJson(current.status ?? {}) === canonicalJson(status)) return;
    this.deps.store.update(REPLICA_SET, { ...current, status }, { subresource: 'status' });
  }
}
