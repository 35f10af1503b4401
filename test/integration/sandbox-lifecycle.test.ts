// Object lifecycles on the sandbox, driven by the real kubectl: `kubectl delete --cascade=...`,
// ReplicaSet and Pod adoption/release by selector, graceful Pod termination with preStop hooks, and
// the kubelet's crash-loop back-off.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { DEPLOYMENT, POD, REPLICA_SET } from '../../src/sandbox/resources.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/sandbox.ts';
import type { KubeObject, StoreEvent } from '../../src/sandbox/store.ts';

const run = promisify(execFile);

function manifest(options: { image?: string; preStopSeconds?: number; grace?: number } = {}): string {
  const lifecycle =
    options.preStopSeconds === undefined
      ? ''
      : `        lifecycle:\n          preStop:\n            exec:\n              command: ["/bin/sh", "-c", "sleep ${options.preStopSeconds}"]\n`;
  const grace = options.grace === undefined ? '' : `      terminationGracePeriodSeconds: ${options.grace}\n`;
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
${grace}      containers:
      - name: nginx
        image: ${options.image ?? 'nginx:1.27'}
${lifecycle}`;
}

let sandbox: Sandbox | undefined;
let scratch: string | undefined;

afterEach(async () => {
  await sandbox?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
  sandbox = undefined;
  scratch = undefined;
});

async function start(
  options: { crashImages?: string[]; crashBackoffBaseMs?: number } = {},
): Promise<Sandbox> {
  scratch = await mkdtemp(path.join(tmpdir(), 'rewind-lifecycle-'));
  sandbox = await startSandbox({ podReadyMs: 30, argo: false, ...options });
  return sandbox;
}

async function kubectl(sb: Sandbox, ...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run('kubectl', ['--kubeconfig', sb.kubeconfigPath, ...args], {
      timeout: 60_000,
    });
    return stdout + stderr;
  } catch (error: any) {
    throw new Error(`kubectl ${args.join(' ')} failed: ${error.stdout}${error.stderr}`);
  }
}

async function apply(sb: Sandbox, yaml: string): Promise<void> {
  const file = path.join(scratch!, 'web.yaml');
  await writeFile(file, yaml);
  await kubectl(sb, 'apply', '-f', file);
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function rolledOut(sb: Sandbox): boolean {
  const d = sb.store.get(DEPLOYMENT, 'default', 'web');
  const s = d?.status ?? {};
  return (
    d !== undefined &&
    (d.metadata.generation ?? 0) <= (s.observedGeneration ?? 0) &&
    s.updatedReplicas === 3 &&
    s.replicas === 3 &&
    s.availableReplicas === 3
  );
}

const pods = (sb: Sandbox): KubeObject[] => sb.store.list(POD, { labelSelector: 'app=web' });
const replicaSets = (sb: Sandbox): KubeObject[] => sb.store.list(REPLICA_SET);

/** Records the kind/name of every DELETED event, in order. */
function deletions(sb: Sandbox): { order: string[]; stop(): void } {
  const order: string[] = [];
  const stop = sb.store.watch(undefined, (event: StoreEvent) => {
    if (event.type === 'DELETED' && event.resource.kind !== 'Event')
      order.push(`${event.resource.kind}/${event.object.metadata.name}`);
  });
  return { order, stop };
}

describe('kubectl delete --cascade', () => {
  it('orphan keeps the ReplicaSet and its Pods, and a re-applied Deployment adopts them', async () => {
    const sb = await start();
    await apply(sb, manifest());
    await until('the rollout', () => rolledOut(sb));
    const [rs] = replicaSets(sb);
    const podNames = pods(sb)
      .map((p) => p.metadata.name)
      .sort();

    await kubectl(sb, 'delete', 'deployment', 'web', '--cascade=orphan');
    expect(sb.store.get(DEPLOYMENT, 'default', 'web')).toBeUndefined();
    const orphan = sb.store.get(REPLICA_SET, 'default', rs!.metadata.name)!;
    expect(orphan.metadata.uid).toBe(rs!.metadata.uid);
    expect(orphan.metadata.ownerReferences).toBeUndefined();
    expect(
      pods(sb)
        .map((p) => p.metadata.name)
        .sort(),
    ).toEqual(podNames);

    await apply(sb, manifest());
    const d = sb.store.get(DEPLOYMENT, 'default', 'web')!;
    const adopted = await until('the adoption', () => {
      const current = sb.store.get(REPLICA_SET, 'default', rs!.metadata.name);
      return current?.metadata.ownerReferences?.[0]?.uid === d.metadata.uid && current;
    });
    expect(adopted.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'web',
        uid: d.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    await until('the rollout', () => rolledOut(sb));
    expect(replicaSets(sb).map((r) => r.metadata.uid)).toEqual([rs!.metadata.uid]); // no new ReplicaSet
    expect(
      pods(sb)
        .map((p) => p.metadata.name)
        .sort(),
    ).toEqual(podNames); // and no new Pods
  });

  it('foreground: kubectl returns once the Pods, then the ReplicaSet, then the Deployment are gone', async () => {
    const sb = await start();
    await apply(sb, manifest({ preStopSeconds: 1 }));
    await until('the rollout', () => rolledOut(sb));
    let sawForeground = false;
    const stopWatching = sb.store.watch(DEPLOYMENT, (event) => {
      const finalizers = event.object.metadata['finalizers'] as string[] | undefined;
      if (event.object.metadata.deletionTimestamp && finalizers?.includes('foregroundDeletion'))
        sawForeground = true;
    });
    const deleted = deletions(sb);
    const started = Date.now();
    await kubectl(sb, 'delete', 'deployment', 'web', '--cascade=foreground');
    const took = Date.now() - started;
    deleted.stop();
    stopWatching();
    expect(sawForeground).toBe(true);
    expect(took).toBeGreaterThanOrEqual(1000); // the Pods' preStop hooks
    expect(sb.store.list(DEPLOYMENT)).toEqual([]);
    expect(replicaSets(sb)).toEqual([]);
    expect(pods(sb)).toEqual([]);
    const kinds = deleted.order.map((entry) => entry.split('/')[0]);
    expect(kinds).toEqual(['Pod', 'Pod', 'Pod', 'ReplicaSet', 'Deployment']);
  });

  it('background (the default): the Deployment goes at once, the rest is collected', async () => {
    const sb = await start();
    await apply(sb, manifest());
    await until('the rollout', () => rolledOut(sb));
    const deleted = deletions(sb);
    await kubectl(sb, 'delete', 'deployment', 'web', '--cascade=background');
    await until('the Pods gone', () => pods(sb).length === 0);
    deleted.stop();
    expect(deleted.order[0]).toBe('Deployment/web');
    expect(replicaSets(sb)).toEqual([]);
  });
});

describe('adoption and release by selector', () => {
  it('releases a ReplicaSet whose labels stop matching, and a Pod, which its ReplicaSet adopts back', async () => {
    const sb = await start();
    await apply(sb, manifest());
    await until('the rollout', () => rolledOut(sb));
    const [rs] = replicaSets(sb);
    const hash = rs!.metadata.labels!['pod-template-hash']!;

    // A Pod relabelled out of the selector is released and replaced.
    const [first] = pods(sb);
    await kubectl(sb, 'label', 'pod', first!.metadata.name, 'pod-template-hash=elsewhere', '--overwrite');
    await until(
      'the release',
      () => !sb.store.get(POD, 'default', first!.metadata.name)!.metadata.ownerReferences,
    );
    await until(
      'a replacement',
      () => sb.store.list(POD, { labelSelector: `pod-template-hash=${hash}` }).length === 3,
    );
    // Labelled back, it is adopted again, and the ReplicaSet deletes one Pod too many.
    await kubectl(sb, 'label', 'pod', first!.metadata.name, `pod-template-hash=${hash}`, '--overwrite');
    await until('the re-adoption and scale-down', () => {
      const owned = sb.store
        .list(POD, { labelSelector: `pod-template-hash=${hash}` })
        .filter(
          (p) => !p.metadata.deletionTimestamp && p.metadata.ownerReferences?.[0]?.uid === rs!.metadata.uid,
        );
      return owned.length === 3;
    });

    // A ReplicaSet relabelled out of the Deployment's selector is released; the Deployment makes a new one.
    await kubectl(sb, 'label', 'rs', rs!.metadata.name, 'app=other', '--overwrite');
    await until(
      'the release',
      () => !sb.store.get(REPLICA_SET, 'default', rs!.metadata.name)!.metadata.ownerReferences,
    );
    await until('a new ReplicaSet', () => replicaSets(sb).length === 2);
    await until('the rollout', () => rolledOut(sb));
  });
});

describe('graceful Pod termination', () => {
  it('kubectl delete pod waits for the preStop hook while the Pod shows Terminating', async () => {
    const sb = await start();
    await apply(sb, manifest({ preStopSeconds: 1 }));
    await until('the rollout', () => rolledOut(sb));
    const [victim] = pods(sb);
    const name = victim!.metadata.name;
    const started = Date.now();
    const deleting = kubectl(sb, 'delete', 'pod', name);
    const marked = await until('the Pod marked', () => {
      const pod = sb.store.get(POD, 'default', name);
      return pod?.metadata.deletionTimestamp ? pod : undefined;
    });
    expect(marked.metadata['deletionGracePeriodSeconds']).toBe(30);
    expect(await kubectl(sb, 'get', 'pod', name, '--no-headers')).toMatch(/Terminating/);
    // The ReplicaSet counts it out at once and replaces it.
    await until('a replacement', () => pods(sb).filter((p) => !p.metadata.deletionTimestamp).length === 3);
    expect(sb.store.get(POD, 'default', name)).toBeDefined();
    await deleting;
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(sb.store.get(POD, 'default', name)).toBeUndefined();
  });

  it('kills a Pod whose preStop hook outlives the grace period when the grace period ends', async () => {
    const sb = await start();
    await apply(sb, manifest({ preStopSeconds: 30, grace: 1 }));
    await until('the rollout', () => rolledOut(sb));
    const [victim] = pods(sb);
    const name = victim!.metadata.name;
    let last: KubeObject | undefined;
    const stop = sb.store.watch(POD, (event) => {
      if (event.object.metadata.name === name && event.type === 'MODIFIED') last = event.object;
    });
    const started = Date.now();
    await kubectl(sb, 'delete', 'pod', name, '--timeout=20s');
    stop();
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(last!.status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 137 });
  });

  it('deletes scaled-down Pods gracefully during a rollout, not counting them', async () => {
    const sb = await start();
    await apply(sb, manifest({ preStopSeconds: 1 }));
    await until('the rollout', () => rolledOut(sb));
    await apply(sb, manifest({ preStopSeconds: 1, image: 'nginx:1.28' }));
    const during = await until('an old Pod terminating', () =>
      pods(sb).find((p) => p.metadata.deletionTimestamp && p.spec.containers[0].image === 'nginx:1.27'),
    );
    expect(during.metadata['deletionGracePeriodSeconds']).toBe(30);
    await kubectl(sb, 'rollout', 'status', 'deployment/web', '--timeout=30s');
    await until('old Pods gone', () => pods(sb).every((p) => p.spec.containers[0].image === 'nginx:1.28'));
  });
});

describe('crash-loop back-off', () => {
  it('restarts a crashing container after back-offs that double, showing CrashLoopBackOff in between', async () => {
    const sb = await start({ crashImages: ['*:crash'], crashBackoffBaseMs: 300 });
    // Watching before the Deployment exists: on a busy machine the first restart can come before
    // kubectl apply has even returned. Each restart's status is kept as the event carried it.
    const seen = new Map<number, { at: number; message: string; status: any }>();
    const stop = sb.store.watch(POD, (event) => {
      const status = event.object.status?.containerStatuses?.[0];
      const restarts = Number(status?.restartCount ?? 0);
      if (restarts > 0 && !seen.has(restarts))
        seen.set(restarts, {
          at: Date.now(),
          message: String(status.state?.waiting?.message ?? ''),
          status: structuredClone(status),
        });
    });
    await apply(sb, manifest({ image: 'nginx:crash' }).replace('replicas: 3', 'replicas: 1'));
    await until('three restarts', () => seen.has(3), 30_000);
    stop();
    const { status } = seen.get(3)!;
    expect(status.state.waiting.reason).toBe('CrashLoopBackOff');
    expect(status.lastState.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(seen.get(1)!.message).toMatch(/^back-off 300ms restarting failed container=nginx pod=web-/);
    expect(seen.get(2)!.message).toMatch(/^back-off 600ms /);
    expect(seen.get(3)!.message).toMatch(/^back-off 1\.2s /);
    // Restart n+1 comes no earlier than the back-off announced at restart n.
    expect(seen.get(2)!.at - seen.get(1)!.at).toBeGreaterThanOrEqual(300 - 20);
    expect(seen.get(3)!.at - seen.get(2)!.at).toBeGreaterThanOrEqual(600 - 20);
  });
});
