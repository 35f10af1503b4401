// MTTR: time from "bad revision applied" (the Deployment's template turns bad) to "recovered", on the
// same sandbox Deployment, for:
//   native     what an SRE does without Rewind: flux suspend + `kubectl rollout undo` (client-node,
//              same JSON patch), issued as soon as the same failure signal Rewind uses appears
//              (a Pod of the new ReplicaSet waiting in ImagePullBackOff); Git keeps the bad commit
//   rewind     Rewind, default policy: revert in Git, reconcile request, Flux applies the revert
//              (blocked until the bad revision's health check times out: spec.timeout)
//   rewindFast Rewind with policy.fastPath: native rollback while Flux is suspended, then the revert
// Each run gets a fresh sandbox, fleet and Redis prefix. Medians and ratios to native are reported.
// `--engine argo` measures the same on Argo CD Applications instead (mttr-argo.ts).
import { AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import { rollbackDeployment } from '../src/cluster/native-rollback.ts';
import { isTerminal } from '../src/domain/incident.ts';
import { ensureRedis } from '../src/demo/redis.ts';
import { DEPLOYMENT, KUSTOMIZATION, POD } from '../src/sandbox/resources.ts';
import { BROKEN_IMAGE_GLOB, createFleet, readyFor, waitForKustomization } from '../src/sandbox/scenario.ts';
import { deploymentComplete } from '../src/cluster/rollout-verdict.ts';
import { startSandbox } from '../src/sandbox/sandbox.ts';
import type { KubeObject } from '../src/sandbox/store.ts';
import { type BenchRewind, startBenchRewind } from './lib/bench-rewind.ts';
import { median, numberArg as arg, stringArg } from './lib/stats.ts';

const GOOD = 'ghcr.io/stefanprodan/podinfo:6.5.1';
const BAD = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';
type Mode = 'native' | 'rewind' | 'rewindFast';

interface RunResult {
  mode: Mode;
  /** Bad template applied -> Deployment complete on the good template again. */
  recoveredMs: number;
  /** Bad template applied -> Rewind's incident Converged (Flux applied the revert, verified). */
  convergedMs?: number;
  gitFixed: boolean;
}

function image(d: KubeObject): string {
  return d.spec?.template?.spec?.containers?.[0]?.image ?? '';
}

async function oneRun(
  mode: Mode,
  redisUrl: string,
  fluxTimeout: string,
  podReadyMs: number,
): Promise<RunResult> {
  const sandbox = await startSandbox({ podReadyMs, unreadyImages: [BROKEN_IMAGE_GLOB] });
  const fleet = await createFleet({ sandbox, timeout: fluxTimeout, replicas: 3 });
  let rewind: BenchRewind | undefined;
  try {
    if (mode !== 'native')
      rewind = await startBenchRewind({ sandbox, redisUrl, fastPath: mode === 'rewindFast' });
    const runtime = rewind?.runtime;
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(await fleet.head()));
    const good = await fleet.setPodinfoImage(GOOD);
    fleet.notifyPush();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(good));

    // Timestamps from the store's own event stream.
    let badAppliedAt = 0;
    let recoveredAt = 0;
    let firstFailingPodAt = 0;
    const stopWatch = sandbox.store.watch(DEPLOYMENT, (event) => {
      const d = event.object;
      if (d.metadata.name !== 'podinfo') return;
      if (!badAppliedAt && image(d) === BAD) badAppliedAt = performance.now();
      if (badAppliedAt && !recoveredAt && image(d) === GOOD && deploymentComplete(d))
        recoveredAt = performance.now();
    });
    const stopPods = sandbox.store.watch(POD, (event) => {
      const waiting = event.object.status?.containerStatuses?.[0]?.state?.waiting?.reason;
      if (!firstFailingPodAt && waiting === 'ImagePullBackOff') firstFailingPodAt = performance.now();
    });

    const bad = await fleet.setPodinfoImage(BAD);
    fleet.notifyPush();
    const deadline = Date.now() + 120_000;
    let convergedAt = 0;
    let nativeDone = false;
    while (Date.now() < deadline) {
      if (mode === 'native' && firstFailingPodAt && !nativeDone) {
        nativeDone = true;
        // flux suspend kustomization podinfo && kubectl rollout undo deployment/podinfo
        sandbox.store.mutate(KUSTOMIZATION, fleet.namespace, 'podinfo', (ks) => {
          ks.spec.suspend = true;
        });
        const kc = new KubeConfig();
        kc.loadFromFile(sandbox.kubeconfigPath);
        await rollbackDeployment(kc.makeApiClient(AppsV1Api), 'default', 'podinfo');
      }
      if (runtime && !convergedAt) {
        const record = (await runtime.incidents.list(10)).find((r) => r.badRevision === bad);
        const last = record?.conditions.at(-1);
        if (last && isTerminal(last.type)) {
          if (last.type !== 'Converged')
            throw new Error(`${mode}: incident ended ${last.type}: ${last.message}`);
          convergedAt = performance.now() - (Date.now() - Date.parse(last.at));
        }
      }
      if (recoveredAt && (mode === 'native' || convergedAt)) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    stopWatch();
    stopPods();
    if (!recoveredAt) throw new Error(`${mode}: did not recover within 120 s`);
    const podinfo = await fleet.work
      .fetch('origin')
      .then(() => fleet.work.raw(['show', 'origin/main:apps/base/podinfo/deployment.yaml']));
    return {
      mode,
      recoveredMs: Math.round(recoveredAt - badAppliedAt),
      ...(convergedAt ? { convergedMs: Math.round(convergedAt - badAppliedAt) } : {}),
      gitFixed: podinfo.includes(GOOD),
    };
  } finally {
    await rewind?.close();
    await sandbox.stop();
    await fleet.cleanup();
  }
}

export async function run(args: string[]): Promise<unknown> {
  const engine = stringArg(args, '--engine', 'flux');
  if (engine === 'argo') return (await import('./mttr-argo.ts')).run(args);
  if (engine !== 'flux') throw new Error(`unknown engine "${engine}": use flux (default) or argo`);
  const runs = arg(args, '--runs', 5);
  const fluxTimeoutSeconds = arg(args, '--flux-timeout', 5);
  // How long a simulated Pod takes to become Ready; real clusters take seconds (image pull, probes).
  const podReadyMs = arg(args, '--pod-ready-ms', 1000);
  const redis = await ensureRedis(process.env['REDIS_URL']);
  try {
    const results: RunResult[] = [];
    for (let i = 0; i < runs; i++) {
      // Interleave the modes so drift on a shared machine hits each alike.
      for (const mode of ['native', 'rewindFast', 'rewind'] as const) {
        results.push(await oneRun(mode, redis.url, `${fluxTimeoutSeconds}s`, podReadyMs));
      }
    }
    const by = (mode: Mode) => results.filter((r) => r.mode === mode);
    const summary = (mode: Mode) => ({
      recoveredMedianMs: median(by(mode).map((r) => r.recoveredMs)),
      ...(mode === 'native' ? {} : { convergedMedianMs: median(by(mode).map((r) => r.convergedMs ?? 0)) }),
      gitFixed: by(mode).every((r) => r.gitFixed),
      runsMs: by(mode).map((r) => (mode === 'native' ? r.recoveredMs : [r.recoveredMs, r.convergedMs])),
    });
    const native = summary('native');
    const fast = summary('rewindFast');
    const plain = summary('rewind');
    return {
      benchmark: 'mttr',
      runs,
      fluxHealthCheckTimeoutS: fluxTimeoutSeconds,
      gracePeriodS: 0,
      podReadyMs,
      note: 'recovered = bad template applied -> Deployment complete on the good template; converged = Rewind incident Converged (Flux applied the revert, ReplicaSet history verified)',
      native,
      rewindFast: fast,
      rewind: plain,
      ratios: {
        rewindFastRecoveredVsNative: Number((fast.recoveredMedianMs / native.recoveredMedianMs).toFixed(2)),
        rewindFastConvergedVsNative: Number(
          ((fast.convergedMedianMs ?? 0) / native.recoveredMedianMs).toFixed(2),
        ),
        rewindRecoveredVsNative: Number((plain.recoveredMedianMs / native.recoveredMedianMs).toFixed(2)),
      },
      node: process.version,
    };
  } finally {
    await redis.stop();
  }
}
