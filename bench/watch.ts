// Watch scale: memory per watched app and health events ingested per second, Rewind's
// detector against a plain @kubernetes/client-node list+watch cache of the same kinds, in the same
// run. The apps are written straight into the sandbox store (bench/lib/watch-fleet.ts, no Git and no
// controllers): this measures the detector, not the sandbox's Flux syncer. Each side runs in its own
// process (bench/lib/watch-child.ts) so that its heap is measured alone.
//
//   npm run bench -- watch [--apps 1000,10000] [--burst N]
//
// memory per app = (heap after the informers synced and every app was evaluated - heap before) / N
// events/s      = N Pod status changes (one per app) / time until Rewind evaluated every app
//                 (deduplicated per app), against the time the plain informers took to receive them
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureRedis } from '../src/demo/redis.ts';
import { deletePrefix } from '../src/sandbox/loop.ts';
import { POD } from '../src/sandbox/resources.ts';
import { startSandbox } from '../src/sandbox/sandbox.ts';
import { Redis } from 'ioredis';
import { createWatchFleet } from './lib/watch-fleet.ts';
import { stringArg } from './lib/stats.ts';

const CHILD = fileURLToPath(new URL('./lib/watch-child.ts', import.meta.url));
/** Target: at most this many bytes of heap per watched app. */
const TARGET_BYTES_PER_APP = 20 * 1024;
const TARGET_EVENTS_PER_SECOND = 500;

interface SideResult {
  bytesPerApp: number;
  readyMs: number;
  eventsPerSecond: number;
}

function next(child: ChildProcess, kind: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Record<string, unknown>) => {
      if (message['kind'] !== kind) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message);
    };
    const onExit = (code: number | null) =>
      reject(new Error(`watch child exited (${code}) before "${kind}"`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

async function measure(
  mode: 'rewind' | 'baseline',
  apps: number,
  pods: readonly { namespace: string; name: string }[],
  bump: (pod: { namespace: string; name: string }) => void,
  env: { kubeconfig: string; redisUrl: string; prefix: string },
): Promise<SideResult> {
  const child = fork(CHILD, [JSON.stringify({ mode, apps, ...env })], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const memory = await next(child, 'memory');
    await next(child, 'ready');
    const before = memory['before'] as { heapUsed: number };
    const after = memory['after'] as { heapUsed: number };
    const armed = next(child, 'armed');
    const done = next(child, 'burst');
    child.send({ kind: 'burst', events: pods.length });
    await armed;
    for (const pod of pods) bump(pod);
    const burst = await done;
    return {
      bytesPerApp: Math.round((after.heapUsed - before.heapUsed) / apps),
      readyMs: memory['readyMs'] as number,
      eventsPerSecond: Math.round(pods.length / ((burst['ms'] as number) / 1000)),
    };
  } finally {
    child.send({ kind: 'stop' });
    await new Promise((r) => child.once('exit', r));
  }
}

async function atScale(apps: number, redisUrl: string) {
  const sandbox = await startSandbox({ controllers: false, eventHistory: 4 * apps + 1000 });
  const redis = new Redis(redisUrl);
  const prefix = `rewind-bench-watch-${process.pid}-${apps}`;
  try {
    const createStart = performance.now();
    const pods = createWatchFleet(sandbox.store, apps);
    const createMs = Math.round(performance.now() - createStart);
    // One status change per Pod: a restart, below the threshold (healthy, but an event to ingest).
    const bump = ({ namespace, name }: { namespace: string; name: string }) =>
      sandbox.store.mutate(
        POD,
        namespace,
        name,
        (pod) => {
          pod.status.containerStatuses[0].restartCount += 1;
        },
        { subresource: 'status' },
      );
    const env = { kubeconfig: sandbox.kubeconfigPath, redisUrl, prefix };
    const baseline = await measure('baseline', apps, pods, bump, env);
    const rewind = await measure('rewind', apps, pods, bump, env);
    return {
      apps,
      createMs,
      rewind,
      baseline,
      ratios: {
        memoryVsBaseline: Number((rewind.bytesPerApp / baseline.bytesPerApp).toFixed(2)),
        eventsPerSecondVsRawWatch: Number((rewind.eventsPerSecond / baseline.eventsPerSecond).toFixed(2)),
      },
      targets: {
        atMost20KBPerApp: rewind.bytesPerApp <= TARGET_BYTES_PER_APP,
        atLeast500EventsPerSecond: rewind.eventsPerSecond >= TARGET_EVENTS_PER_SECOND,
      },
    };
  } finally {
    await deletePrefix(redis, prefix);
    redis.disconnect();
    await sandbox.stop();
  }
}

export async function run(args: string[]): Promise<unknown> {
  const scales = stringArg(args, '--apps', '1000,10000').split(',').map(Number);
  const redis = await ensureRedis(process.env['REDIS_URL']);
  try {
    const results = [];
    for (const apps of scales) results.push(await atScale(apps, redis.url));
    return {
      benchmark: 'watch',
      note: 'heap bytes per app after sync (gc), one process per side; events/s = one Pod status change per app, until Rewind evaluated every app (deduplicated per app) vs until the plain client-node informers received them all; apps written straight into the sandbox store (no Git, no controllers)',
      targets: { bytesPerApp: TARGET_BYTES_PER_APP, eventsPerSecond: TARGET_EVENTS_PER_SECOND },
      results,
      node: process.version,
    };
  } finally {
    await redis.stop();
  }
}
