import { describe, expect, it } from 'vitest';
import { CONFIG_MAP, DEPLOYMENT, POD, REPLICA_SET } from '../../src/sandbox/resources.ts';
import { ObjectStore, StatusError, parseLabelSelector, type StoreEvent } from '../../src/sandbox/store.ts';

const deployment = (name: string, image = 'app:1') => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: 'default', labels: { app: name } },
  spec: { replicas: 1, template: { spec: { containers: [{ name: 'app', image }] } } },
});

describe('sandbox object store', () => {
  it('assigns identity, a resourceVersion and generation 1 on create, and refuses duplicates', () => {
    const store = new ObjectStore();
    const created = store.create(DEPLOYMENT, deployment('web'));
    expect(created.metadata.uid).toMatch(/[0-9a-f-]{36}/);
    expect(created.metadata.generation).toBe(1);
    expect(Number(created.metadata.resourceVersion)).toBeGreaterThan(0);
    expect(() => store.create(DEPLOYMENT, deployment('web'))).toThrowError(/already exists/);
  });

  it('bumps generation on spec changes only and rejects stale resourceVersions with 409', () => {
    const store = new ObjectStore();
    const created = store.create(DEPLOYMENT, deployment('web'));
    const relabelled = store.update(DEPLOYMENT, {
      ...created,
      metadata: { ...created.metadata, labels: { x: 'y' } },
    });
    expect(relabelled.metadata.generation).toBe(1);
    const changed = store.update(DEPLOYMENT, {
      ...deployment('web', 'app:2'),
      metadata: relabelled.metadata,
    });
    expect(changed.metadata.generation).toBe(2);
    const stale = () =>
      store.update(DEPLOYMENT, { ...deployment('web', 'app:3'), metadata: created.metadata });
    expect(stale).toThrowError(StatusError);
    expect(stale).toThrowError(/has been modified/);
  });

  it('keeps status out of main-resource updates and spec out of status updates', () => {
    const store = new ObjectStore();
    const created = store.create(DEPLOYMENT, deployment('web'));
    store.update(DEPLOYMENT, { ...created, status: { replicas: 1 } }, { subresource: 'status' });
    const next = store.update(DEPLOYMENT, { ...deployment('web', 'app:2'), status: { replicas: 99 } });
    expect(next.status).toEqual({ replicas: 1 });
    expect(next.spec.template.spec.containers[0].image).toBe('app:2');
  });

  it('does not bump the resourceVersion for a write that changes nothing', () => {
    const store = new ObjectStore();
    const created = store.create(DEPLOYMENT, deployment('web'));
    const same = store.update(DEPLOYMENT, created);
    expect(same.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
  });

  it('replays events after a resourceVersion and answers 410 Gone once compacted', () => {
    const store = new ObjectStore();
    const rv = store.resourceVersion;
    store.create(DEPLOYMENT, deployment('a'));
    store.create(DEPLOYMENT, deployment('b'));
    const seen: StoreEvent[] = [];
    const stop = store.watch(DEPLOYMENT, (e) => seen.push(e), { sinceResourceVersion: rv });
    expect(seen.map((e) => e.object.metadata.name)).toEqual(['a', 'b']);
    store.delete(DEPLOYMENT, 'default', 'a');
    expect(seen.at(-1)?.type).toBe('DELETED');
    stop();
    store.compact();
    try {
      store.watch(DEPLOYMENT, () => undefined, { sinceResourceVersion: rv });
      expect.unreachable('a compacted resume must fail');
    } catch (error) {
      expect((error as StatusError).code).toBe(410);
    }
  });

  it('garbage-collects dependents through ownerReferences', () => {
    const store = new ObjectStore();
    const d = store.create(DEPLOYMENT, deployment('web'));
    const owner = (o: { apiVersion: string; kind: string; metadata: { name: string; uid?: string } }) => [
      {
        apiVersion: o.apiVersion,
        kind: o.kind,
        name: o.metadata.name,
        uid: o.metadata.uid!,
        controller: true,
      },
    ];
    const rs = store.create(REPLICA_SET, {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'web-abc', namespace: 'default', ownerReferences: owner(d) },
    });
    store.create(POD, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-abc-1', namespace: 'default', ownerReferences: owner(rs) },
    });
    store.create(CONFIG_MAP, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unrelated' } });
    store.delete(DEPLOYMENT, 'default', 'web');
    expect(store.list(REPLICA_SET)).toHaveLength(0);
    expect(store.list(POD)).toHaveLength(0);
    expect(store.list(CONFIG_MAP)).toHaveLength(1);
  });

  it('refuses objects in a namespace that does not exist', () => {
    const store = new ObjectStore();
    expect(() =>
      store.create(DEPLOYMENT, { ...deployment('web'), metadata: { name: 'web', namespace: 'nope' } }),
    ).toThrowError(/namespaces "nope" not found/);
  });

  it('matches label selectors like the API server', () => {
    const labels = { app: 'web', tier: 'front' };
    expect(parseLabelSelector('app=web,tier in (front,back)')(labels)).toBe(true);
    expect(parseLabelSelector('app!=web')(labels)).toBe(false);
    expect(parseLabelSelector('!canary,app')(labels)).toBe(true);
    expect(parseLabelSelector('tier notin (front)')(labels)).toBe(false);
  });
});
