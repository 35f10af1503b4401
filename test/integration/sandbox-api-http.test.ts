// The sandbox API server's wire protocol, checked with plain fetch where kubectl and client-node
// would hide the details: watch stream framing, 410 on compacted resumes, bookmarks, timeouts,
// Table watches, discovery documents and the error Statuses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEPLOYMENT, EVENT, KUSTOMIZATION, mustResource } from '../../src/sandbox/resources.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';

const CONFIG_MAP = mustResource('v1', 'ConfigMap');
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox();
});

afterAll(async () => {
  await sandbox?.stop();
});

function call(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(sandbox.url + path, init);
}

async function json(path: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const response = await call(path, init);
  return { status: response.status, body: await response.json() };
}

function send(method: string, path: string, body: unknown, contentType = 'application/json') {
  return json(path, { method, body: JSON.stringify(body), headers: { 'Content-Type': contentType } });
}

interface WatchClient {
  events: any[];
  ended: () => boolean;
  close: () => void;
}

async function watch(path: string, headers: Record<string, string> = {}): Promise<WatchClient> {
  const controller = new AbortController();
  const response = await call(path, { signal: controller.signal, headers });
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const events: any[] = [];
  let buffer = '';
  let ended = false;
  void (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
          events.push(JSON.parse(buffer.slice(0, newline)));
          buffer = buffer.slice(newline + 1);
        }
      }
    } catch {
      // aborted by the test
    }
    ended = true;
  })();
  return { events, ended: () => ended, close: () => controller.abort() };
}

async function until(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function configMap(name: string, namespace = 'kube-system'): any {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels: { suite: 'http' } } };
}

describe('sandbox API server wire protocol', () => {
  it('sends ADDED when an object starts matching a watch selector and DELETED when it stops, as the watch cache does', async () => {
    const path = '/api/v1/namespaces/default/configmaps';
    await send('POST', path, { ...configMap('moving', 'default'), metadata: { name: 'moving' } });
    const byLabel = await watch(`${path}?watch=true&labelSelector=tier%3Dfront`);
    const byField = await watch(`${path}?watch=true&fieldSelector=data.mode%3Dlive`);
    const label = (tier: string | null) =>
      send('PATCH', `${path}/moving`, { metadata: { labels: { tier } } }, 'application/merge-patch+json');
    const mode = (value: string | null) =>
      send('PATCH', `${path}/moving`, { data: { mode: value } }, 'application/merge-patch+json');

    await label('front');
    await label('front'); // unchanged: no event at all
    await mode('live');
    await label(null);
    await mode('test');
    await until('the transitions', () => byLabel.events.length >= 3 && byField.events.length >= 3);
    byLabel.close();
    byField.close();
    const seen = (events: any[]) =>
      events.map((event) => [event.type, event.object.metadata.labels?.tier, event.object.data?.mode]);
    expect(seen(byLabel.events)).toEqual([
      ['ADDED', 'front', undefined],
      ['MODIFIED', 'front', 'live'],
      // The last state that matched, at the resourceVersion of the change that ended the match.
      ['DELETED', 'front', 'live'],
    ]);
    expect(seen(byField.events)).toEqual([
      ['ADDED', 'front', 'live'],
      ['MODIFIED', undefined, 'live'],
      ['DELETED', undefined, 'live'],
    ]);
    const current = sandbox.store.get(CONFIG_MAP, 'default', 'moving')!;
    expect(byField.events.at(-1).object.metadata.resourceVersion).toBe(current.metadata.resourceVersion);
  });

  it('serves version, health, and plain discovery even when aggregated discovery is asked for', async () => {
    expect((await json('/version')).body).toMatchObject({ major: '1', minor: '32', gitVersion: 'v1.32.4' });
    expect(await (await call('/readyz')).text()).toBe('ok');

    const aggregated =
      'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json';
    const api = await call('/api', { headers: { Accept: aggregated } });
    expect(api.headers.get('content-type')).toBe('application/json');
    expect(await api.json()).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });

    const groups = (await json('/apis')).body;
    expect(groups.groups.map((group: any) => group.name)).toEqual(
      expect.arrayContaining(['apps', 'kustomize.toolkit.fluxcd.io', 'argoproj.io']),
    );

    const apps = (await json('/apis/apps/v1')).body;
    const byName = new Map(apps.resources.map((resource: any) => [resource.name, resource]));
    expect(byName.get('deployments')).toMatchObject({ singularName: 'deployment', shortNames: ['deploy'] });
    expect(byName.get('deployments/scale')).toMatchObject({
      group: 'autoscaling',
      version: 'v1',
      kind: 'Scale',
    });
    expect(byName.get('deployments/status')).toMatchObject({ kind: 'Deployment' });
  });

  it('starts a watch without resourceVersion with the current objects, then streams changes', async () => {
    sandbox.store.create(CONFIG_MAP, configMap('before-watch'));
    const stream = await watch(
      '/api/v1/namespaces/kube-system/configmaps?watch=true&labelSelector=suite%3Dhttp',
    );
    try {
      await until('the synthetic ADDED', () => stream.events.length >= 1);
      expect(stream.events[0]).toMatchObject({
        type: 'ADDED',
        object: { metadata: { name: 'before-watch' } },
      });
      sandbox.store.create(CONFIG_MAP, configMap('during-watch'));
      sandbox.store.delete(CONFIG_MAP, 'kube-system', 'before-watch');
      await until('two more events', () => stream.events.length >= 3);
      expect(stream.events.slice(1).map((event) => [event.type, event.object.metadata.name])).toEqual([
        ['ADDED', 'during-watch'],
        ['DELETED', 'before-watch'],
      ]);
    } finally {
      stream.close();
    }
  });

  it('replays from a resourceVersion, and answers a compacted one with an ERROR 410 event', async () => {
    const from = sandbox.store.resourceVersion;
    sandbox.store.create(CONFIG_MAP, configMap('replayed'));
    const replay = await watch(`/api/v1/namespaces/kube-system/configmaps?watch=1&resourceVersion=${from}`);
    await until('the replayed event', () => replay.events.length >= 1);
    expect(replay.events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'replayed' } } });
    replay.close();

    sandbox.store.compact();
    const expired = await watch(`/api/v1/namespaces/kube-system/configmaps?watch=1&resourceVersion=${from}`);
    await until('the end of the stream', expired.ended);
    expect(expired.events).toEqual([
      { type: 'ERROR', object: expect.objectContaining({ kind: 'Status', code: 410, reason: 'Expired' }) },
    ]);
  });

  it('sends bookmarks when allowed and ends the stream after timeoutSeconds', async () => {
    const stream = await watch(
      `/api/v1/namespaces/kube-system/configmaps?watch=1&allowWatchBookmarks=true&timeoutSeconds=2&resourceVersion=${sandbox.store.resourceVersion}`,
    );
    await until('a bookmark', () => stream.events.some((event) => event.type === 'BOOKMARK'));
    expect(stream.events.find((event) => event.type === 'BOOKMARK').object).toMatchObject({
      kind: 'ConfigMap',
      metadata: { resourceVersion: sandbox.store.resourceVersion },
    });
    await until('the timeout', stream.ended, 4000);
  });

  it('prints Tables for lists and watch events, honouring includeObject', async () => {
    const list = (await json('/api/v1/namespaces?includeObject=None', { headers: { Accept: TABLE } })).body;
    expect(list.kind).toBe('Table');
    expect(list.columnDefinitions.map((column: any) => column.name)).toEqual(['Name', 'Status', 'Age']);
    expect(list.rows[0].object).toBeUndefined();

    const stream = await watch(
      '/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations?watch=1',
      {
        Accept: TABLE,
      },
    );
    try {
      sandbox.store.create(KUSTOMIZATION, {
        apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
        kind: 'Kustomization',
        metadata: { name: 'tabled', namespace: 'flux-system' },
        spec: { path: './', interval: '1m' },
        status: {
          conditions: [{ type: 'Ready', status: 'True', message: 'Applied revision: main@sha1:abc' }],
        },
      });
      await until('the Table event', () => stream.events.length >= 1);
      const table = stream.events[0].object;
      expect(table.columnDefinitions.map((column: any) => column.name)).toEqual([
        'Name',
        'Age',
        'Ready',
        'Status',
      ]);
      expect(table.rows[0].cells).toEqual([
        'tabled',
        expect.stringMatching(/^\d+s$/),
        'True',
        'Applied revision: main@sha1:abc',
      ]);
      expect(table.rows[0].object).toMatchObject({
        kind: 'PartialObjectMetadata',
        metadata: { name: 'tabled' },
      });
    } finally {
      stream.close();
    }
  });

  it('finds Events by involvedObject field selectors', async () => {
    for (const [name, kind] of [
      ['a.1', 'Deployment'],
      ['a.2', 'ReplicaSet'],
    ] as const) {
      sandbox.store.create(EVENT, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: 'default' },
        involvedObject: { kind, name: 'a', namespace: 'default', uid: `uid-${kind}` },
        reason: 'Test',
      });
    }
    const selector = encodeURIComponent(
      'involvedObject.name=a,involvedObject.namespace=default,involvedObject.kind=Deployment,involvedObject.uid=uid-Deployment',
    );
    const { body } = await json(`/api/v1/namespaces/default/events?fieldSelector=${selector}&limit=500`);
    expect(body.items.map((event: any) => event.metadata.name)).toEqual(['a.1']);
  });

  it('answers errors as Status objects with the right codes', async () => {
    const path = '/api/v1/namespaces/default/configmaps';
    const created = await send('POST', path, configMap('errors', 'default'));
    expect(created.status).toBe(201);

    expect((await send('POST', path, configMap('errors', 'default'))).body).toMatchObject({
      code: 409,
      reason: 'AlreadyExists',
    });
    const stale = { ...created.body, metadata: { ...created.body.metadata, resourceVersion: '1' } };
    expect((await send('PUT', `${path}/errors`, stale)).body).toMatchObject({
      code: 409,
      reason: 'Conflict',
    });
    expect((await send('POST', path, configMap('elsewhere', 'kube-system'))).status).toBe(400);
    expect((await send('POST', `${path}/errors`, configMap('errors', 'default'))).status).toBe(405);
    // Server-side apply without a fieldManager fails PatchOptions validation, as on kube-apiserver.
    expect((await send('PATCH', `${path}/errors`, {}, 'application/apply-patch+yaml')).body).toMatchObject({
      code: 422,
      reason: 'Invalid',
      message: expect.stringContaining('fieldManager: Required value'),
    });
    expect((await json('/apis/nope.example.com/v1/things')).status).toBe(404);

    const invalid = await send('POST', '/apis/apps/v1/namespaces/default/deployments', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'invalid' },
      spec: { template: { spec: { containers: [] } } },
    });
    expect(invalid.body).toMatchObject({ kind: 'Status', code: 422, reason: 'Invalid' });
    expect(sandbox.store.get(DEPLOYMENT, 'default', 'invalid')).toBeUndefined();

    // Custom resources have no strategic merge patch, as on a real cluster.
    const crd = await send(
      'PATCH',
      '/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/tabled',
      { spec: { suspend: true } },
      'application/strategic-merge-patch+json',
    );
    expect(crd.status).toBe(415);

    const huge = await call(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ...configMap('huge', 'default'), data: { blob: 'x'.repeat(4 * 1024 * 1024) } }),
    });
    expect(huge.status).toBe(413);
  });

  it('counts requests and ends open watches on close', async () => {
    const before = sandbox.api.stats.requests;
    await call('/healthz');
    expect(sandbox.api.stats.requests).toBe(before + 1);

    const stream = await watch('/api/v1/configmaps?watch=1');
    expect(sandbox.api.dropWatches()).toBeGreaterThanOrEqual(1);
    await until('the dropped watch to end', stream.ended);
  });
});
