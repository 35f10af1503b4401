// One side of the watch benchmark, in its own process so its heap is measured alone (run with
// --expose-gc). `rewind`: Rewind's detector (its informers, indexes and evaluations, enqueueing
// into a real BullMQ queue). `baseline`: plain @kubernetes/client-node informers (list + watch
// cache) of the same kinds. Talks to the parent over IPC: reports memory once synced, then times
// an event burst on request.
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  makeInformer,
} from '@kubernetes/client-node';
import { Queue } from 'bullmq';
import { KubeCluster } from '../../src/cluster/kube.ts';
import { parseConfig } from '../../src/config/index.ts';
import { silentLogger } from '../../src/logging.ts';
import { systemClock } from '../../src/pipeline/ports.ts';
import { QUEUE_NAMES, type RollbackJob } from '../../src/queue/jobs.ts';
import { Detector } from '../../workers/detector.ts';

interface Args {
  mode: 'rewind' | 'baseline';
  kubeconfig: string;
  redisUrl: string;
  prefix: string;
  apps: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const send = (message: unknown): void => void process.send?.(message);

function heap(): { heapUsed: number; rss: number } {
  for (let i = 0; i < 4; i++) (globalThis as { gc?: () => void }).gc?.();
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}

async function settle(count: () => number, target: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (count() < target) {
    if (Date.now() > deadline) throw new Error(`only ${count()} of ${target} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function rewind(kc: KubeConfig): Promise<{ counted: () => number; stop: () => Promise<void> }> {
  const config = parseConfig(
    {
      redis: { url: args.redisUrl, prefix: args.prefix },
      kubernetes: { kubeconfig: args.kubeconfig },
      git: { workdir: '/tmp/unused', allowFileRemotes: true },
    },
    { env: {} },
  );
  const queue = new Queue<RollbackJob>(QUEUE_NAMES.rollback, {
    connection: { url: args.redisUrl },
    prefix: args.prefix,
  });
  const detector = new Detector({
    config,
    kubeConfig: kc,
    cluster: new KubeCluster(kc),
    rollbackQueue: queue,
    log: silentLogger(),
    clock: systemClock,
    resyncMs: 3_600_000,
  });
  await detector.start();
  return {
    counted: () => detector.stats.evaluations,
    async stop() {
      detector.stop();
      await queue.close();
    },
  };
}

async function baseline(kc: KubeConfig): Promise<{ counted: () => number; stop: () => Promise<void> }> {
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  let events = 0;
  const informers = [
    makeInformer(
      kc,
      '/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations',
      () =>
        custom.listClusterCustomObject({
          group: 'kustomize.toolkit.fluxcd.io',
          version: 'v1',
          plural: 'kustomizations',
        }) as never,
    ),
    makeInformer(kc, '/apis/apps/v1/deployments', () => apps.listDeploymentForAllNamespaces()),
    makeInformer(kc, '/apis/apps/v1/replicasets', () => apps.listReplicaSetForAllNamespaces()),
    makeInformer(kc, '/api/v1/pods', () => core.listPodForAllNamespaces()),
  ];
  for (const informer of informers) {
    for (const verb of ['add', 'update', 'delete'] as const)
      informer.on(verb, (_object: KubernetesObject) => {
        events++;
      });
  }
  await Promise.all(informers.map((i) => i.start()));
  return {
    counted: () => events,
    async stop() {
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}

const kc = new KubeConfig();
kc.loadFromFile(args.kubeconfig);
const before = heap();
const started = performance.now();
const side = await (args.mode === 'rewind' ? rewind(kc) : baseline(kc));
// Synced: every app evaluated once (rewind) or every object delivered (baseline: 4 per app).
await settle(side.counted, args.mode === 'rewind' ? args.apps : 4 * args.apps, 600_000);
const readyMs = Math.round(performance.now() - started);
await new Promise((r) => setTimeout(r, 500));
const after = heap();
send({ kind: 'memory', before, after, readyMs });

process.on('message', (message: { kind: string; events?: number }) => {
  if (message.kind === 'burst') {
    const from = side.counted();
    const t0 = performance.now();
    send({ kind: 'armed' });
    void settle(side.counted, from + (message.events ?? 0), 600_000).then(() =>
      send({ kind: 'burst', ms: performance.now() - t0 }),
    );
  } else if (message.kind === 'stop') {
    void side.stop().finally(() => process.exit(0));
  }
});
send({ kind: 'ready' });
