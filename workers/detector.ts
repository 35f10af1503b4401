// Detector role: watches Kustomizations, Deployments, ReplicaSets and Pods through resilient
// informers, evaluates each affected app (debounced), and enqueues one rollback job per incident
// (job id = incident id, delayed by the grace period; the job re-checks before acting).
// It also keeps Rewind's last-healthy record on each Kustomization, so it survives losing Redis.
import type { Queue } from 'bullmq';
import type { KubeConfig } from '@kubernetes/client-node';
import { type KubeObjectJson, ResilientInformer } from '../src/cluster/informer.ts';
import {
  FLUX_KUSTOMIZATION,
  KUSTOMIZE_NAME_LABEL,
  KUSTOMIZE_NAMESPACE_LABEL,
  type KubeCluster,
} from '../src/cluster/kube.ts';
import { effectivePolicy, type RewindConfig } from '../src/config/index.ts';
import { appRef, type AppRef } from '../src/domain/app-ref.ts';
import { redact } from '../src/domain/errors.ts';
import {
  type AppSnapshot,
  LAST_HEALTHY_ANNOTATION,
  failureSignal,
  healthyRevision,
  rollbackJobFor,
} from '../src/pipeline/detect.ts';
import { INCIDENT_ANNOTATION, parseDurableIncident } from '../src/pipeline/durable-incident.ts';
import type { IncidentStore } from '../src/pipeline/incident-record.ts';
import type { Clock, Logger } from '../src/pipeline/ports.ts';
import { QUEUE_NAMES, type RollbackJob, jobOptions, rollbackJobId } from '../src/queue/jobs.ts';

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
  /** With it, an in-flight incident found on a Kustomization but missing here is resumed. */
  incidents?: IncidentStore;
}

interface Watched {
  apiVersion: string;
  kind: string;
  plural: string;
  group: string;
}

const KINDS: Record<'kustomizations' | 'deployments' | 'replicasets' | 'pods', Watched> = {
  kustomizations: { ...FLUX_KUSTOMIZATION, plural: 'kustomizations', group: 'kustomize.toolkit.fluxcd.io' },
  deployments: { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', group: 'apps' },
  replicasets: { apiVersion: 'apps/v1', kind: 'ReplicaSet', plural: 'replicasets', group: 'apps' },
  pods: { apiVersion: 'v1', kind: 'Pod', plural: 'pods', group: '' },
};

function watchPath(kind: Watched, namespace: string | undefined): string {
  const base = kind.group === '' ? '/api/v1' : `/apis/${kind.apiVersion}`;
  return namespace ? `${base}/namespaces/${namespace}/${kind.plural}` : `${base}/${kind.plural}`;
}

export class Detector {
  private readonly informers = new Map<keyof typeof KINDS, ResilientInformer[]>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Incident ids this process enqueued recently; BullMQ's job id dedupes for good, this saves round trips. */
  private readonly enqueued = new Map<string, number>();
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
    for (const [name, kind] of Object.entries(KINDS) as [keyof typeof KINDS, Watched][]) {
      const list = namespaces.map((namespace) => {
        const informer = new ResilientInformer(this.options.kubeConfig, {
          apiVersion: kind.apiVersion,
          kind: kind.kind,
          path: watchPath(kind, namespace),
          namespace,
          inactivityMs: this.options.inactivityMs ?? 90_000,
          resyncMs: this.options.resyncMs ?? 60_000,
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
    for (const ks of this.all('kustomizations'))
      this.schedule(ks.metadata?.namespace ?? '', ks.metadata?.name ?? '');
  }

  stop(): void {
    this.running = false;
    clearInterval(this.sweep);
    for (const list of this.informers.values()) for (const informer of list) informer.stop();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  /** Seconds since each informer last heard from the API server (for /readyz and metrics). */
  informerStats(): Record<string, ResilientInformer['stats'][]> {
    return Object.fromEntries([...this.informers].map(([name, list]) => [name, list.map((i) => i.stats)]));
  }

  private all(name: keyof typeof KINDS): KubeObjectJson[] {
    return (this.informers.get(name) ?? []).flatMap((informer) => informer.list());
  }

  private byUid(name: keyof typeof KINDS, uid: string | undefined): KubeObjectJson | undefined {
    return uid ? this.all(name).find((o) => o.metadata?.uid === uid) : undefined;
  }

  private onChange(kind: keyof typeof KINDS, object: KubeObjectJson): void {
    const owner = this.appOf(kind, object);
    if (owner) this.schedule(owner.namespace, owner.name);
  }

  /** Which Kustomization an object belongs to (Deployment labels; RS and Pods through owners). */
  private appOf(
    kind: keyof typeof KINDS,
    object: KubeObjectJson,
  ): { namespace: string; name: string } | undefined {
    if (kind === 'kustomizations')
      return { namespace: object.metadata?.namespace ?? '', name: object.metadata?.name ?? '' };
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
    const labels = deployment?.metadata?.labels ?? {};
    const name = labels[KUSTOMIZE_NAME_LABEL];
    const namespace = labels[KUSTOMIZE_NAMESPACE_LABEL];
    return name && namespace ? { namespace, name } : undefined;
  }

  private schedule(namespace: string, name: string): void {
    if (!this.running) return;
    const key = `${namespace}/${name}`;
    if (this.timers.has(key)) return;
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        void this.evaluate(namespace, name).catch((error: unknown) =>
          this.options.log.error({ err: redact(String(error)), app: key }, 'evaluation failed'),
        );
      }, this.options.debounceMs ?? 25),
    );
  }

  snapshot(namespace: string, name: string): AppSnapshot | undefined {
    const kustomization = this.all('kustomizations').find(
      (ks) => ks.metadata?.namespace === namespace && ks.metadata?.name === name,
    );
    if (!kustomization) return undefined;
    let app: AppRef;
    try {
      app = appRef('flux-kustomization', namespace, name);
    } catch {
      return undefined;
    }
    const deployments = this.all('deployments').filter(
      (d) =>
        d.metadata?.labels?.[KUSTOMIZE_NAME_LABEL] === name &&
        d.metadata?.labels?.[KUSTOMIZE_NAMESPACE_LABEL] === namespace,
    );
    const replicaSets = this.all('replicasets');
    const pods = this.all('pods');
    const workloads = deployments.map((deployment) => {
      const owned = replicaSets.filter((rs) =>
        (rs.metadata?.ownerReferences ?? []).some((r) => r.uid === deployment.metadata?.uid),
      );
      const uids = new Set(owned.map((rs) => rs.metadata?.uid));
      return {
        deployment,
        replicaSets: owned,
        pods: pods.filter((pod) => (pod.metadata?.ownerReferences ?? []).some((r) => uids.has(r.uid))),
      };
    });
    return { app, kustomization, workloads };
  }

  private async evaluate(namespace: string, name: string): Promise<void> {
    this.stats.evaluations++;
    const snapshot = this.snapshot(namespace, name);
    if (!snapshot) return;
    const now = this.options.clock.now();
    await this.recordHealthy(snapshot);
    await this.resumeDurable(snapshot, now);
    const signal = failureSignal(snapshot, { restartThreshold: this.options.restartThreshold ?? 3, now });
    if (!signal) return;
    const last = this.enqueued.get(signal.incidentId);
    // Re-offer after a while: if Redis lost the job, the same job id is accepted again.
    if (last !== undefined && now.getTime() - last < (this.options.reofferMs ?? 15_000)) return;
    const policy = effectivePolicy(this.options.config, snapshot.app);
    const failingFor = now.getTime() - Date.parse(signal.since);
    const delay = Math.max(0, policy.gracePeriodMs - (Number.isNaN(failingFor) ? 0 : failingFor));
    const job = rollbackJobFor(signal, now);
    await this.options.rollbackQueue.add(
      QUEUE_NAMES.rollback,
      job,
      jobOptions(rollbackJobId(signal.incidentId), delay),
    );
    this.enqueued.set(signal.incidentId, now.getTime());
    this.stats.enqueued++;
    this.options.log.info(
      { incident: signal.incidentId, trigger: signal.trigger, reason: signal.reason, delayMs: delay },
      'failure detected; rollback job enqueued',
    );
  }

  /**
   * After Redis was lost, an incident that had already acted (its record is on the Kustomization)
   * is resumed: the rollback job is idempotent, finds its pushed revert and carries on to verification.
   */
  private async resumeDurable(snapshot: AppSnapshot, now: Date): Promise<void> {
    const durable = parseDurableIncident(snapshot.kustomization.metadata?.annotations?.[INCIDENT_ANNOTATION]);
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
      message: 'Incident found on the Kustomization without a record in Redis; resuming it.',
      detectedAt: now.toISOString(),
      manual: durable.trigger === 'manual',
      dryRun: false,
    };
    await this.options.rollbackQueue.add(QUEUE_NAMES.rollback, job, jobOptions(rollbackJobId(durable.id)));
    this.enqueued.set(durable.id, now.getTime());
    this.options.log.warn(
      { incident: durable.id },
      'resumed an in-flight incident from its Kustomization annotation',
    );
  }

  /** Keeps `rewind.dev/last-healthy-revision` on the Kustomization current (only writes on change). */
  private async recordHealthy(snapshot: AppSnapshot): Promise<void> {
    const revision = healthyRevision(snapshot);
    if (!revision || snapshot.kustomization.metadata?.annotations?.[LAST_HEALTHY_ANNOTATION] === revision)
      return;
    await this.options.cluster.annotate(
      { ...FLUX_KUSTOMIZATION, namespace: snapshot.app.namespace, name: snapshot.app.name },
      { [LAST_HEALTHY_ANNOTATION]: revision },
    );
  }
}
