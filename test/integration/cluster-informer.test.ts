import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { type KubeObjectJson, ResilientInformer } from '../../src/cluster/informer.ts';
import { CONFIG_MAP } from '../../src/sandbox/resources.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/sandbox.ts';
import { type TcpProxy, startTcpProxy } from '../helpers/tcp-proxy.ts';
import { until } from '../helpers/wait.ts';

function kubeConfigFor(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'sandbox' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u', namespace: 'default' }],
    currentContext: 'x',
  });
  return kc;
}

const configMap = (name: string, value = '1') => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'default' },
  data: { value },
});

describe('resilient informer against the sandbox API server', () => {
  let sandbox: Sandbox | undefined;
  let proxy: TcpProxy | undefined;
  let informer: ResilientInformer | undefined;

  afterEach(async () => {
    informer?.stop();
    await proxy?.close();
    await sandbox?.stop();
    informer = undefined;
    proxy = undefined;
    sandbox = undefined;
  });

  function events(inf: ResilientInformer): { type: string; name: string; value?: string }[] {
    const seen: { type: string; name: string; value?: string }[] = [];
    inf.on((type, o: KubeObjectJson & { data?: { value?: string } }) => {
      seen.push({ type, name: o.metadata?.name ?? '', ...(o.data?.value ? { value: o.data.value } : {}) });
    });
    return seen;
  }

  it('delivers adds, updates and deletes', async () => {
    sandbox = await startSandbox();
    sandbox.store.create(CONFIG_MAP, configMap('before'));
    informer = new ResilientInformer(kubeConfigFor(sandbox.url), {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      path: '/api/v1/namespaces/default/configmaps',
      namespace: 'default',
    });
    const seen = events(informer);
    await informer.start();
    expect(seen).toContainEqual({ type: 'ADDED', name: 'before', value: '1' });
    sandbox.store.create(CONFIG_MAP, configMap('after'));
    sandbox.store.mutate(CONFIG_MAP, 'default', 'after', (o) => {
      o['data'] = { value: '2' };
    });
    sandbox.store.delete(CONFIG_MAP, 'default', 'before');
    await until(() => seen.some((e) => e.type === 'DELETED' && e.name === 'before'), 'the delete');
    expect(seen).toContainEqual({ type: 'ADDED', name: 'after', value: '1' });
    expect(seen).toContainEqual({ type: 'MODIFIED', name: 'after', value: '2' });
    expect(informer.get('default', 'after')).toMatchObject({ data: { value: '2' } });
  });

  it('re-lists after 410 Gone and emits what changed while it was away', async () => {
    sandbox = await startSandbox({ eventHistory: 5 });
    informer = new ResilientInformer(kubeConfigFor(sandbox.url), {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      path: '/api/v1/namespaces/default/configmaps',
      namespace: 'default',
    });
    const seen = events(informer);
    sandbox.store.create(CONFIG_MAP, configMap('old'));
    await informer.start();
    sandbox.api.dropWatches();
    // While the watch is down: more changes than the server keeps history for, then compaction.
    sandbox.store.delete(CONFIG_MAP, 'default', 'old');
    for (let i = 0; i < 10; i++) sandbox.store.create(CONFIG_MAP, configMap(`new-${i}`));
    sandbox.store.compact();
    await until(() => seen.some((e) => e.name === 'new-9'), 'objects created during the outage');
    await until(
      () => seen.some((e) => e.type === 'DELETED' && e.name === 'old'),
      'the delete seen through the re-list',
    );
    sandbox.store.create(CONFIG_MAP, configMap('later'));
    await until(() => seen.some((e) => e.name === 'later'), 'an object created after recovery');
    expect(informer.stats.gone).toBeGreaterThanOrEqual(1);
  });

  it('aborts a silently stalled watch and resumes without losing events', async () => {
    sandbox = await startSandbox();
    proxy = await startTcpProxy(new URL(sandbox.url));
    informer = new ResilientInformer(kubeConfigFor(proxy.url), {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      path: '/api/v1/namespaces/default/configmaps',
      namespace: 'default',
      inactivityMs: 600,
    });
    const seen = events(informer);
    await informer.start();
    expect(proxy.stallOpenConnections()).toBeGreaterThan(0);
    sandbox.store.create(CONFIG_MAP, configMap('during-stall'));
    await until(
      () => seen.some((e) => e.name === 'during-stall'),
      'the event sent while the socket was stalled',
    );
    expect(informer.stats.stalls).toBeGreaterThanOrEqual(1);
  });

  it('abandons a watch request nobody answers, and resumes once the server answers again', async () => {
    sandbox = await startSandbox();
    proxy = await startTcpProxy(new URL(sandbox.url));
    informer = new ResilientInformer(kubeConfigFor(proxy.url), {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      path: '/api/v1/namespaces/default/configmaps',
      namespace: 'default',
      inactivityMs: 300,
    });
    const seen = events(informer);
    await informer.start();
    // Connections are accepted and never answered, new ones included (the request never gets its headers).
    proxy.blackHole();
    await until(() => informer!.stats.stalls >= 3, 'several abandoned watch requests');
    expect(informer.stats.connected).toBe(false);
    sandbox.store.create(CONFIG_MAP, configMap('during-black-hole'));
    proxy.heal();
    await until(
      () => seen.some((e) => e.name === 'during-black-hole'),
      'the event sent while no request was answered',
    );
    expect(informer.stats.connected).toBe(true);
  });
});
