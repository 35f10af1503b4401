// Detector role: watches the app objects of every engine in the registry and the Deployments,
// ReplicaSets and Pods they manage through resilient informers, evaluates each affected app (debounced), and enqueues one rollback job per incident (job id =
// incident id, delayed by the grace period; the job re-checks before acting). It also keeps
// Rewind's last-healthy record on each app object, so it survives losing Redis. It never names an
// engine: the registry says what to watch and how a Deployment maps to its app.
import type { Queue } from 'bullmq';
import type { KubeConfig } from '@kubernetes/client-node';
import { type KubeObjectJson, ResilientInformer } from '../src/cluster/informer.ts';
import { type KubeCluster, statusCode } from '../src/cluster/kube.ts';
import type { Engine } from '../src/engines/engine.ts';
import { engineFor, registeredEngines } from '../src/engines/registry.ts';
import { effectivePolicy, type RewindConfig } from '../src/config/index.ts';
import { appKey, appRef, type AppRef } from '../src/domain/app-ref.ts';
import type { CommitSha } from '../src/domain/commit-sha.ts';
import { redact } from '../src/domain/errors.ts';
import {
  type AppSnapshot,
  type FailureSignal,
  LAST_HEALTHY_ANNOTATION,
  failureSignal,
  healthyRevision,
  rollbackJobFor,
} from '../src/pipeline/detect.ts';
import { appObjectView, deploymentView, podView, replicaSetView } from '../src/pipeline/detection-view.ts';
import { INCIDENT_ANNOTATION, parseDurableIncident } from '../src/pipeline/durable-incident.ts';
import type { IncidentStore } from '../src/pipeline/incident-record.ts';
import type { Clock, Logger } from '../src/pipeline/ports.ts';
import { QUEUE_NAMES, type RollbackJob, jobOptions, rollbackJobId } from '../src/queue/jobs.ts';
import { enqueueIncident, openIncidentId } from './incident-opening.ts';

export interface DetectorOptions {
  config: RewindConfig;
  kubeConfig: KubeConfig;
  cluster: KubeCluster;
  rollbackQueue: Queue<RollbackJob>;
  log: Logger;
  clock: Clock;
  /** Container restarts that count as failing. */
  restartThreshold?: number;
  /** Coalesce bursts of events for one app. */
  debounceMs?: number;
  inactivityMs?: number;
  resyncMs?: number;
  /** How long to trust that an enqueued job still exists before offering it to the queue again. */
  reofferMs?: number;
  /** With it, an in-flight incident found on an app object but missing here is resumed. */
  incidents?: IncidentStore;
  /**
   * The commit at the head of `ref` in the app's source, for an engine that reports a failure at a
   * ref without its commit (Argo CD's render errors). Without it such failures open no incident.
   */
  resolveRef?: (engine: Engine, object: KubeObjectJson, ref: string) => Promise<CommitSha | undefined>;
  /** Told about every app object change (the rollback role keeps its git mirror warm with it). */
  onAppChange?: (engine: Engine, object: KubeObjectJson) => void;
}

interface Watched {
  apiVersion: string;
  kind: string;
  plural: string;
  group: string;
}

type WorkloadKind = 'deployments' | 'replicasets' | 'pods';
/** Informer key: a workload kind, or an engine id for its app objects. */
type WatchKey = WorkloadKind | Engine['id'];

/** What the cache keeps of each kind: only what detection reads (src/pipeline/detection-view.ts). */
const VIEWS: Record<WorkloadKind, (object: KubeObjectJson) => KubeObjectJson> = {
  deployments: deploymentView,
  replicasets: replicaSetView,
  pods: podView,
};

const uidOf = (object: KubeObjectJson): string[] => (object.metadata?.uid ? [object.metadata.uid] : []);
const ownerUids = (object: KubeObjectJson): string[] =>
  (object.metadata?.ownerReferences ?? []).map((ref) => ref.uid);

const WORKLOADS: Record<WorkloadKind, Watched> = {
  deployments: { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', group: 'apps' },
  replicasets: { apiVersion: 'apps/v1', kind: 'ReplicaSet', plural: 'replicasets', group: 'apps' },
  pods: { apiVersion: 'v1', kind: 'Pod', plural: 'pods', group: '' },
};

function watchPath(kind: Watched, namespace: string | undefined): string {
  const base = kind.group === '' ? '/api/v1' : `/apis/${kind.apiVersion}`;
  return namespace ? `${base}/namespaces/${namespace}/${kind.plural}` : `${base}/${kind.plural}`;
}

/** An informer's stall timeout and resync period unless told otherwise (liveness derives its bound from them). */
export const DEFAULT_INACTIVITY_MS = 90_000;
export const DEFAULT_RESYNC_MS = 60_000;

function isWorkloadKind(key: WatchKey): key is WorkloadKind {
  return key in WORKLOADS;
}

export class Detector {
  private readonly informers = new Map<WatchKey, ResilientInformer[]>();
  /** Engines whose app kind the cluster serves (a cluster without Argo CD has no Applications). */
  private engines: Engine[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Incident ids this process enqueued recently; BullMQ's job id dedupes for good, this saves round trips. */
  private readonly enqueued = new Map<string, number>();
  /** Per app: the head of the ref its current render failure was read at (see withRefHead). */
  private readonly refHeads = new Map<string, { failure: string; head: CommitSha }>();
  private running = false;
  private sweep: NodeJS.Timeout | undefined;
  readonly stats = { evaluations: 0, enqueued: 0 };

  constructor(private readonly options: DetectorOptions) {}

  async start(): Promise<void> {
    this.running = true;
    const namespaces = this.options.config.kubernetes.namespaces.length
      ? [...this.options.config.kubernetes.namespaces]
      : [undefined];
    const starts: Promise<void>[] = [];
    this.engines = [];
    for (const engine of registeredEngines()) {
      if (await this.serves(engine)) this.engines.push(engine);
      else
        this.options.log.info(
          { engine: engine.id, kind: engine.kind.kind },
          'the cluster does not serve this engine kind; not watching it',
        );
    }
    const watched: [WatchKey, Watched][] = [
      ...this.engines.map((e): [WatchKey, Watched] => [e.id, e.kind]),
      ...(Object.entries(WORKLOADS) as [WorkloadKind, Watched][]),
    ];
    for (const [name, kind] of watched) {
      const list = namespaces.map((namespace) => {
        const informer = new ResilientInformer(this.options.kubeConfig, {
          apiVersion: kind.apiVersion,
          kind: kind.kind,
          path: watchPath(kind, namespace),
          namespace,
          ...(isWorkloadKind(name)
            ? { transform: VIEWS[name], indexers: this.workloadIndexers(name) }
            : { transform: appObjectView }),
          inactivityMs: this.options.inactivityMs ?? DEFAULT_INACTIVITY_MS,
          resyncMs: this.options.resyncMs ?? DEFAULT_RESYNC_MS,
          onError: (error) =>
            this.options.log.warn({ err: redact(String(error)), kind: kind.kind }, 'watch error'),
        });
        informer.on((_type, object) => this.onChange(name, object));
        starts.push(informer.start());
        return informer;
      });
      this.informers.set(name, list);
    }
    await Promise.all(starts);
    // Evaluate everything once the caches are warm (events during start were debounced anyway).
    for (const engine of this.engines)
      for (const object of this.all(engine.id)) this.schedule(this.refOf(engine, object));
  }

  /** Whether the API server serves the engine's kind (a 404 on its list means the CRD is absent). */
  private async serves(engine: Engine): Promise<boolean> {
    try {
      await this.options.cluster.list(engine.kind, this.options.config.kubernetes.namespaces[0]);
      return true;
    } catch (error) {
      const code = statusCode(error);
      if (code === 404) return false;
      if (code === 403) {
        // Served but not granted: Rewind's RBAC decides which engines it drives.
        this.options.log.warn({ engine: engine.id }, 'not allowed to list this engine kind; not watching it');
        return false;
      }
      throw error;
    }
  }

  private refOf(engine: Engine, object: KubeObjectJson): AppRef | undefined {
    try {
      return appRef(engine.id, object.metadata?.namespace ?? '', object.metadata?.name ?? '');
    } catch {
      return undefined;
    }
  }

  stop(): void {
    this.running = false;
    clearInterval(this.sweep);
    for (const list of this.informers.values()) for (const informer of list) informer.stop();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  /** How current each informer's cache is (for /healthz and metrics). */
  informerStats(): (ResilientInformer['stats'] & { resource: string; namespace: string })[] {
    return [...this.informers].flatMap(([resource, list]) =>
      list.map((i) => ({ ...i.stats, resource, namespace: i.namespace ?? '' })),
    );
  }

  private all(name: WatchKey): KubeObjectJson[] {
    return (this.informers.get(name) ?? []).flatMap((informer) => informer.list());
  }

  /**
   * Workloads are found by index, never by scanning every cache: by uid, by owner uid (a
   * ReplicaSet's Pods, a Deployment's ReplicaSets), and Deployments by the app they belong to.
   */
  private workloadIndexers(kind: WorkloadKind): Record<string, (object: KubeObjectJson) => string[]> {
    const indexers: Record<string, (object: KubeObjectJson) => string[]> = { uid: uidOf, owner: ownerUids };
    if (kind === 'deployments')
      indexers['app'] = (deployment) =>
        this.engines.flatMap((engine) => {
          const owner = engine.appOfWorkload(deployment);
          return owner ? [appKey({ engine: engine.id, namespace: owner.namespace, name: owner.name })] : [];
        });
    return indexers;
  }

  private indexed(name: WorkloadKind, index: string, value: string | undefined): KubeObjectJson[] {
    if (!value) return [];
    return (this.informers.get(name) ?? []).flatMap((informer) => informer.byIndex(index, value));
  }

  private byUid(name: WorkloadKind, uid: string | undefined): KubeObjectJson | undefined {
    return this.indexed(name, 'uid', uid)[0];
  }

  private onChange(key: WatchKey, object: KubeObjectJson): void {
    if (!isWorkloadKind(key)) {
      const engine = engineFor({ engine: key });
      this.options.onAppChange?.(engine, object);
      this.schedule(this.refOf(engine, object));
      return;
    }
    for (const app of this.appsOf(key, object)) this.schedule(app);
  }

  /** Which apps a workload object belongs to (each engine's labels on its Deployment; RS and Pods through owners). */
  private appsOf(kind: WorkloadKind, object: KubeObjectJson): AppRef[] {
    let deployment: KubeObjectJson | undefined = object;
    if (kind === 'pods') {
      const rsUid = object.metadata?.ownerReferences?.find((r) => r.kind === 'ReplicaSet')?.uid;
      const rs = this.byUid('replicasets', rsUid);
      deployment = this.byUid(
        'deployments',
        rs?.metadata?.ownerReferences?.find((r) => r.kind === 'Deployment')?.uid,
      );
    } else if (kind === 'replicasets') {
      deployment = this.byUid(
        'deployments',
        object.metadata?.ownerReferences?.find((r) => r.kind === 'Deployment')?.uid,
      );
    }
    if (!deployment) return [];
    const apps: AppRef[] = [];
    for (const engine of this.engines) {
      const owner = engine.appOfWorkload(deployment);
      if (!owner) continue;
      try {
        apps.push(appRef(engine.id, owner.namespace, owner.name));
      } catch {
        // a label that is not a valid name: not an app Rewind can act on
      }
    }
    return apps;
  }

  private schedule(app: AppRef | undefined): void {
    if (!this.running || !app) return;
    const key = appKey(app);
    if (this.timers.has(key)) return;
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        void this.evaluate(app).catch((error: unknown) =>
          this.options.log.error({ err: redact(String(error)), app: key }, 'evaluation failed'),
        );
      }, this.options.debounceMs ?? 25),
    );
  }

  snapshot(app: AppRef): AppSnapshot | undefined {
    const engine = engineFor(app);
    const object = (this.informers.get(engine.id) ?? [])
      .map((informer) => informer.get(app.namespace, app.name))
      .find((o) => o !== undefined);
    if (!object) return undefined;
    const workloads = this.indexed('deployments', 'app', appKey(app)).map((deployment) => {
      const replicaSets = this.indexed('replicasets', 'owner', deployment.metadata?.uid);
      const pods = replicaSets.flatMap((rs) => this.indexed('pods', 'owner', rs.metadata?.uid));
      return { deployment, replicaSets, pods };
    });
    return { app, object, workloads };
  }

  private async evaluate(app: AppRef): Promise<void> {
    this.stats.evaluations++;
    const taken = this.snapshot(app);
    if (!taken) return;
    const now = this.options.clock.now();
    await this.recordHealthy(taken);
    await this.resumeDurable(taken, now);
    const snapshot = await this.withRefHead(taken);
    const detected = failureSignal(snapshot, { restartThreshold: this.options.restartThreshold ?? 3, now });
    if (!detected) return;
    const incidentId = await openIncidentId(this.options.incidents, detected, this.options.log);
    if (!incidentId) return;
    const signal = { ...detected, incidentId };
    const last = this.enqueued.get(signal.incidentId);
    // Re-offer after a while: if Redis lost the job, the same job id is accepted again.
    if (last !== undefined && now.getTime() - last < (this.options.reofferMs ?? 15_000)) return;
    if (await this.isOwnRevert(signal)) return;
    const policy = effectivePolicy(this.options.config, snapshot.app);
    const failingFor = now.getTime() - Date.parse(signal.since);
    const delay = Math.max(0, policy.gracePeriodMs - (Number.isNaN(failingFor) ? 0 : failingFor));
    await enqueueIncident(this.options, rollbackJobFor(signal, now), delay, now);
    this.enqueued.set(signal.incidentId, now.getTime());
    this.stats.enqueued++;
    this.options.log.info(
      { incident: signal.incidentId, trigger: signal.trigger, reason: signal.reason, delayMs: delay },
      'failure detected; rollback job enqueued',
    );
  }

  /** The snapshot with the head of the ref its engine failed at, when the engine names only the ref. */
  private async withRefHead(snapshot: AppSnapshot): Promise<AppSnapshot> {
    const engine = engineFor(snapshot.app);
    const verdict = engine.assess(snapshot.object);
    const ref = verdict.state === 'failed' && !verdict.badRevision ? verdict.unresolvedRevision : undefined;
    const key = appKey(snapshot.app);
    if (ref === undefined || !this.options.resolveRef) {
      this.refHeads.delete(key);
      return snapshot;
    }
    // Read once per failure (the condition's start): every event of the app re-evaluates it, and a
    // head read later may already hold a person's fix pushed after the breaking change.
    const failure = `${ref}|${verdict.since ?? ''}`;
    const known = this.refHeads.get(key);
    if (known?.failure === failure) return { ...snapshot, refHead: known.head };
    const head = await this.options.resolveRef(engine, snapshot.object, ref).catch((error: unknown) => {
      this.options.log.warn(
        { app: key, ref, err: redact(String(error)) },
        'could not read the head of the ref the engine failed at',
      );
      return undefined;
    });
    if (!head) return snapshot;
    this.refHeads.set(key, { failure, head });
    return { ...snapshot, refHead: head };
  }

  /**
   * A failure on a revision Rewind itself pushed or merged (an incident recorded it) is that
   * incident's rollout, watched by its verifier: never an incident of its own.
   */
  private async isOwnRevert(signal: FailureSignal): Promise<boolean> {
    const incidents = this.options.incidents;
    if (!incidents || !(await incidents.isOwnCommit(signal.badRevision))) return false;
    this.options.log.debug(
      { app: appKey(signal.app), revision: signal.badRevision, reason: signal.reason },
      "not opening an incident: the failing revision is Rewind's own revert, still rolling out",
    );
    return true;
  }

  /**
   * After Redis was lost, an incident that had already acted (its record is on the app object)
   * is resumed: the rollback job is idempotent, finds its pushed revert and carries on to verification.
   */
  private async resumeDurable(snapshot: AppSnapshot, now: Date): Promise<void> {
    const durable = parseDurableIncident(snapshot.object.metadata?.annotations?.[INCIDENT_ANNOTATION]);
    if (!durable || !this.options.incidents) return;
    const last = this.enqueued.get(durable.id);
    if (last !== undefined && now.getTime() - last < (this.options.reofferMs ?? 15_000)) return;
    if (await this.options.incidents.get(durable.id)) return;
    const job: RollbackJob = {
      incidentId: durable.id,
      app: durable.app,
      badRevision: durable.bad,
      goodRevision: durable.good,
      trigger: durable.trigger,
      reason: 'Resumed',
      message: 'Incident found on the app object without a record in Redis; resuming it.',
      detectedAt: now.toISOString(),
      manual: durable.trigger === 'manual' || durable.trigger === 'chatops',
      dryRun: false,
    };
    await this.options.rollbackQueue.add(QUEUE_NAMES.rollback, job, jobOptions(rollbackJobId(durable.id)));
    this.enqueued.set(durable.id, now.getTime());
    this.options.log.warn(
      { incident: durable.id },
      'resumed an in-flight incident from its annotation on the app',
    );
  }

  /** Keeps `rewind.dev/last-healthy-revision` on the app object current (only writes on change). */
  private async recordHealthy(snapshot: AppSnapshot): Promise<void> {
    const revision = healthyRevision(snapshot);
    if (!revision || snapshot.object.metadata?.annotations?.[LAST_HEALTHY_ANNOTATION] === revision) return;
    await this.options.cluster.annotate(engineFor(snapshot.app).ref(snapshot.app), {
      [LAST_HEALTHY_ANNOTATION]: revision,
    });
  }
}
