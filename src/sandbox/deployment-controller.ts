// The sandbox's Deployment controller: Kubernetes' rollout logic (pkg/controller/deployment:
// sync.go, rolling.go, recreate.go, progress.go) over the in-memory store, so that
// `kubectl rollout status|history|undo` and the bot see what a real cluster would show. One
// DeploymentController runs three loops on one scheduler: the Pod simulator, the ReplicaSet
// controller and the Deployment sync, in that order every tick.
import {
  POD_TEMPLATE_HASH_LABEL,
  TemplateIdentities,
  applyPodTemplateDefaults,
  canonicalJson,
  computePodTemplateHash,
} from './pod-template.ts';
import { PodSimulator } from './pod-simulator.ts';
import { claimObjects, selectorMatches } from './controller-ref-manager.ts';
import { EventRecorder } from './events.ts';
import {
  ObjectCache,
  ReplicaSetController,
  Scheduler,
  type WorkQueue,
  controllerOf,
  controllerReference,
  objectKey,
} from './replicaset-controller.ts';
import { DEPLOYMENT, POD, REPLICA_SET, apiVersionOf } from './resources.ts';
import {
  DESIRED_REPLICAS_ANNOTATION,
  type DeploymentCondition,
  type DeploymentStatus,
  REVISION_ANNOTATION,
  Reason,
  availableReplicasOf,
  deploymentComplete,
  deploymentProgressing,
  deploymentTimedOut,
  desiredReplicas,
  filterActive,
  getCondition,
  hasProgressDeadline,
  isRollingUpdate,
  isSaturated,
  maxRevision,
  maxSurge,
  maxUnavailable,
  newCondition,
  newReplicaSetReplicas,
  progressDeadline,
  proportion,
  removeCondition,
  replicasAnnotationsNeedUpdate,
  revisionHistoryLimit,
  revisionOf,
  setCondition,
  setNewReplicaSetAnnotations,
  setReplicasAnnotations,
  specReplicas,
  sumSpecReplicas,
  sumStatus,
} from './rollout-math.ts';
import { type KubeObject, type ObjectStore, StatusError } from './store.ts';

export interface WorkloadOptions {
  /** How long a simulated Pod takes to become Ready. */
  podReadyMs: number;
  /** Image globs whose Pods never become Ready (waiting reason ImagePullBackOff). */
  unreadyImages: readonly string[];
  /** Image globs whose Pods crash-loop (CrashLoopBackOff, restartCount rising). */
  crashImages: readonly string[];
  /** Image globs whose readiness probes fail: such Pods run but are never Ready (read at every probe). */
  probeFailImages?: readonly string[];
  /** The crash-loop back-off's first wait (the kubelet's 10 s by default; doubles up to 30 times it). */
  crashBackoffBaseMs?: number;
}

/**
 * Kubernetes' apps/v1 Deployment defaults, applied in place (and returned): replicas 1,
 * revisionHistoryLimit 10, progressDeadlineSeconds 600, RollingUpdate 25%/25%, and the pod
 * template's defaults. The API server may call this on create/update; the controller applies the
 * same defaults in memory to whatever it finds, so objects written around the API still work.
 */
export function applyDeploymentDefaults(deployment: KubeObject): KubeObject {
  const spec = (deployment.spec ??= {});
  spec.replicas ??= 1;
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  const strategy = (spec.strategy ??= {});
  strategy.type ??= 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') {
    const rolling = (strategy.rollingUpdate ??= {});
    rolling.maxSurge ??= '25%';
    rolling.maxUnavailable ??= '25%';
  }
  if (spec.template) spec.template = applyPodTemplateDefaults(spec.template);
  return deployment;
}

/** Pending ProgressDeadline checks fire this long after the deadline passes. */
const DEADLINE_SLACK_MS = 5;

export class DeploymentController {
  private running: { stop(): void } | undefined;

  constructor(
    readonly store: ObjectStore,
    readonly options: WorkloadOptions,
  ) {}

  start(): void {
    if (this.running) return;
    const store = this.store;
    const scheduler = new Scheduler((queue, key, error) => {
      const message = error instanceof Error ? error.message : String(error);
      console.error(`[sandbox] ${queue} ${key}: ${message}`);
    });
    const deployments = new ObjectCache(store, DEPLOYMENT);
    const replicaSets = new ObjectCache(store, REPLICA_SET);
    const pods = new ObjectCache(store, POD);

    // The queues' callbacks run on later ticks, once everything below exists.
    const podQueue = scheduler.queue('pods', (key) => sim.reconcile(key));
    const sim = new PodSimulator(store, this.options, podQueue);

    const rsQueue = scheduler.queue('replicasets', (key) => rsc.reconcile(key));
    const rsc = new ReplicaSetController({
      store,
      replicaSets,
      pods,
      queue: rsQueue,
      recorder: new EventRecorder(store, 'replicaset-controller'),
      initialPodStatus: (pod) => sim.initialStatus(pod),
    });

    const deploymentQueue = scheduler.queue('deployments', (key) => sync.reconcile(key));
    const sync = new DeploymentSync({
      store,
      deployments,
      replicaSets,
      pods,
      queue: deploymentQueue,
      recorder: new EventRecorder(store, 'deployment-controller'),
    });

    pods.onEvent((event) => {
      sim.observe(event);
      rsc.observePod(event);
      if (event.type === 'DELETED') {
        const recreate = recreateDeploymentLeftWithoutPods(event.object, deployments, replicaSets, pods);
        if (recreate) deploymentQueue.add(recreate);
      }
    });
    replicaSets.onEvent((event) => {
      rsc.observeReplicaSet(event);
      const rs = event.object;
      const namespace = rs.metadata.namespace ?? 'default';
      const owner = controllerOf(rs);
      if (owner?.kind === 'Deployment') deploymentQueue.add(`${namespace}/${owner.name}`);
      if (owner || event.type === 'DELETED') return;
      // An orphan: every Deployment that may adopt it looks (getDeploymentsForReplicaSet).
      for (const d of deployments.all()) {
        if ((d.metadata.namespace ?? 'default') !== namespace) continue;
        if (selectorMatches(d.spec?.selector, rs.metadata.labels)) deploymentQueue.add(objectKey(d));
      }
    });
    deployments.onEvent((event) => {
      const key = objectKey(event.object);
      if (event.type === 'DELETED') deploymentQueue.forget(key);
      else deploymentQueue.add(key);
    });
    deployments.start();
    replicaSets.start();
    pods.start();

    this.running = {
      stop() {
        scheduler.stop();
        sim.stop();
        pods.stop();
        replicaSets.stop();
        deployments.stop();
      },
    };
  }

  stop(): void {
    this.running?.stop();
    this.running = undefined;
  }
}

/**
 * deployment_controller.go's deletePod: a Recreate Deployment waits for its old Pods to be gone
 * (not only terminating), so the last Pod's deletion is what lets it scale up the new ReplicaSet.
 * Returns the Deployment's key when `pod` was the last Pod of a Recreate Deployment.
 */
function recreateDeploymentLeftWithoutPods(
  pod: KubeObject,
  deployments: ObjectCache,
  replicaSets: ObjectCache,
  pods: ObjectCache,
): string | undefined {
  const rsOwner = controllerOf(pod);
  if (rsOwner?.kind !== 'ReplicaSet') return undefined;
  const namespace = pod.metadata.namespace ?? 'default';
  const rs = replicaSets.get(`${namespace}/${rsOwner.name}`);
  const dOwner = rs && controllerOf(rs);
  if (dOwner?.kind !== 'Deployment') return undefined;
  const key = `${namespace}/${dOwner.name}`;
  const d = deployments.get(key);
  if (d?.spec?.strategy?.type !== 'Recreate') return undefined;
  const left = replicaSets
    .ownedBy(d.metadata.uid ?? '')
    .some((owned) => pods.ownedBy(owned.metadata.uid ?? '').length > 0);
  return left ? undefined : key;
}

interface DeploymentSyncDeps {
  store: ObjectStore;
  deployments: ObjectCache;
  replicaSets: ObjectCache;
  pods: ObjectCache;
  queue: WorkQueue;
  recorder: EventRecorder;
}

interface ReplicaSetPartition {
  newRS: KubeObject | undefined;
  oldRSs: KubeObject[];
}

/**
 * One Deployment reconcile. `d` is a private copy with defaults applied; its status and
 * annotations are kept in step with what this sync writes, as in the Go controller.
 */
class DeploymentSync {
  /** ReplicaSet templates in the cache never change in place, so their identities can be kept. */
  private readonly identities = new TemplateIdentities();

  constructor(private readonly deps: DeploymentSyncDeps) {}

  reconcile(key: string): void {
    const cached = this.deps.deployments.get(key);
    if (!cached) {
      this.deps.queue.forget(key);
      return;
    }
    this.claimReplicaSets(cached);
    const d = applyDeploymentDefaults(structuredClone(cached));
    d.status ??= {};
    if (d.metadata.deletionTimestamp) return this.syncStatusOnly(d);
    this.checkPausedConditions(d);
    if (d.spec.paused) return this.syncScaling(d);
    if (this.isScalingEvent(d)) return this.syncScaling(d);
    if (isRollingUpdate(d)) this.rolloutRolling(d);
    else this.rolloutRecreate(d);
  }

  // --- reading the ReplicaSets ------------------------------------------------------------------

  /** ClaimReplicaSets: adopts matching orphans, releases owned ReplicaSets that stopped matching. */
  private claimReplicaSets(d: KubeObject): void {
    const { replicaSets, store } = this.deps;
    const candidates = [
      ...replicaSets.ownedBy(d.metadata.uid ?? ''),
      ...replicaSets.orphansIn(d.metadata.namespace ?? 'default'),
    ];
    claimObjects(store, REPLICA_SET, d, d.spec?.selector, candidates);
  }

  /** The Deployment's ReplicaSets from the cache: the oldest one matching its template is "new". */
  private partition(d: KubeObject): ReplicaSetPartition {
    const owned = this.deps.replicaSets.ownedBy(d.metadata.uid ?? '');
    const wanted = this.identities.of(d.spec.template);
    const newRS = owned.find((rs) => this.identities.of(rs.spec?.template) === wanted);
    return { newRS, oldRSs: owned.filter((rs) => rs !== newRS) };
  }

  private byCreation(sets: readonly KubeObject[]): KubeObject[] {
    return [...sets].sort((a, b) => this.deps.replicaSets.compareCreation(a, b));
  }

  /** getAllReplicaSetsAndSyncRevision. */
  private syncRevision(d: KubeObject, createIfMissing: boolean): ReplicaSetPartition {
    const { newRS, oldRSs } = this.partition(d);
    return { newRS: this.getNewReplicaSet(d, newRS, oldRSs, createIfMissing), oldRSs };
  }

  /**
   * getNewReplicaSet: brings an existing matching ReplicaSet up to the next revision (a rollback
   * reuses it, keeping its old number in revision-history), or creates one.
   */
  private getNewReplicaSet(
    d: KubeObject,
    existing: KubeObject | undefined,
    oldRSs: readonly KubeObject[],
    createIfMissing: boolean,
  ): KubeObject | undefined {
    const newRevision = maxRevision(oldRSs) + 1;
    const now = Date.now();
    if (existing) {
      // Shallow copies: only annotations and spec.minReadySeconds change, and the store clones.
      const copy: KubeObject = {
        ...existing,
        metadata: { ...existing.metadata, annotations: { ...existing.metadata.annotations } },
      };
      const annotationsChanged = setNewReplicaSetAnnotations(d, copy, newRevision, true);
      const minReadySeconds = d.spec.minReadySeconds ?? 0;
      const minReadyChanged = (existing.spec?.minReadySeconds ?? 0) !== minReadySeconds;
      let rs = existing;
      if (annotationsChanged || minReadyChanged) {
        copy.spec = { ...existing.spec };
        if (minReadySeconds > 0) copy.spec.minReadySeconds = minReadySeconds;
        else delete copy.spec.minReadySeconds;
        rs = this.deps.store.update(REPLICA_SET, copy);
      }
      this.setDeploymentRevision(d, rs.metadata.annotations?.[REVISION_ANNOTATION] ?? '');
      if (hasProgressDeadline(d) && !getCondition(d.status, 'Progressing')) {
        setCondition(
          d.status,
          newCondition(
            'Progressing',
            'True',
            Reason.FoundNewReplicaSet,
            `Found new replica set "${rs.metadata.name}"`,
            now,
          ),
        );
        this.writeStatus(d, d.status);
      }
      return rs;
    }
    if (!createIfMissing) return undefined;

    const collisionCount: number | undefined = d.status.collisionCount;
    const hash = computePodTemplateHash(d.spec.template, collisionCount);
    const template = structuredClone(d.spec.template ?? {});
    template.metadata = {
      ...template.metadata,
      labels: { ...template.metadata?.labels, [POD_TEMPLATE_HASH_LABEL]: hash },
    };
    const selector = structuredClone(d.spec.selector ?? {});
    selector.matchLabels = { ...selector.matchLabels, [POD_TEMPLATE_HASH_LABEL]: hash };
    const owner = this.deps.deployments.get(objectKey(d)) ?? d;
    const rs: KubeObject = {
      apiVersion: apiVersionOf(REPLICA_SET),
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: d.metadata.namespace ?? 'default',
        labels: { ...template.metadata.labels },
        ownerReferences: [controllerReference(owner)],
      },
      spec: {
        replicas: 0,
        ...(d.spec.minReadySeconds ? { minReadySeconds: d.spec.minReadySeconds } : {}),
        selector,
        template,
      },
    };
    rs.spec.replicas = newReplicaSetReplicas(d, [...oldRSs, rs], rs);
    setNewReplicaSetAnnotations(d, rs, newRevision, false);
    let created: KubeObject;
    try {
      created = this.deps.store.create(REPLICA_SET, rs);
    } catch (error) {
      if (!(error instanceof StatusError) || error.code !== 409) throw error;
      // A ReplicaSet of that name holds another template: step the hash, as Kubernetes does.
      d.status.collisionCount = (collisionCount ?? 0) + 1;
      this.writeStatus(d, d.status);
      throw error;
    }
    if (specReplicas(created) > 0) {
      this.deps.recorder.normal(
        d,
        'ScalingReplicaSet',
        `Scaled up replica set ${created.metadata.name} from 0 to ${specReplicas(created)}`,
      );
    }
    if (hasProgressDeadline(d)) {
      setCondition(
        d.status,
        newCondition(
          'Progressing',
          'True',
          Reason.NewReplicaSetCreated,
          `Created new replica set "${created.metadata.name}"`,
          now,
        ),
      );
    }
    this.setDeploymentRevision(d, String(newRevision));
    this.writeStatus(d, d.status);
    return created;
  }

  // --- the sync paths ---------------------------------------------------------------------------

  /** A Deployment marked for deletion only reports status. */
  private syncStatusOnly(d: KubeObject): void {
    const { newRS, oldRSs } = this.syncRevision(d, false);
    this.syncDeploymentStatus(d, newRS, oldRSs);
  }

  /** `sync`: scaling events and paused Deployments. No new ReplicaSet, proportional scaling. */
  private syncScaling(d: KubeObject): void {
    const { newRS, oldRSs } = this.syncRevision(d, false);
    this.scale(d, newRS, oldRSs);
    if (d.spec.paused) this.cleanupDeployment(d, this.partition(d).oldRSs);
    const fresh = this.partition(d);
    this.syncDeploymentStatus(d, fresh.newRS, fresh.oldRSs);
  }

  /** A replica count that differs from what the active ReplicaSets were last sized for. */
  private isScalingEvent(d: KubeObject): boolean {
    const { newRS, oldRSs } = this.syncRevision(d, false);
    return filterActive([...oldRSs, newRS]).some((rs) => {
      const desired = Number(rs.metadata.annotations?.[DESIRED_REPLICAS_ANNOTATION]);
      return Number.isInteger(desired) && desired !== desiredReplicas(d);
    });
  }

  private rolloutRolling(d: KubeObject): void {
    const { newRS, oldRSs } = this.syncRevision(d, true);
    if (!newRS) return;
    const all = [...oldRSs, newRS];
    if (this.reconcileNewReplicaSet(d, all, newRS)) return this.syncRolloutStatus(d);
    if (this.reconcileOldReplicaSets(d, all, filterActive(oldRSs), newRS)) return this.syncRolloutStatus(d);
    if (deploymentComplete(d, d.status)) this.cleanupDeployment(d, oldRSs);
    this.syncRolloutStatus(d);
  }

  private rolloutRecreate(d: KubeObject): void {
    let { newRS, oldRSs } = this.syncRevision(d, false);
    let scaledDown = false;
    for (const rs of filterActive(oldRSs)) {
      if (this.scaleReplicaSetAndRecordEvent(d, rs, 0).scaled) scaledDown = true;
    }
    if (scaledDown) return this.syncRolloutStatus(d);
    if (this.oldPodsRunning(newRS, oldRSs)) return this.syncRolloutStatus(d);
    if (!newRS) ({ newRS, oldRSs } = this.syncRevision(d, true));
    if (newRS) this.scaleReplicaSetAndRecordEvent(d, newRS, desiredReplicas(d));
    if (deploymentComplete(d, d.status)) this.cleanupDeployment(d, oldRSs);
    this.syncRolloutStatus(d);
  }

  /**
   * Recreate waits until no Pod of an old ReplicaSet is left. As recreate.go's oldPodsRunning, only
   * the phase counts: a terminating Pod (deletionTimestamp set, phase still Running) is still
   * running, so the new ReplicaSet is not scaled up while it drains.
   */
  private oldPodsRunning(newRS: KubeObject | undefined, oldRSs: readonly KubeObject[]): boolean {
    if (sumStatus(oldRSs, 'replicas') > 0) return true;
    return oldRSs.some(
      (rs) =>
        rs !== newRS &&
        this.deps.pods
          .ownedBy(rs.metadata.uid ?? '')
          .some((pod) => pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed'),
    );
  }

  // --- scaling ----------------------------------------------------------------------------------

  private reconcileNewReplicaSet(d: KubeObject, all: readonly KubeObject[], newRS: KubeObject): boolean {
    const desired = desiredReplicas(d);
    if (specReplicas(newRS) === desired) return false;
    if (specReplicas(newRS) > desired) return this.scaleReplicaSetAndRecordEvent(d, newRS, desired).scaled;
    return this.scaleReplicaSetAndRecordEvent(d, newRS, newReplicaSetReplicas(d, all, newRS)).scaled;
  }

  private reconcileOldReplicaSets(
    d: KubeObject,
    all: readonly KubeObject[],
    activeOld: readonly KubeObject[],
    newRS: KubeObject,
  ): boolean {
    if (sumSpecReplicas(activeOld) === 0) return false;
    const minAvailable = desiredReplicas(d) - maxUnavailable(d);
    const newUnavailable = specReplicas(newRS) - availableReplicasOf(newRS);
    const maxScaledDown = sumSpecReplicas(all) - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return false;
    const cleaned = this.cleanupUnhealthyReplicas(d, activeOld, maxScaledDown);
    const scaledDown = this.scaleDownOldReplicaSetsForRollingUpdate(
      d,
      [...cleaned.oldRSs, newRS],
      cleaned.oldRSs,
    );
    return cleaned.count + scaledDown > 0;
  }

  /** Scales down old replicas that are not available first: they would block the rollout. */
  private cleanupUnhealthyReplicas(
    d: KubeObject,
    oldRSs: readonly KubeObject[],
    maxCleanup: number,
  ): { oldRSs: KubeObject[]; count: number } {
    const sorted = this.byCreation(oldRSs);
    let total = 0;
    for (let i = 0; i < sorted.length; i++) {
      if (total >= maxCleanup) break;
      const rs = sorted[i]!;
      const replicas = specReplicas(rs);
      if (replicas === 0 || replicas === availableReplicasOf(rs)) continue;
      const count = Math.min(maxCleanup - total, replicas - availableReplicasOf(rs));
      sorted[i] = this.scaleReplicaSetAndRecordEvent(d, rs, replicas - count).rs;
      total += count;
    }
    return { oldRSs: sorted, count: total };
  }

  private scaleDownOldReplicaSetsForRollingUpdate(
    d: KubeObject,
    all: readonly KubeObject[],
    oldRSs: readonly KubeObject[],
  ): number {
    const minAvailable = desiredReplicas(d) - maxUnavailable(d);
    const available = sumStatus(all, 'availableReplicas');
    if (available <= minAvailable) return 0;
    const toScaleDown = available - minAvailable;
    let total = 0;
    for (const rs of this.byCreation(oldRSs)) {
      if (total >= toScaleDown) break;
      if (specReplicas(rs) === 0) continue;
      const count = Math.min(specReplicas(rs), toScaleDown - total);
      this.scaleReplicaSetAndRecordEvent(d, rs, specReplicas(rs) - count);
      total += count;
    }
    return total;
  }

  /** `scale`: resizes for a changed replica count, proportionally across active ReplicaSets. */
  private scale(d: KubeObject, newRS: KubeObject | undefined, oldRSs: readonly KubeObject[]): void {
    const desired = desiredReplicas(d);
    const activeOrLatest = this.findActiveOrLatest(newRS, oldRSs);
    if (activeOrLatest) {
      if (specReplicas(activeOrLatest) !== desired)
        this.scaleReplicaSetAndRecordEvent(d, activeOrLatest, desired);
      return;
    }
    if (isSaturated(d, newRS)) {
      for (const rs of filterActive(oldRSs)) this.scaleReplicaSetAndRecordEvent(d, rs, 0);
      return;
    }
    if (!isRollingUpdate(d)) return;
    const active = filterActive([...oldRSs, newRS]);
    const allowed = desired > 0 ? desired + maxSurge(d) : 0;
    const toAdd = allowed - sumSpecReplicas(active);
    if (toAdd > 0) active.sort((a, b) => specReplicas(b) - specReplicas(a) || this.newerFirst(a, b));
    else if (toAdd < 0) active.sort((a, b) => specReplicas(b) - specReplicas(a) || -this.newerFirst(a, b));
    let added = 0;
    const sizes = new Map<KubeObject, number>();
    for (const rs of active) {
      const share = toAdd !== 0 ? proportion(d, rs, toAdd, added) : 0;
      sizes.set(rs, specReplicas(rs) + share);
      added += share;
    }
    active.forEach((rs, i) => {
      let size = sizes.get(rs)!;
      if (i === 0 && toAdd !== 0) size = Math.max(0, size + toAdd - added);
      this.scaleReplicaSet(d, rs, size, toAdd > 0 ? 'up' : 'down');
    });
  }

  private newerFirst(a: KubeObject, b: KubeObject): number {
    return this.deps.replicaSets.compareCreation(b, a);
  }

  private findActiveOrLatest(
    newRS: KubeObject | undefined,
    oldRSs: readonly KubeObject[],
  ): KubeObject | undefined {
    if (!newRS && oldRSs.length === 0) return undefined;
    const newestFirst = [...oldRSs].sort((a, b) => this.newerFirst(a, b));
    const active = filterActive([...newestFirst, newRS]);
    if (active.length === 0) return newRS ?? newestFirst[0];
    return active.length === 1 ? active[0] : undefined;
  }

  private scaleReplicaSetAndRecordEvent(
    d: KubeObject,
    rs: KubeObject,
    size: number,
  ): { scaled: boolean; rs: KubeObject } {
    if (specReplicas(rs) === size) return { scaled: false, rs };
    return this.scaleReplicaSet(d, rs, size, specReplicas(rs) < size ? 'up' : 'down');
  }

  private scaleReplicaSet(
    d: KubeObject,
    rs: KubeObject,
    size: number,
    operation: 'up' | 'down',
  ): { scaled: boolean; rs: KubeObject } {
    const desired = desiredReplicas(d);
    const max = desired + maxSurge(d);
    const sizeChanged = specReplicas(rs) !== size;
    if (!sizeChanged && !replicasAnnotationsNeedUpdate(rs, desired, max)) return { scaled: false, rs };
    const current = this.deps.replicaSets.get(objectKey(rs)) ?? rs;
    const copy: KubeObject = {
      ...current,
      metadata: { ...current.metadata, annotations: { ...current.metadata.annotations } },
      spec: { ...current.spec, replicas: size },
    };
    const before = specReplicas(current);
    setReplicasAnnotations(copy, desired, max);
    const updated = this.deps.store.update(REPLICA_SET, copy);
    if (sizeChanged) {
      this.deps.recorder.normal(
        d,
        'ScalingReplicaSet',
        `Scaled ${operation} replica set ${updated.metadata.name} from ${before} to ${size}`,
      );
    }
    return { scaled: sizeChanged, rs: updated };
  }

  /** Deletes the oldest fully scaled-down ReplicaSets beyond revisionHistoryLimit. */
  private cleanupDeployment(d: KubeObject, oldRSs: readonly KubeObject[]): void {
    const limit = revisionHistoryLimit(d);
    if (limit === undefined) return;
    const cleanable = oldRSs.filter((rs) => !rs.metadata.deletionTimestamp);
    const excess = cleanable.length - limit;
    if (excess <= 0) return;
    const byRevision = [...cleanable].sort(
      (a, b) => revisionOf(a) - revisionOf(b) || this.deps.replicaSets.compareCreation(a, b),
    );
    for (const rs of byRevision.slice(0, excess)) {
      const current = this.deps.replicaSets.get(objectKey(rs));
      if (!current) continue;
      if (
        (current.status?.replicas ?? 0) !== 0 ||
        specReplicas(current) !== 0 ||
        (current.metadata.generation ?? 0) > (current.status?.observedGeneration ?? 0)
      ) {
        continue;
      }
      try {
        this.deps.store.delete(REPLICA_SET, current.metadata.namespace, current.metadata.name);
      } catch (error) {
        if (!(error instanceof StatusError) || error.code !== 404) throw error;
      }
    }
  }

  // --- status -----------------------------------------------------------------------------------

  private calculateStatus(
    d: KubeObject,
    newRS: KubeObject | undefined,
    oldRSs: readonly KubeObject[],
  ): DeploymentStatus {
    const all = newRS ? [...oldRSs, newRS] : [...oldRSs];
    const available = sumStatus(all, 'availableReplicas');
    const status: DeploymentStatus = {
      observedGeneration: d.metadata.generation ?? 1,
      replicas: sumStatus(all, 'replicas'),
      updatedReplicas: newRS ? sumStatus([newRS], 'replicas') : 0,
      readyReplicas: sumStatus(all, 'readyReplicas'),
      availableReplicas: available,
      unavailableReplicas: Math.max(0, sumSpecReplicas(all) - available),
      conditions: [...((d.status.conditions as DeploymentCondition[] | undefined) ?? [])],
    };
    if (d.status.collisionCount !== undefined) status.collisionCount = d.status.collisionCount;
    const now = Date.now();
    if (available >= desiredReplicas(d) - maxUnavailable(d)) {
      setCondition(
        status,
        newCondition(
          'Available',
          'True',
          Reason.MinimumReplicasAvailable,
          'Deployment has minimum availability.',
          now,
        ),
      );
    } else {
      setCondition(
        status,
        newCondition(
          'Available',
          'False',
          Reason.MinimumReplicasUnavailable,
          'Deployment does not have minimum availability.',
          now,
        ),
      );
    }
    return status;
  }

  private syncDeploymentStatus(
    d: KubeObject,
    newRS: KubeObject | undefined,
    oldRSs: readonly KubeObject[],
  ): void {
    const status = this.calculateStatus(d, newRS, oldRSs);
    if (!sameStatus(d.status, status)) this.writeStatus(d, status);
  }

  /** syncRolloutStatus: counters plus the Progressing condition's verdict on this rollout. */
  private syncRolloutStatus(d: KubeObject): void {
    const { newRS, oldRSs } = this.partition(d);
    const status = this.calculateStatus(d, newRS, oldRSs);
    const now = Date.now();
    if (!hasProgressDeadline(d)) removeCondition(status, 'Progressing');
    const current = getCondition(d.status, 'Progressing');
    const complete =
      (status.replicas ?? 0) === (status.updatedReplicas ?? 0) &&
      current?.reason === Reason.NewReplicaSetAvailable;
    if (hasProgressDeadline(d) && !complete) {
      const subject = newRS ? `ReplicaSet "${newRS.metadata.name}"` : `Deployment "${d.metadata.name}"`;
      if (deploymentComplete(d, status)) {
        setCondition(
          status,
          newCondition(
            'Progressing',
            'True',
            Reason.NewReplicaSetAvailable,
            `${subject} has successfully progressed.`,
            now,
          ),
        );
      } else if (deploymentProgressing(d, status)) {
        const condition = newCondition(
          'Progressing',
          'True',
          Reason.ReplicaSetUpdated,
          `${subject} is progressing.`,
          now,
        );
        if (current?.status === 'True') condition.lastTransitionTime = current.lastTransitionTime;
        removeCondition(status, 'Progressing');
        setCondition(status, condition);
      } else if (deploymentTimedOut(d, status, now)) {
        setCondition(
          status,
          newCondition(
            'Progressing',
            'False',
            Reason.ProgressDeadlineExceeded,
            `${subject} has timed out progressing.`,
            now,
          ),
        );
      }
    }
    if (sameStatus(d.status, status)) {
      this.requeueStuckDeployment(d, status, now);
      return;
    }
    this.writeStatus(d, status);
  }

  /** A rollout with no progress is checked again right after its deadline passes. */
  private requeueStuckDeployment(d: KubeObject, status: DeploymentStatus, now: number): void {
    const current = getCondition(d.status, 'Progressing');
    if (!hasProgressDeadline(d) || !current) return;
    if (deploymentComplete(d, status) || current.reason === Reason.ProgressDeadlineExceeded) return;
    const deadline = progressDeadline(d, d.status);
    if (deadline === undefined) return;
    this.deps.queue.addAfter(objectKey(d), Math.max(0, deadline - now) + DEADLINE_SLACK_MS);
  }

  private checkPausedConditions(d: KubeObject): void {
    if (!hasProgressDeadline(d)) return;
    const condition = getCondition(d.status, 'Progressing');
    if (condition?.reason === Reason.ProgressDeadlineExceeded) return;
    const pausedBefore = condition?.reason === Reason.DeploymentPaused;
    const now = Date.now();
    if (d.spec.paused && !pausedBefore) {
      setCondition(
        d.status,
        newCondition('Progressing', 'Unknown', Reason.DeploymentPaused, 'Deployment is paused', now),
      );
    } else if (!d.spec.paused && pausedBefore) {
      setCondition(
        d.status,
        newCondition('Progressing', 'Unknown', Reason.DeploymentResumed, 'Deployment is resumed', now),
      );
    } else {
      return;
    }
    this.writeStatus(d, d.status);
  }

  // --- writes to the Deployment -----------------------------------------------------------------

  /** Copies the new ReplicaSet's revision onto the Deployment (a metadata-only write). */
  private setDeploymentRevision(d: KubeObject, revision: string): void {
    if (!revision || d.metadata.annotations?.[REVISION_ANNOTATION] === revision) return;
    const current = this.deps.deployments.get(objectKey(d));
    if (!current) return;
    const stored = this.deps.store.update(DEPLOYMENT, {
      ...current,
      metadata: {
        ...current.metadata,
        annotations: { ...current.metadata.annotations, [REVISION_ANNOTATION]: revision },
      },
    });
    d.metadata.annotations = { ...d.metadata.annotations, [REVISION_ANNOTATION]: revision };
    d.metadata.resourceVersion = stored.metadata.resourceVersion!;
  }

  private writeStatus(d: KubeObject, status: DeploymentStatus): void {
    const current = this.deps.deployments.get(objectKey(d));
    if (!current) return;
    const stored = this.deps.store.update(
      DEPLOYMENT,
      { ...current, status: serializeStatus(status) },
      { subresource: 'status' },
    );
    d.status = structuredClone(status);
    d.metadata.resourceVersion = stored.metadata.resourceVersion!;
  }
}

/** Status as the API returns it: zero counters omitted (they are `omitempty` in apps/v1). */
function serializeStatus(status: DeploymentStatus): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of [
    'observedGeneration',
    'replicas',
    'updatedReplicas',
    'readyReplicas',
    'availableReplicas',
    'unavailableReplicas',
  ] as const) {
    const value = status[field];
    if (value) out[field] = value;
  }
  if (status.conditions?.length) out['conditions'] = status.conditions;
  if (status.collisionCount !== undefined) out['collisionCount'] = status.collisionCount;
  return out;
}

function sameStatus(a: DeploymentStatus | undefined, b: DeploymentStatus): boolean {
  return canonicalJson(serializeStatus(a ?? {})) === canonicalJson(serializeStatus(b));
}
