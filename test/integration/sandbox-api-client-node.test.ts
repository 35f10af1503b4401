// The sandbox API server against the real @kubernetes/client-node 1.4.0: typed CRUD, the three
// patch formats, the scale subresource, and an informer that survives a compacted watch (410 Gone).
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  makeInformer,
  setHeaderOptions,
  type V1ConfigMap,
  type V1Deployment,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mustResource } from '../../src/sandbox/resources.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';

const CONFIG_MAP = mustResource('v1', 'ConfigMap');

let sandbox: Sandbox;
let kc: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;

beforeAll(async () => {
  sandbox = await startSandbox();
  kc = new KubeConfig();
  kc.loadFromFile(sandbox.kubeconfigPath);
  // client-node 1.x refuses plain http unless the cluster skips TLS verification; the sandbox
  // kubeconfig does not say so (yet), so mark it here.
  kc.loadFromOptions({
    clusters: kc.clusters.map((cluster) => ({ ...cluster, skipTLSVerify: true })),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
});

afterAll(async () => {
  await sandbox?.stop();
});

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function apiError(promise: Promise<unknown>): Promise<ApiException<string>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ApiException) return error as ApiException<string>;
    throw error;
  }
  throw new Error('expected the call to fail');
}

function configMap(name: string, data: Record<string, string> = { key: 'value' }): V1ConfigMap {
  return { metadata: { name, labels: { suite: 'client-node' } }, data };
}

function deployment(name: string): V1Deployment {
  return {
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'nginx:1.25',
              env: [{ name: 'MODE', value: 'prod' }],
              ports: [{ containerPort: 8080, name: 'http' }],
            },
          ],
        },
      },
    },
  };
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategicMergePatch = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

describe('sandbox API server with @kubernetes/client-node', () => {
  it('creates, reads, lists by label, replaces with optimistic concurrency and deletes ConfigMaps', async () => {
    const namespace = 'default';
    const created = await core.createNamespacedConfigMap({ namespace, body: configMap('crud') });
    expect(created.metadata?.uid).toBeTruthy();

    const read = await core.readNamespacedConfigMap({ name: 'crud', namespace });
    expect(read.data).toEqual({ key: 'value' });

    const listed = await core.listNamespacedConfigMap({ namespace, labelSelector: 'suite=client-node' });
    expect(listed.items.map((item) => item.metadata?.name)).toContain('crud');

    const replaced = await core.replaceNamespacedConfigMap({
      name: 'crud',
      namespace,
      body: { ...read, data: { key: 'changed' } },
    });
    expect(replaced.data).toEqual({ key: 'changed' });

    // The stale resourceVersion of `read` must now conflict.
    const conflict = await apiError(core.replaceNamespacedConfigMap({ name: 'crud', namespace, body: read }));
    expect(conflict.code).toBe(409);

    const duplicate = await apiError(core.createNamespacedConfigMap({ namespace, body: configMap('crud') }));
    expect(duplicate.code).toBe(409);

    await core.deleteNamespacedConfigMap({ name: 'crud', namespace });
    const missing = await apiError(core.readNamespacedConfigMap({ name: 'crud', namespace }));
    expect(missing.code).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ kind: 'Status', reason: 'NotFound', code: 404 });
  });

  it('applies JSON patches by default and merge patches through the Content-Type middleware', async () => {
    const namespace = 'default';
    await core.createNamespacedConfigMap({ namespace, body: configMap('patched', { a: '1', b: '2' }) });

    const jsonPatched = await core.patchNamespacedConfigMap({
      name: 'patched',
      namespace,
      body: [{ op: 'replace', path: '/data/a', value: 'one' }],
    });
    expect(jsonPatched.data).toEqual({ a: 'one', b: '2' });

    const merged = await core.patchNamespacedConfigMap(
      { name: 'patched', namespace, body: { data: { b: null, c: '3' } } },
      mergePatch,
    );
    expect(merged.data).toEqual({ a: 'one', c: '3' });
  });

  it('merges a Deployment strategic patch by container name and scales through the scale subresource', async () => {
    const namespace = 'default';
    await apps.createNamespacedDeployment({ namespace, body: deployment('client-web') });

    const patched = await apps.patchNamespacedDeployment(
      {
        name: 'client-web',
        namespace,
        body: { spec: { template: { spec: { containers: [{ name: 'app', image: 'nginx:1.26' }] } } } },
      },
      strategicMergePatch,
    );
    const container = patched.spec?.template.spec?.containers[0];
    expect(container?.image).toBe('nginx:1.26');
    expect(container?.env).toEqual([{ name: 'MODE', value: 'prod' }]);
    expect(container?.ports?.[0]?.containerPort).toBe(8080);
    expect(patched.metadata?.generation).toBe(2);

    const scale = await apps.readNamespacedDeploymentScale({ name: 'client-web', namespace });
    expect(scale).toMatchObject({
      kind: 'Scale',
      spec: { replicas: 1 },
      status: { selector: 'app=client-web' },
    });

    await apps.patchNamespacedDeploymentScale(
      { name: 'client-web', namespace, body: { spec: { replicas: 3 } } },
      mergePatch,
    );
    const scaled = await apps.readNamespacedDeployment({ name: 'client-web', namespace });
    expect(scaled.spec?.replicas).toBe(3);

    await apps.deleteNamespacedDeployment({ name: 'client-web', namespace, propagationPolicy: 'Background' });
    expect((await apiError(apps.readNamespacedDeployment({ name: 'client-web', namespace }))).code).toBe(404);
  });

  it('keeps an informer delivering events after the watch history is compacted (410 Gone, re-list)', async () => {
    const namespace = 'kube-public';
    let lists = 0;
    const informer = makeInformer<V1ConfigMap>(kc, `/api/v1/namespaces/${namespace}/configmaps`, () => {
      lists++;
      return core.listNamespacedConfigMap({ namespace });
    });
    const seen = new Map<string, V1ConfigMap>();
    const deleted: string[] = [];
    const errors: unknown[] = [];
    informer.on('add', (object) => seen.set(object.metadata!.name!, object));
    informer.on('update', (object) => seen.set(object.metadata!.name!, object));
    informer.on('delete', (object) => deleted.push(object.metadata!.name!));
    informer.on('error', (error) => errors.push(error));
    await informer.start();
    try {
      await core.createNamespacedConfigMap({ namespace, body: configMap('watched') });
      await waitFor('the ADDED event', () => seen.has('watched'));

      await core.patchNamespacedConfigMap(
        { name: 'watched', namespace, body: { data: { key: 'v2' } } },
        mergePatch,
      );
      await waitFor('the MODIFIED event', () => seen.get('watched')?.data?.['key'] === 'v2');

      await core.deleteNamespacedConfigMap({ name: 'watched', namespace });
      await waitFor('the DELETED event', () => deleted.includes('watched'));

      // Drop the watch, then change and compact while the informer is away: its resourceVersion is
      // now older than the retained history, so its re-watch gets 410 and it must re-list.
      expect(sandbox.api.dropWatches()).toBeGreaterThanOrEqual(1);
      sandbox.store.create(CONFIG_MAP, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'while-away', namespace },
      });
      sandbox.store.compact();
      await waitFor('the re-list after 410', () => lists >= 2 && seen.has('while-away'));

      await core.createNamespacedConfigMap({ namespace, body: configMap('after-compaction') });
      await waitFor('an event after the re-list', () => seen.has('after-compaction'));
      expect(errors).toEqual([]);
    } finally {
      await informer.stop();
    }
  });
});
