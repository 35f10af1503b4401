// Sandbox baseline: 200 Deployments x 3 replicas created, then all updated at once, through the real
// @kubernetes/client-node over HTTP. Reports time to all rolled out, API requests/s served and peak
// memory. Later benchmarks divide by this run's figures.
import {
  AppsV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
} from '@kubernetes/client-node';
import { deploymentComplete } from '../src/cluster/rollout-verdict.ts';
import { startSandbox } from '../src/sandbox/sandbox.ts';

function parseArgs(args: string[]): { deployments: number; replicas: number; podReadyMs: number } {
  const get = (flag: string, fallback: number): number => {
    const i = args.indexOf(flag);
    return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
  };
  return {
    deployments: get('--deployments', 200),
    replicas: get('--replicas', 3),
    podReadyMs: get('--pod-ready-ms', 100),
  };
}

function manifest(name: string, replicas: number, image: string): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
    },
  };
}

async function allRolledOut(
  apps: AppsV1Api,
  namespace: string,
  count: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await apps.listNamespacedDeployment({ namespace });
    if (list.items.length === count && list.items.every(deploymentComplete)) return;
    if (Date.now() > deadline)
      throw new Error(`not all ${count} deployments rolled out within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

export async function run(args: string[]): Promise<unknown> {
  const { deployments, replicas, podReadyMs } = parseArgs(args);
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50);
  const sandbox = await startSandbox({ podReadyMs });
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(sandbox.kubeconfigPath);
    const apps = kc.makeApiClient(AppsV1Api);
    const namespace = 'default';
    const names = Array.from({ length: deployments }, (_, i) => `bench-${i}`);

    const createStart = performance.now();
    await inBatches(names, 20, (name) =>
      apps.createNamespacedDeployment({ namespace, body: manifest(name, replicas, 'bench:1') }),
    );
    await allRolledOut(apps, namespace, deployments, 120_000);
    const createMs = performance.now() - createStart;

    const requestsBefore = sandbox.api.stats.requests;
    const updateStart = performance.now();
    await inBatches(names, 20, (name) =>
      apps.patchNamespacedDeployment(
        {
          namespace,
          name,
          body: { spec: { template: { spec: { containers: [{ name: 'app', image: 'bench:2' }] } } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      ),
    );
    await allRolledOut(apps, namespace, deployments, 120_000);
    const updateMs = performance.now() - updateStart;
    const requests = sandbox.api.stats.requests - requestsBefore;

    // Raw serving rate: concurrent GETs of single Deployments.
    const reads = 2000;
    const readStart = performance.now();
    await inBatches(
      Array.from({ length: reads }, (_, i) => names[i % names.length]!),
      32,
      (name) => apps.readNamespacedDeployment({ namespace, name }),
    );
    const readMs = performance.now() - readStart;

    return {
      benchmark: 'sandbox',
      deployments,
      replicas,
      podReadyMs,
      createAndRollOutMs: Math.round(createMs),
      updateAllAndRollOutMs: Math.round(updateMs),
      updateMsPerDeployment: Number((updateMs / deployments).toFixed(2)),
      apiRequestsDuringUpdate: requests,
      apiRequestsPerSecond: Math.round(requests / (updateMs / 1000)),
      getRequestsPerSecond: Math.round(reads / (readMs / 1000)),
      storeWrites: Number(sandbox.store.resourceVersion),
      peakRssMiB: Math.round(peakRss / 1024 / 1024),
      node: process.version,
    };
  } finally {
    clearInterval(sampler);
    await sandbox.stop();
  }
}
