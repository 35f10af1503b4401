// The sandbox's Deployment controller, ReplicaSet controller and simulated Pods, driven directly
// through the object store (no HTTP): rollouts, revisions and ReplicaSet reuse, deadlines, and
// the maxSurge/maxUnavailable invariants observed at every store event.
import { afterEach, describe, expect, it } from 'vitest';
import { DeploymentController, applyDeploymentDefaults } from '../../src/sandbox/deployment-controller.ts';
import { DEPLOYMENT, EVENT, POD, REPLICA_SET } from '../../src/sandbox/resources.ts';
import { type KubeObject, ObjectStore } from '../../src/sandbox/store.ts';

const REVISION = 'deployment.kubernetes.io/revision';
const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';

interface DeploymentShape {
  name?: string;
  replicas?: number;
  image?: string;
  strategy?: any;
  minReadySeconds?: number;
  progressDeadlineSeconds?: number;
  revisionHistoryLimit?: number;
  annotations?: Record<string, string>;
}

function deployment(shape: DeploymentShape = {}): KubeObject {
  const name = shape.name ?? 'web';
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: 'default',
      ...(shape.annotations ? { annotations: shape.annotations } : {}),
    },
    spec: {
      replicas: shape.replicas ?? 3,
      selector: { matchLabels: { app: name } },
      ...(shape.strategy ? { strategy: shape.strategy } : {}),
      ...(shape.minReadySeconds !== undefined ? { minReadySeconds: shape.minReadySeconds } : {}),
      ...(shape.progressDeadlineSeconds !== undefined
        ? { progressDeadlineSeconds: shape.progressDeadlineSeconds }
        : {}),
      ...(shape.revisionHistoryLimit !== undefined
        ? { revisionHistoryLimit: shape.revisionHistoryLimit }
        : {}),
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: shape.image ?? 'nginx:1.27' }] },
      },
    },
  };
}

let running: { controller: DeploymentController; store: ObjectStore } | undefined;

function sandbox(
  options: {
    podReadyMs?: number;
    unreadyImages?: string[];
    crashImages?: string[];
    crashBackoffBaseMs?: number;
  } = {},
) {
  const store = new ObjectStore();
  const controller = new DeploymentController(store, {
    podReadyMs: options.podReadyMs ?? 30,
    unreadyImages: options.unreadyImages ?? [],
    crashImages: options.crashImages ?? [],
    crashBackoffBaseMs: options.crashBackoffBaseMs ?? 60,
  });
  controller.start();
  running = { controller, store };
  return store;
}

afterEach(() => {
  running?.controller.stop();
  running = undefined;
});

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function get(store: ObjectStore, name = 'web'): KubeObject {
  return store.mustGet(DEPLOYMENT, 'default', name);
}

/** kubectl rollout status's verdict. */
function rolledOut(d: KubeObject): boolean {
  const s = d.status ?? {};
  return (
    (d.metadata.generation ?? 0) <= (s.observedGeneration ?? 0) &&
    (s.updatedReplicas ?? 0) === d.spec.replicas &&
    (s.replicas ?? 0) === (s.updatedReplicas ?? 0) &&
    (s.availableReplicas ?? 0) === (s.updatedReplicas ?? 0)
  );
}

async function rollout(store: ObjectStore, name = 'web'): Promise<KubeObject> {
  return waitFor(`${name} to roll out`, () => {
    const d = get(store, name);
    return rolledOut(d) && d.status?.conditions?.some((c: any) => c.reason === 'NewReplicaSetAvailable') && d;
  });
}

function setImage(store: ObjectStore, image: string, name = 'web'): void {
  store.mutate(DEPLOYMENT, 'default', name, (d) => {
    d.spec.template.spec.containers[0].image = image;
  });
}

function replicaSets(store: ObjectStore): KubeObject[] {
  return store
    .list(REPLICA_SET)
    .sort((a, b) => Number(a.metadata.annotations?.[REVISION]) - Number(b.metadata.annotations?.[REVISION]));
}

function podsOf(store: ObjectStore, app = 'web'): KubeObject[] {
  return store.list(POD, { labelSelector: `app=${app}` });
}

function condition(d: KubeObject, type: string): any {
  return d.status?.conditions?.find((c: any) => c.type === type);
}

describe('sandbox Deployment controller', () => {
  it('rolls a new Deployment out to revision 1 with Kubernetes status, labels and events', async () => {
    const store = sandbox();
    store.create(DEPLOYMENT, deployment({ annotations: { 'kubernetes.io/change-cause': 'first' } }));
    const d = await rollout(store);

    expect(d.metadata.annotations?.[REVISION]).toBe('1');
    expect(d.status).toMatchObject({
      observedGeneration: 1,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
    });
    expect(d.status.unavailableReplicas).toBeUndefined();
    expect(condition(d, 'Available')).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable' });
    const [rs] = replicaSets(store);
    expect(condition(d, 'Progressing')).toMatchObject({
      status: 'True',
      reason: 'NewReplicaSetAvailable',
      message: `ReplicaSet "${rs!.metadata.name}" has successfully progressed.`,
    });

    const hash = rs!.metadata.labels?.['pod-template-hash'];
    expect(hash).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]+$/);
    expect(rs!.metadata.name).toBe(`web-${hash}`);
    expect(rs!.spec.selector.matchLabels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(rs!.spec.template.metadata.labels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(rs!.metadata.annotations).toMatchObject({
      [REVISION]: '1',
      'deployment.kubernetes.io/desired-replicas': '3',
      'deployment.kubernetes.io/max-replicas': '4',
      'kubernetes.io/change-cause': 'first',
    });
    expect(rs!.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'web',
        uid: d.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(rs!.status).toMatchObject({
      replicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      fullyLabeledReplicas: 3,
    });

    const pods = podsOf(store);
    expect(pods).toHaveLength(3);
    for (const pod of pods) {
      expect(pod.metadata.name).toMatch(new RegExp(`^web-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
      expect(pod.metadata.ownerReferences?.[0]).toMatchObject({
        kind: 'ReplicaSet',
        uid: rs!.metadata.uid,
        controller: true,
      });
      expect(pod.spec.nodeName).toBe('sandbox-node');
      expect(pod.status.phase).toBe('Running');
      expect(pod.status.podIP).toMatch(/^10\.244\./);
      expect(pod.status.containerStatuses[0]).toMatchObject({ ready: true, started: true, restartCount: 0 });
    }

    const events = store.list(EVENT).map((e: any) => `${e.involvedObject.kind} ${e.reason} ${e.message}`);
    expect(events).toContain(
      `Deployment ScalingReplicaSet Scaled up replica set ${rs!.metadata.name} from 0 to 3`,
    );
    expect(events.filter((e) => e.startsWith('ReplicaSet SuccessfulCreate Created pod: '))).toHaveLength(3);
  });

  it('creates revision 2 for a new template and scales the old ReplicaSet to zero', async () => {
    const store = sandbox();
    store.create(DEPLOYMENT, deployment());
    await rollout(store);
    setImage(store, 'nginx:1.28');
    const d = await rollout(store);

    expect(d.metadata.annotations?.[REVISION]).toBe('2');
    expect(d.status.observedGeneration).toBe(2);
    const [first, second] = replicaSets(store);
    expect(first!.spec.replicas).toBe(0);
    expect(second!.spec.replicas).toBe(3);
    expect(second!.metadata.annotations?.[REVISION]).toBe('2');
    expect(second!.spec.template.spec.containers[0].image).toBe('nginx:1.28');
    await waitFor('old pods gone', () =>
      podsOf(store).every((p) => p.spec.containers[0].image === 'nginx:1.28'),
    );
  });

  it('reuses the first ReplicaSet when the template comes back, as revision 3 with revision-history 1', async () => {
    const store = sandbox();
    store.create(DEPLOYMENT, deployment());
    await rollout(store);
    const [original] = replicaSets(store);
    setImage(store, 'nginx:1.28');
    await waitFor('revision 2', () => get(store).metadata.annotations?.[REVISION] === '2');
    await rollout(store);
    setImage(store, 'nginx:1.27');
    const d = await rollout(store);

    expect(d.metadata.annotations?.[REVISION]).toBe('3');
    const sets = store.list(REPLICA_SET);
    expect(sets).toHaveLength(2);
    const reused = sets.find((rs) => rs.metadata.uid === original!.metadata.uid);
    expect(reused?.metadata.name).toBe(original!.metadata.name);
    expect(reused?.metadata.annotations).toMatchObject({ [REVISION]: '3', [REVISION_HISTORY]: '1' });
    expect(reused?.spec.replicas).toBe(3);
    expect(sets.find((rs) => rs !== reused)?.spec.replicas).toBe(0);

    // And once more: 2 -> 4, history of the other ReplicaSet now "2".
    setImage(store, 'nginx:1.28');
    const again = await waitFor('revision 4', () => {
      const current = get(store);
      return current.metadata.annotations?.[REVISION] === '4' && rolledOut(current) && current;
    });
    expect(again.metadata.annotations?.[REVISION]).toBe('4');
    const second = store.list(REPLICA_SET).find((rs) => rs.metadata.uid !== original!.metadata.uid);
    expect(second?.metadata.annotations).toMatchObject({ [REVISION]: '4', [REVISION_HISTORY]: '2' });
  });

  it('prunes old ReplicaSets beyond revisionHistoryLimit, oldest revision first', async () => {
    const store = sandbox();
    store.create(DEPLOYMENT, deployment({ revisionHistoryLimit: 1, replicas: 1 }));
    await rollout(store);
    for (const tag of ['2', '3', '4']) {
      setImage(store, `nginx:${tag}`);
      await waitFor(`image ${tag}`, () => {
        const d = get(store);
        return rolledOut(d) && d.spec.template.spec.containers[0].image === `nginx:${tag}`;
      });
    }
    const sets = await waitFor('history pruned to one old ReplicaSet', () => {
      const current = replicaSets(store);
      return current.length === 2 && current;
    });
    expect(sets.map((rs) => rs.metadata.annotations?.[REVISION])).toEqual(['3', '4']);
    expect(sets.map((rs) => rs.spec.template.spec.containers[0].image)).toEqual(['nginx:3', 'nginx:4']);
  });

  it('reports ProgressDeadlineExceeded when an unready image blocks the rollout past its deadline', async () => {
    const store = sandbox({ unreadyImages: ['*:broken'] });
    store.create(DEPLOYMENT, deployment({ progressDeadlineSeconds: 1 }));
    await rollout(store);
    setImage(store, 'registry.example.com/team/web:broken');
    const started = Date.now();
    const d = await waitFor('the progress deadline', () => {
      const current = get(store);
      return condition(current, 'Progressing')?.reason === 'ProgressDeadlineExceeded' && current;
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const newRS = replicaSets(store)[1]!;
    expect(condition(d, 'Progressing')).toMatchObject({
      status: 'False',
      message: `ReplicaSet "${newRS.metadata.name}" has timed out progressing.`,
    });
    // 25% of 3: one surge Pod, no unavailability, so the old Pods keep serving.
    expect(d.status).toMatchObject({
      replicas: 4,
      updatedReplicas: 1,
      availableReplicas: 3,
      unavailableReplicas: 1,
    });
    expect(condition(d, 'Available')?.status).toBe('True');
    const stuck = podsOf(store).find((p) => p.spec.containers[0].image.endsWith(':broken'))!;
    expect(stuck.status.phase).toBe('Pending');
    expect(stuck.status.containerStatuses[0].state.waiting).toEqual({
      reason: 'ImagePullBackOff',
      message: 'Back-off pulling image "registry.example.com/team/web:broken"',
    });
  });

  it('crash-loops Pods of a crash image with a rising restartCount', async () => {
    const store = sandbox({ crashImages: ['crashy:*'] });
    store.create(DEPLOYMENT, deployment({ replicas: 1, image: 'crashy:1' }));
    const first = await waitFor('a crash loop', () => {
      const pod = podsOf(store)[0];
      return pod?.status.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff' && pod;
    });
    const status = first.status.containerStatuses[0];
    expect(status.ready).toBe(false);
    expect(status.lastState.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    await waitFor(
      'more restarts',
      () => podsOf(store)[0]!.status.containerStatuses[0].restartCount >= status.restartCount + 2,
    );
    const d = get(store);
    expect(d.status.availableReplicas).toBeUndefined();
    expect(d.status.unavailableReplicas).toBe(1);
    expect(condition(d, 'Available')).toMatchObject({
      status: 'False',
      reason: 'MinimumReplicasUnavailable',
    });
  });

  it('counts Pods available only after minReadySeconds of readiness', async () => {
    const store = sandbox({ podReadyMs: 20 });
    store.create(DEPLOYMENT, deployment({ replicas: 2, minReadySeconds: 1 }));
    const ready = await waitFor('ready Pods', () => {
      const d = get(store);
      return d.status?.readyReplicas === 2 && Date.now();
    });
    await sleep(300);
    expect(get(store).status.availableReplicas).toBeUndefined();
    await waitFor('available Pods', () => get(store).status?.availableReplicas === 2);
    expect(Date.now() - ready).toBeGreaterThanOrEqual(650);
    expect(replicaSets(store)[0]!.spec.minReadySeconds).toBe(1);
  });

  it('recreates: every old Pod is gone before the first new one exists', async () => {
    const store = sandbox();
    store.create(DEPLOYMENT, deployment({ strategy: { type: 'Recreate' } }));
    await rollout(store);
    let overlap = false;
    let sawNone = false;
    const unsubscribe = store.watch(POD, () => {
      const images = new Set(podsOf(store).map((p) => p.spec.containers[0].image));
      if (images.size > 1) overlap = true;
      if (images.size === 0) sawNone = true;
    });
    setImage(store, 'nginx:1.28');
    await waitFor('the new image rolled out', () => {
      const d = get(store);
      return rolledOut(d) && d.metadata.annotations?.[REVISION] === '2';
    });
    unsubscribe();
    expect(overlap).toBe(false);
    expect(sawNone).toBe(true);
    const events = store.list(EVENT).map((e) => e.message);
    const [old, fresh] = replicaSets(store);
    expect(events).toContain(`Scaled down replica set ${old!.metadata.name} from 3 to 0`);
    expect(events).toContain(`Scaled up replica set ${fresh!.metadata.name} from 0 to 3`);
  });

  it('recreates: a terminating old Pod (preStop still running) holds back the new ReplicaSet', async () => {
    const store = sandbox();
    const d = deployment({ strategy: { type: 'Recreate' }, replicas: 2 });
    d.spec.template.spec.containers[0].lifecycle = { preStop: { sleep: { seconds: 1 } } };
    store.create(DEPLOYMENT, d);
    await rollout(store);
    let overlap = false;
    let sawTerminating = false;
    const unsubscribe = store.watch(POD, () => {
      const pods = podsOf(store);
      if (pods.some((p) => p.metadata.deletionTimestamp)) sawTerminating = true;
      if (new Set(pods.map((p) => p.spec.containers[0].image)).size > 1) overlap = true;
    });
    setImage(store, 'nginx:1.28');
    await waitFor('the new image rolled out', () => {
      const rolled = get(store);
      return rolledOut(rolled) && rolled.metadata.annotations?.[REVISION] === '2';
    });
    unsubscribe();
    // recreate.go's oldPodsRunning counts a Pod by its phase, so a draining Pod still blocks.
    expect(sawTerminating).toBe(true);
    expect(overlap).toBe(false);
  });

  it('does not roll out while paused, and does once resumed', async () => {
    const store = sandbox();
    store.create(DEPLOYMENT, deployment());
    await rollout(store);
    store.mutate(DEPLOYMENT, 'default', 'web', (d) => {
      d.spec.paused = true;
    });
    setImage(store, 'nginx:1.28');
    await waitFor(
      'paused condition',
      () => condition(get(store), 'Progressing')?.reason === 'DeploymentPaused',
    );
    await sleep(150);
    expect(store.list(REPLICA_SET)).toHaveLength(1);
    store.mutate(DEPLOYMENT, 'default', 'web', (d) => {
      d.spec.paused = false;
    });
    const d = await rollout(store);
    expect(d.metadata.annotations?.[REVISION]).toBe('2');
  });

  it('scales the current ReplicaSet when only replicas change', async () => {
    const store = sandbox();
    store.create(DEPLOYMENT, deployment());
    await rollout(store);
    store.mutate(DEPLOYMENT, 'default', 'web', (d) => {
      d.spec.replicas = 5;
    });
    const d = await waitFor('five replicas', () => {
      const current = get(store);
      return current.status?.availableReplicas === 5 && rolledOut(current) && current;
    });
    expect(d.metadata.annotations?.[REVISION]).toBe('1');
    const [rs] = replicaSets(store);
    expect(store.list(REPLICA_SET)).toHaveLength(1);
    expect(rs!.metadata.annotations?.['deployment.kubernetes.io/desired-replicas']).toBe('5');
  });

  it('takes ReplicaSets and Pods with a deleted Deployment, and stops working on it', async () => {
    const store = sandbox({ crashImages: ['crashy:*'] });
    store.create(DEPLOYMENT, deployment({ image: 'crashy:1' }));
    await waitFor('pods', () => podsOf(store).length === 3);
    store.delete(DEPLOYMENT, 'default', 'web');
    expect(store.list(REPLICA_SET)).toHaveLength(0);
    // Collected Pods terminate gracefully: gone once the kubelet confirms (no preStop hook here).
    await waitFor('the Pods gone', () => podsOf(store).length === 0);
    const rv = store.resourceVersion;
    await sleep(200);
    // Nothing but (possibly) Events is written after the Deployment is gone.
    const writes: string[] = [];
    const unsubscribe = store.watch(undefined, (event) => writes.push(event.resource.kind));
    await sleep(200);
    unsubscribe();
    expect(writes.filter((kind) => kind !== 'Event')).toEqual([]);
    expect(Number(store.resourceVersion)).toBeGreaterThanOrEqual(Number(rv));
  });

  it('exports the apps/v1 defaults for the API server', () => {
    const d = applyDeploymentDefaults(deployment());
    expect(d.spec).toMatchObject({
      replicas: 3,
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    });
    expect(d.spec.template.spec.containers[0].imagePullPolicy).toBe('IfNotPresent');
    const recreate = applyDeploymentDefaults(deployment({ strategy: { type: 'Recreate' } }));
    expect(recreate.spec.strategy).toEqual({ type: 'Recreate' });
  });
});

describe('rolling update invariants, observed at every store event', () => {
  const cases = [
    {
      label: '25%/25% of 5',
      rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' },
      surge: 2,
      unavailable: 1,
    },
    {
      label: 'maxSurge 1, maxUnavailable 0 of 5',
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
      surge: 1,
      unavailable: 0,
    },
    {
      label: '25%/25% of 5 with minReadySeconds 1',
      rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' },
      surge: 2,
      unavailable: 1,
      minReadySeconds: 1,
    },
  ];
  for (const { label, rollingUpdate, surge, unavailable, minReadySeconds = 0 } of cases) {
    it(`never exceeds replicas+maxSurge Pods nor drops below replicas-maxUnavailable available (${label})`, async () => {
      const store = sandbox({ podReadyMs: 15 });
      store.create(
        DEPLOYMENT,
        deployment({ replicas: 5, strategy: { type: 'RollingUpdate', rollingUpdate }, minReadySeconds }),
      );
      await rollout(store);
      let maxPods = 0;
      let minAvailable = Number.POSITIVE_INFINITY;
      let observations = 0;
      const unsubscribe = store.watch(undefined, () => {
        const now = Date.now();
        // Terminating Pods count for nothing, as for the ReplicaSet controller (FilterActivePods).
        const pods = podsOf(store).filter((pod) => !pod.metadata.deletionTimestamp);
        const available = pods.filter((pod) => {
          const ready = pod.status?.conditions?.find((c: any) => c.type === 'Ready');
          return (
            ready?.status === 'True' && now - Date.parse(ready.lastTransitionTime) >= minReadySeconds * 1000
          );
        }).length;
        maxPods = Math.max(maxPods, pods.length);
        minAvailable = Math.min(minAvailable, available);
        observations++;
      });
      setImage(store, 'nginx:1.28');
      await waitFor(
        'the rollout',
        () => {
          const d = get(store);
          return rolledOut(d) && d.metadata.annotations?.[REVISION] === '2';
        },
        20_000,
      );
      await waitFor('old Pods gone', () =>
        podsOf(store).every((p) => p.spec.containers[0].image === 'nginx:1.28'),
      );
      unsubscribe();
      expect(observations).toBeGreaterThan(20);
      expect(maxPods).toBeLessThanOrEqual(5 + surge);
      expect(maxPods).toBeGreaterThan(5); // the surge was used
      expect(minAvailable).toBeGreaterThanOrEqual(5 - unavailable);
    });
  }
});
