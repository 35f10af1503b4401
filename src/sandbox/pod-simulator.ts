// Simulated kubelet: Pods in the sandbox have no processes; this gives them the status a real node
// would report. A Pod starts Pending (ContainerCreating), and `podReadyMs` later its containers are
// running and Ready, unless their image matches a glob of `unreadyImages` (waiting
// ImagePullBackOff, forever) or `crashImages` (CrashLoopBackOff, restarted with the kubelet's
// back-off: 10 s doubling to 5 min, see crash-backoff.ts). A running container with a
// readinessProbe is Ready only once its probe says so (readiness-probe.ts: initialDelaySeconds,
// periodSeconds and the thresholds, in real seconds); its probe fails while its image matches a
// glob of `probeFailImages`, so it stays Running and not Ready. A deleted Pod stays Terminating while
// its preStop hooks run (at most its grace period, see pod-termination.ts), then the kubelet
// deletes it for good.
import { createHash, randomBytes } from 'node:crypto';
import { minimatch } from 'minimatch';
import { CrashBackoff } from './crash-backoff.ts';
import { formatGoDuration } from './flux-duration.ts';
import { killedAtGrace, terminationDelayMs } from './pod-termination.ts';
import { ReadinessWorker, readinessProbeOf } from './readiness-probe.ts';
import { POD } from './resources.ts';
import type { KubeObject, ObjectStore, StoreEvent } from './store.ts';

export const SANDBOX_NODE = 'sandbox-node';
const HOST_IP = '172.18.0.2';
/** Crash loops restart no faster than this, whatever the back-off base says, to bound the write rate. */
const MIN_RESTART_INTERVAL_MS = 50;

export interface PodBehaviour {
  podReadyMs: number;
  unreadyImages: readonly string[];
  crashImages: readonly string[];
  /** Image globs whose readiness probes fail; read at every probe, so a caller may change the list. */
  probeFailImages?: readonly string[];
  /** The crash-loop back-off's first wait; the kubelet's is 10 s. Tests shorten it. */
  crashBackoffBaseMs?: number;
}

type ContainerFate = 'ready' | 'unready' | 'crash';

/** Something that takes Pod keys (`namespace/name`) for later processing. */
export interface KeyQueue {
  add(key: string): void;
}

// --- Pod readiness, as controllers read it ------------------------------------------------------

function readyCondition(pod: KubeObject): any {
  const conditions: any[] = Array.isArray(pod.status?.conditions) ? pod.status.conditions : [];
  return conditions.find((condition) => condition?.type === 'Ready');
}

export function isPodReady(pod: KubeObject): boolean {
  return readyCondition(pod)?.status === 'True';
}

/** When the Pod became Ready (ms since epoch), or undefined when it is not Ready. */
export function podReadySince(pod: KubeObject): number | undefined {
  const condition = readyCondition(pod);
  if (condition?.status !== 'True') return undefined;
  const since = Date.parse(String(condition.lastTransitionTime ?? ''));
  return Number.isNaN(since) ? 0 : since;
}

/** IsPodAvailable: Ready for longer than minReadySeconds. */
export function isPodAvailable(pod: KubeObject, minReadySeconds: number, now: number): boolean {
  const since = podReadySince(pod);
  if (since === undefined) return false;
  return minReadySeconds <= 0 || since + minReadySeconds * 1000 < now;
}

/** Pods a ReplicaSet counts: not terminating, not finished. */
export function isPodActive(pod: KubeObject): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && !pod.metadata.deletionTimestamp;
}

function restartCount(pod: KubeObject): number {
  const statuses: any[] = Array.isArray(pod.status?.containerStatuses) ? pod.status.containerStatuses : [];
  return statuses.reduce((sum, status) => sum + (Number(status?.restartCount) || 0), 0);
}

/**
 * ActivePodsWithRanks order, most deletable first: unscheduled, Pending, not Ready, Ready for
 * the shortest time, most restarts, newest.
 */
export function comparePodsForDeletion(a: KubeObject, b: KubeObject): number {
  const scheduled = (pod: KubeObject) => (pod.spec?.nodeName ? 1 : 0);
  if (scheduled(a) !== scheduled(b)) return scheduled(a) - scheduled(b);
  const phaseRank = (pod: KubeObject) =>
    pod.status?.phase === 'Pending' ? 0 : pod.status?.phase === 'Running' ? 2 : 1;
  if (phaseRank(a) !== phaseRank(b)) return phaseRank(a) - phaseRank(b);
  const readyA = podReadySince(a);
  const readyB = podReadySince(b);
  if ((readyA === undefined) !== (readyB === undefined)) return readyA === undefined ? -1 : 1;
  if (readyA !== undefined && readyB !== undefined && readyA !== readyB) return readyB - readyA;
  if (restartCount(a) !== restartCount(b)) return restartCount(b) - restartCount(a);
  const created = (pod: KubeObject) => Date.parse(pod.metadata.creationTimestamp ?? '') || 0;
  if (created(a) !== created(b)) return created(b) - created(a);
  return b.metadata.name.localeCompare(a.metadata.name);
}

// --- images -------------------------------------------------------------------------------------

/** Glob match where `*` also crosses `/`, so `*:broken` matches `ghcr.io/acme/app:broken`. */
export function imageMatches(image: string, globs: readonly string[]): boolean {
  const flat = (text: string) => text.replaceAll('/', '\u2215');
  return globs.some((glob) => minimatch(image, glob) || minimatch(flat(image), flat(glob)));
}

function fateOf(image: string, behaviour: PodBehaviour): ContainerFate {
  if (imageMatches(image, behaviour.crashImages)) return 'crash';
  if (imageMatches(image, behaviour.unreadyImages)) return 'unready';
  return 'ready';
}

function containersOf(pod: KubeObject): { name: string; image: string; probe: unknown }[] {
  const containers: any[] = Array.isArray(pod.spec?.containers) ? pod.spec.containers : [];
  return containers.map((c) => ({ name: String(c?.name ?? ''), image: String(c?.image ?? ''), probe: c }));
}

function imageId(image: string): string {
  const digest = createHash('sha256').update(image).digest('hex');
  const repository = image.includes('@') ? image.slice(0, image.indexOf('@')) : image.replace(/:[^/:]*$/, '');
  const qualified = repository.includes('/') ? repository : `library/${repository}`;
  return `${qualified.includes('.') ? '' : 'docker.io/'}${qualified}@sha256:${digest}`;
}

function containerId(): string {
  return `containerd://${randomBytes(32).toString('hex')}`;
}

// --- statuses -----------------------------------------------------------------------------------

function podCondition(type: string, status: 'True' | 'False', at: string, reason?: string, message?: string) {
  return {
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: at,
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
  };
}

/** Keeps a condition's lastTransitionTime when its status did not change. */
function carryTransition(previous: KubeObject, condition: ReturnType<typeof podCondition>) {
  const conditions: any[] = Array.isArray(previous.status?.conditions) ? previous.status.conditions : [];
  const before = conditions.find((c) => c?.type === condition.type);
  if (before && before.status === condition.status && before.lastTransitionTime) {
    return { ...condition, lastTransitionTime: before.lastTransitionTime };
  }
  return condition;
}

/** The Pod's Ready and ContainersReady conditions as its container statuses make them. */
function readinessConditions(
  pod: KubeObject,
  statuses: readonly { name: string; ready: boolean }[],
  at: string,
) {
  const notReady = statuses.filter((s) => !s.ready).map((s) => s.name);
  const ready = notReady.length === 0;
  const reason = ready ? undefined : 'ContainersNotReady';
  const message = ready ? undefined : `containers with unready status: [${notReady.join(' ')}]`;
  const conditions: any[] = Array.isArray(pod.status?.conditions) ? pod.status.conditions : [];
  const readiness = new Map([
    ['Ready', podCondition('Ready', ready ? 'True' : 'False', at, reason, message)],
    ['ContainersReady', podCondition('ContainersReady', ready ? 'True' : 'False', at, reason, message)],
  ]);
  return conditions.map((c) => {
    const replacement = readiness.get(c?.type);
    return replacement ? carryTransition(pod, replacement) : c;
  });
}

/** A container's readiness prober: its results and the timer of its next probe. */
interface Prober {
  worker: ReadinessWorker;
  timer?: NodeJS.Timeout | undefined;
}

export class PodSimulator {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Pods being terminated, by uid: the timer that ends them. */
  private readonly terminations = new Map<string, NodeJS.Timeout>();
  /** Readiness probers by Pod uid, then container name. */
  private readonly probers = new Map<string, Map<string, Prober>>();
  private readonly backoff: CrashBackoff;
  private nextIp = 1;
  private stopped = false;

  constructor(
    private readonly store: ObjectStore,
    private readonly behaviour: PodBehaviour,
    private readonly queue: KeyQueue,
  ) {
    this.backoff = new CrashBackoff(behaviour.crashBackoffBaseMs);
  }

  /**
   * The status a Pod is created with (or given on first sight): scheduled on the sandbox node,
   * containers being created.
   */
  initialStatus(pod: KubeObject, now = Date.now()): any {
    const at = new Date(now).toISOString();
    const containers = containersOf(pod);
    const ip = this.allocateIp();
    const unready = `containers with unready status: [${containers.map((c) => c.name).join(' ')}]`;
    return {
      phase: 'Pending',
      conditions: [
        podCondition('PodReadyToStartContainers', 'True', at),
        podCondition('Initialized', 'True', at),
        podCondition('Ready', 'False', at, 'ContainersNotReady', unready),
        podCondition('ContainersReady', 'False', at, 'ContainersNotReady', unready),
        podCondition('PodScheduled', 'True', at),
      ],
      hostIP: HOST_IP,
      hostIPs: [{ ip: HOST_IP }],
      podIP: ip,
      podIPs: [{ ip }],
      startTime: at.replace(/\.\d+Z$/, 'Z'),
      containerStatuses: containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: '',
        ready: false,
        started: false,
        restartCount: 0,
        state: { waiting: { reason: 'ContainerCreating' } },
        lastState: {},
      })),
      qosClass: 'BestEffort',
    };
  }

  /** Feed of Pod watch events. Never writes: writes happen from the queue and timers. */
  observe(event: StoreEvent): void {
    const pod = event.object;
    const uid = pod.metadata.uid ?? '';
    if (event.type === 'DELETED') {
      this.cancel(uid);
      this.cancelProbes(uid);
      this.cancelTermination(uid);
      this.backoff.forget(uid);
      return;
    }
    if (pod.metadata.deletionTimestamp) {
      this.cancel(uid);
      this.cancelProbes(uid);
      this.scheduleTermination(pod);
      return;
    }
    if (!pod.status?.startTime) this.queue.add(podKey(pod));
    else if (event.type === 'ADDED') this.schedule(pod, 1);
  }

  /** Gives a Pod that arrived without a status (created through the API) its first status. */
  reconcile(key: string): void {
    const [namespace, name] = splitKey(key);
    const pod = this.store.get(POD, namespace, name);
    if (!pod || pod.status?.startTime) return;
    if (!pod.spec?.nodeName) {
      pod.spec = { ...pod.spec, nodeName: SANDBOX_NODE };
      const bound = this.store.update(POD, pod);
      pod.metadata.resourceVersion = bound.metadata.resourceVersion!;
    }
    pod.status = this.initialStatus(pod);
    this.store.update(POD, pod, { subresource: 'status' });
    this.schedule(pod, 1);
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const timer of this.terminations.values()) clearTimeout(timer);
    this.terminations.clear();
    for (const uid of [...this.probers.keys()]) this.cancelProbes(uid);
  }

  private allocateIp(): string {
    const n = this.nextIp++ % 65000;
    return `10.244.${(n >> 8) & 255}.${n & 255 || 1}`;
  }

  private schedule(pod: KubeObject, step: number, delay = this.behaviour.podReadyMs): void {
    const uid = pod.metadata.uid ?? '';
    if (this.stopped || this.timers.has(uid)) return;
    const namespace = pod.metadata.namespace;
    const name = pod.metadata.name;
    const timer = setTimeout(() => {
      this.timers.delete(uid);
      this.advance(namespace, name, uid, step);
    }, delay);
    timer.unref();
    this.timers.set(uid, timer);
  }

  private cancel(uid: string): void {
    const timer = this.timers.get(uid);
    if (timer) clearTimeout(timer);
    this.timers.delete(uid);
  }

  private cancelProbes(uid: string): void {
    for (const prober of this.probers.get(uid)?.values() ?? []) clearTimeout(prober.timer);
    this.probers.delete(uid);
  }

  /** The container's prober, made when it first runs; undefined for a container without a probe. */
  private proberOf(uid: string, container: { name: string; probe: unknown }): Prober | undefined {
    const spec = readinessProbeOf(container.probe);
    if (!spec) return undefined;
    let byName = this.probers.get(uid);
    if (!byName) this.probers.set(uid, (byName = new Map()));
    let prober = byName.get(container.name);
    if (!prober) byName.set(container.name, (prober = { worker: new ReadinessWorker(spec) }));
    return prober;
  }

  private scheduleProbe(pod: KubeObject, container: string, prober: Prober, delay: number): void {
    if (this.stopped || prober.timer) return;
    const { namespace, name } = pod.metadata;
    const uid = pod.metadata.uid ?? '';
    prober.timer = setTimeout(() => {
      prober.timer = undefined;
      this.probe(namespace, name, uid, container, prober);
    }, delay);
    prober.timer.unref();
  }

  /** One readiness probe of a running container; a change of readiness is written to the Pod. */
  private probe(namespace: string | undefined, name: string, uid: string, container: string, prober: Prober) {
    if (this.stopped) return;
    const pod = this.store.get(POD, namespace, name);
    if (!pod || pod.metadata.uid !== uid || pod.metadata.deletionTimestamp) return;
    const statuses: any[] = Array.isArray(pod.status?.containerStatuses) ? pod.status.containerStatuses : [];
    const index = statuses.findIndex((s) => s?.name === container);
    const status = statuses[index];
    if (!status?.state?.running) return;
    const success = !imageMatches(String(status.image ?? ''), this.behaviour.probeFailImages ?? []);
    if (prober.worker.record(success)) {
      const next = statuses.map((s, i) => (i === index ? { ...s, ready: prober.worker.isReady } : s));
      pod.status = {
        ...pod.status,
        conditions: readinessConditions(pod, next, new Date().toISOString()),
        containerStatuses: next,
      };
      this.store.update(POD, pod, { subresource: 'status' });
    }
    this.scheduleProbe(pod, container, prober, prober.worker.spec.periodMs);
  }

  private cancelTermination(uid: string): void {
    const timer = this.terminations.get(uid);
    if (timer) clearTimeout(timer);
    this.terminations.delete(uid);
  }

  /** Runs the preStop hooks (the wait), then stops the containers and confirms the deletion. */
  private scheduleTermination(pod: KubeObject): void {
    const uid = pod.metadata.uid ?? '';
    if (this.stopped || this.terminations.has(uid)) return;
    const namespace = pod.metadata.namespace;
    const name = pod.metadata.name;
    const timer = setTimeout(() => this.terminate(namespace, name, uid), terminationDelayMs(pod));
    timer.unref();
    this.terminations.set(uid, timer);
  }

  private terminate(namespace: string | undefined, name: string, uid: string): void {
    this.terminations.delete(uid);
    if (this.stopped) return;
    const pod = this.store.get(POD, namespace, name);
    if (!pod || pod.metadata.uid !== uid) return;
    const at = new Date().toISOString();
    const killed = killedAtGrace(pod);
    const previous: any[] = Array.isArray(pod.status?.containerStatuses) ? pod.status.containerStatuses : [];
    const conditions: any[] = Array.isArray(pod.status?.conditions) ? pod.status.conditions : [];
    const stopped = podCondition('Ready', 'False', at, 'PodCompleted');
    pod.status = {
      ...pod.status,
      conditions: conditions.map((c) =>
        c?.type === 'Ready' || c?.type === 'ContainersReady'
          ? carryTransition(pod, { ...stopped, type: c.type })
          : c,
      ),
      containerStatuses: previous.map((status) => {
        const running = status?.state?.running;
        if (!running) return status;
        const exit = killed ? { exitCode: 137, reason: 'Error' } : { exitCode: 0, reason: 'Completed' };
        return {
          ...status,
          ready: false,
          started: false,
          state: {
            terminated: {
              ...exit,
              startedAt: running.startedAt,
              finishedAt: at.replace(/\.\d+Z$/, 'Z'),
              containerID: status.containerID,
            },
          },
        };
      }),
    };
    this.store.update(POD, pod, { subresource: 'status' });
    // The kubelet's final word: a delete with grace period 0 (finalizers may still hold it).
    this.store.delete(POD, namespace, name, { gracePeriodSeconds: 0 });
  }

  /** Step 1: containers start (or fail to); later steps: crash-looping containers restart again. */
  private advance(namespace: string | undefined, name: string, uid: string, step: number): void {
    if (this.stopped) return;
    const pod = this.store.get(POD, namespace, name);
    if (!pod || pod.metadata.uid !== uid || pod.metadata.deletionTimestamp) return;
    const now = Date.now();
    const at = new Date(now).toISOString();
    const previous: any[] = Array.isArray(pod.status?.containerStatuses) ? pod.status.containerStatuses : [];
    let crashing = false;
    let pulling = false;
    /** One back-off per Pod: its crashing containers restart together. */
    let backoffMs: number | undefined;
    const probing: { container: string; prober: Prober }[] = [];
    const statuses = containersOf(pod).map((c) => {
      const before = previous.find((s) => s?.name === c.name) ?? {};
      const fate = fateOf(c.image, this.behaviour);
      const base = { name: c.name, image: c.image, imageID: '', restartCount: 0 };
      if (fate === 'unready') {
        pulling = true;
        return {
          ...base,
          ready: false,
          started: false,
          state: { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}"` } },
          lastState: {},
        };
      }
      const id: string = before.containerID ?? containerId();
      if (fate === 'crash') {
        crashing = true;
        backoffMs ??= this.backoff.next(uid, now);
        const restarts = (Number(before.restartCount) || 0) + (step === 1 ? 0 : 1);
        const startedAt = before.lastState?.terminated?.finishedAt ?? pod.status?.startTime ?? at;
        return {
          ...base,
          imageID: imageId(c.image),
          containerID: id,
          restartCount: Math.max(restarts, 1),
          ready: false,
          started: false,
          state: {
            waiting: {
              reason: 'CrashLoopBackOff',
              message: `back-off ${formatGoDuration(backoffMs)} restarting failed container=${c.name} pod=${name}_${namespace ?? 'default'}(${uid})`,
            },
          },
          lastState: {
            terminated: { exitCode: 1, reason: 'Error', startedAt, finishedAt: at, containerID: id },
          },
        };
      }
      const prober = this.proberOf(uid, c);
      if (prober) probing.push({ container: c.name, prober });
      return {
        ...base,
        imageID: imageId(c.image),
        containerID: id,
        restartCount: Number(before.restartCount) || 0,
        ready: prober ? prober.worker.isReady : true,
        started: true,
        state: before.state?.running ? before.state : { running: { startedAt: at.replace(/\.\d+Z$/, 'Z') } },
        lastState: before.lastState ?? {},
      };
    });
    pod.status = {
      ...pod.status,
      phase: pulling ? 'Pending' : 'Running',
      conditions: readinessConditions(pod, statuses, at),
      containerStatuses: statuses,
    };
    this.store.update(POD, pod, { subresource: 'status' });
    if (crashing) this.schedule(pod, step + 1, Math.max(backoffMs ?? 0, MIN_RESTART_INTERVAL_MS));
    // Probes start initialDelaySeconds after the container started (already running: no new wait).
    for (const { container, prober } of probing) {
      this.scheduleProbe(pod, container, prober, prober.worker.spec.initialDelayMs);
    }
  }
}

export function podKey(pod: KubeObject): string {
  return `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`;
}

export function splitKey(key: string): [string, string] {
  const slash = key.indexOf('/');
  return [key.slice(0, slash), key.slice(slash + 1)];
}
