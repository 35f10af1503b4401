// Kubernetes' deletion rules in the sandbox store, without controllers: finalizers, the three
// propagation policies, the garbage collector's decisions, Pods' grace periods, and the DeleteOptions
// the API server refuses. Also the kubelet's crash back-off and preStop durations.
import { describe, expect, it } from 'vitest';
import { CrashBackoff } from '../../src/sandbox/crash-backoff.ts';
import { deleteOptionsOf } from '../../src/sandbox/deletion.ts';
import { preStopSeconds, terminationDelayMs } from '../../src/sandbox/pod-termination.ts';
import { CONFIG_MAP, DEPLOYMENT, POD, REPLICA_SET } from '../../src/sandbox/resources.ts';
import { type KubeObject, ObjectStore, StatusError, type StoreEvent } from '../../src/sandbox/store.ts';

function ref(owner: KubeObject, blockOwnerDeletion = true) {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid!,
    controller: true,
    blockOwnerDeletion,
  };
}

/** Deployment web -> ReplicaSet web-1 -> Pod web-1-a (not bound to a node: deleted at once). */
function family(store: ObjectStore, rsFinalizers?: string[]) {
  const d = store.create(DEPLOYMENT, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default' },
  });
  const rs = store.create(REPLICA_SET, {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: 'web-1',
      namespace: 'default',
      ownerReferences: [ref(d)],
      ...(rsFinalizers ? { finalizers: rsFinalizers } : {}),
    },
  });
  const pod = store.create(POD, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1-a', namespace: 'default', ownerReferences: [ref(rs)] },
  });
  return { d, rs, pod };
}

function names(store: ObjectStore): string[] {
  return [...store.list(DEPLOYMENT), ...store.list(REPLICA_SET), ...store.list(POD)].map(
    (o) => `${o.kind}/${o.metadata.name}${o.metadata.deletionTimestamp ? ' (deleting)' : ''}`,
  );
}

function statusCode(action: () => unknown): number | undefined {
  try {
    action();
  } catch (error) {
    if (error instanceof StatusError) return error.code;
    throw error;
  }
  return undefined;
}

describe('sandbox deletion: finalizers', () => {
  it('keeps an object with finalizers, marked, until the last finalizer is removed', () => {
    const store = new ObjectStore();
    store.create(CONFIG_MAP, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'held', finalizers: ['example.com/a', 'example.com/b'] },
    });
    const events: StoreEvent[] = [];
    store.watch(CONFIG_MAP, (event) => events.push(event));
    const marked = store.delete(CONFIG_MAP, 'default', 'held');
    expect(marked.metadata.deletionTimestamp).toBeDefined();
    expect(marked.metadata['deletionGracePeriodSeconds']).toBe(0);
    expect(store.get(CONFIG_MAP, 'default', 'held')).toBeDefined();

    // An update can neither clear the deletionTimestamp nor add a finalizer.
    const current = store.get(CONFIG_MAP, 'default', 'held')!;
    delete current.metadata.deletionTimestamp;
    current.metadata.labels = { edited: 'yes' };
    const cleared = store.update(CONFIG_MAP, current);
    expect(cleared.metadata.deletionTimestamp).toBe(marked.metadata.deletionTimestamp);
    expect(cleared.metadata.labels).toEqual({ edited: 'yes' });
    expect(
      statusCode(() =>
        store.mutate(CONFIG_MAP, 'default', 'held', (cm) => {
          cm.metadata['finalizers'] = ['example.com/a', 'example.com/b', 'example.com/c'];
        }),
      ),
    ).toBe(422);

    store.mutate(CONFIG_MAP, 'default', 'held', (cm) => {
      cm.metadata['finalizers'] = ['example.com/b'];
    });
    expect(store.get(CONFIG_MAP, 'default', 'held')).toBeDefined();
    store.mutate(CONFIG_MAP, 'default', 'held', (cm) => {
      cm.metadata['finalizers'] = [];
    });
    expect(store.get(CONFIG_MAP, 'default', 'held')).toBeUndefined();
    // Marked, labelled, one finalizer removed, the last removed (written, then deleted).
    expect(events.map((e) => e.type)).toEqual(['MODIFIED', 'MODIFIED', 'MODIFIED', 'MODIFIED', 'DELETED']);
  });
});

describe('sandbox deletion: propagation policies', () => {
  it('Background (the default): the owner goes at once and its dependents are collected', () => {
    const store = new ObjectStore();
    family(store);
    store.delete(DEPLOYMENT, 'default', 'web', { propagationPolicy: 'Background' });
    expect(names(store)).toEqual([]);
  });

  it('Foreground: the owner waits, marked, until its blocking dependents are gone', () => {
    const store = new ObjectStore();
    const { d } = family(store, ['example.com/hold']);
    // A dependent that does not block its owner's deletion is collected, but not waited for.
    store.create(CONFIG_MAP, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'side', ownerReferences: [ref(d, false)], finalizers: ['example.com/hold'] },
    });
    store.delete(DEPLOYMENT, 'default', 'web', { propagationPolicy: 'Foreground' });
    expect(store.get(DEPLOYMENT, 'default', 'web')!.metadata['finalizers']).toEqual(['foregroundDeletion']);
    // The ReplicaSet is deleted in the foreground too (it has dependents); its Pod is gone.
    expect(names(store)).toEqual(['Deployment/web (deleting)', 'ReplicaSet/web-1 (deleting)']);
    expect(store.get(REPLICA_SET, 'default', 'web-1')!.metadata['finalizers']).toEqual(['example.com/hold']);
    expect(store.get(CONFIG_MAP, 'default', 'side')!.metadata.deletionTimestamp).toBeDefined();

    store.mutate(REPLICA_SET, 'default', 'web-1', (rs) => {
      delete rs.metadata['finalizers'];
    });
    expect(names(store)).toEqual([]);
    expect(store.get(CONFIG_MAP, 'default', 'side')).toBeDefined(); // its own finalizer still holds it
  });

  it('Orphan: the owner goes, its dependents stay without the ownerReference', () => {
    const store = new ObjectStore();
    family(store);
    store.delete(DEPLOYMENT, 'default', 'web', { propagationPolicy: 'Orphan' });
    expect(names(store)).toEqual(['ReplicaSet/web-1', 'Pod/web-1-a']);
    expect(store.get(REPLICA_SET, 'default', 'web-1')!.metadata.ownerReferences).toBeUndefined();
    expect(store.get(POD, 'default', 'web-1-a')!.metadata.ownerReferences?.[0]?.name).toBe('web-1');
  });

  it('Orphan through the legacy orphanDependents, waiting for the owner own finalizers', () => {
    const store = new ObjectStore();
    const { d } = family(store);
    store.mutate(DEPLOYMENT, 'default', 'web', (o) => {
      o.metadata['finalizers'] = ['example.com/hold'];
    });
    store.delete(DEPLOYMENT, 'default', 'web', { orphanDependents: true });
    // Orphaning is done (the orphan finalizer removed); the other finalizer still holds the owner.
    expect(store.get(DEPLOYMENT, 'default', 'web')!.metadata['finalizers']).toEqual(['example.com/hold']);
    expect(store.get(REPLICA_SET, 'default', 'web-1')!.metadata.ownerReferences).toBeUndefined();
    expect(d.metadata.uid).toBeDefined();
  });

  it('keeps a dependent that still has another owner, dropping the reference to the deleted one', () => {
    const store = new ObjectStore();
    const { d } = family(store);
    const other = store.create(CONFIG_MAP, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'o' } });
    store.mutate(REPLICA_SET, 'default', 'web-1', (rs) => {
      rs.metadata.ownerReferences = [ref(d), { ...ref(other), controller: false }];
    });
    store.delete(DEPLOYMENT, 'default', 'web');
    expect(store.get(REPLICA_SET, 'default', 'web-1')!.metadata.ownerReferences?.map((r) => r.name)).toEqual([
      'o',
    ]);
  });
});

describe('sandbox deletion: Pods', () => {
  const pod = (spec: Record<string, unknown>): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'default' },
    spec: { nodeName: 'sandbox-node', containers: [{ name: 'app', image: 'app:1' }], ...spec },
  });

  it('marks a running Pod with its grace period and removes it when deleted again with grace 0', () => {
    const store = new ObjectStore();
    store.create(POD, pod({ terminationGracePeriodSeconds: 20 }));
    const before = Date.now();
    const marked = store.delete(POD, 'default', 'p');
    expect(marked.metadata['deletionGracePeriodSeconds']).toBe(20);
    const at = Date.parse(marked.metadata.deletionTimestamp!);
    expect(at).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 19_000);
    // A longer grace period is ignored, a shorter one moves the deadline.
    expect(
      store.delete(POD, 'default', 'p', { gracePeriodSeconds: 60 }).metadata['deletionGracePeriodSeconds'],
    ).toBe(20);
    expect(
      store.delete(POD, 'default', 'p', { gracePeriodSeconds: 5 }).metadata['deletionGracePeriodSeconds'],
    ).toBe(5);
    store.delete(POD, 'default', 'p', { gracePeriodSeconds: 0 });
    expect(store.get(POD, 'default', 'p')).toBeUndefined();
  });

  it('deletes at once a Pod with grace period 0, without a node, or already finished', () => {
    const store = new ObjectStore();
    store.create(POD, pod({ terminationGracePeriodSeconds: 0 }));
    store.delete(POD, 'default', 'p');
    expect(store.get(POD, 'default', 'p')).toBeUndefined();
    store.create(POD, pod({ nodeName: undefined }));
    store.delete(POD, 'default', 'p');
    expect(store.get(POD, 'default', 'p')).toBeUndefined();
    store.create(POD, { ...pod({}), status: { phase: 'Succeeded' } });
    store.delete(POD, 'default', 'p');
    expect(store.get(POD, 'default', 'p')).toBeUndefined();
  });

  it('waits for the preStop hook of running containers, capped by the grace period', () => {
    const running = { containerStatuses: [{ name: 'app', state: { running: {} } }] };
    const marked = (grace: number, lifecycle: unknown, status: unknown = running): KubeObject => ({
      ...pod({ containers: [{ name: 'app', image: 'app:1', lifecycle }] }),
      metadata: { name: 'p', deletionGracePeriodSeconds: grace },
      status,
    });
    expect(terminationDelayMs(marked(30, { preStop: { sleep: { seconds: 5 } } }))).toBe(5000);
    expect(terminationDelayMs(marked(2, { preStop: { sleep: { seconds: 5 } } }))).toBe(2000);
    expect(terminationDelayMs(marked(30, undefined))).toBe(0);
    expect(terminationDelayMs(marked(30, { preStop: { sleep: { seconds: 5 } } }, {}))).toBe(0);
    expect(preStopSeconds({ lifecycle: { preStop: { exec: { command: ['sleep', '3'] } } } })).toBe(3);
    expect(
      preStopSeconds({
        lifecycle: { preStop: { exec: { command: ['/bin/sh', '-c', 'sleep 4 && nginx -s quit'] } } },
      }),
    ).toBe(4);
    expect(preStopSeconds({ lifecycle: { preStop: { httpGet: { path: '/stop', port: 80 } } } })).toBe(0);
  });
});

describe('sandbox deletion: DeleteOptions', () => {
  it('reads the policy from the body or the query, and refuses what kube-apiserver refuses', () => {
    const none = new URLSearchParams();
    expect(deleteOptionsOf({ propagationPolicy: 'Foreground' }, none)).toEqual({
      propagationPolicy: 'Foreground',
    });
    expect(
      deleteOptionsOf(undefined, new URLSearchParams('propagationPolicy=Orphan&gracePeriodSeconds=0')),
    ).toEqual({ propagationPolicy: 'Orphan', gracePeriodSeconds: 0 });
    expect(deleteOptionsOf({ orphanDependents: false }, none)).toEqual({ orphanDependents: false });
    expect(() => deleteOptionsOf({ propagationPolicy: 'Sideways' }, none)).toThrow(/Unsupported value/);
    expect(() => deleteOptionsOf({ propagationPolicy: 'Orphan', orphanDependents: true }, none)).toThrow(
      /cannot be both set/,
    );
  });
});

describe('kubelet crash-loop back-off', () => {
  it('doubles from the base up to 30 bases, and starts over after an idle of twice the cap', () => {
    const backoff = new CrashBackoff(10_000);
    let now = 0;
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      const wait = backoff.next('pod', now);
      waits.push(wait / 1000);
      now += wait;
    }
    expect(waits).toEqual([10, 20, 40, 80, 160, 300, 300, 300]);
    expect(backoff.next('pod', now + 600_001)).toBe(10_000);
    expect(backoff.next('other', now)).toBe(10_000);
  });
});
