// MTTR on Argo CD (`npm run bench -- mttr --engine argo`): time from "bad revision applied" (web's
// Deployment template turns bad) to "recovered" (Deployment complete on the good template again), on
// the sample Argo fleet (Applications with automated sync, prune and self-heal), for:
//   native     what an SRE does without Rewind, `argocd app rollback` equivalent: at the first failing
//              Pod, automated sync off (merge-patch spec.syncPolicy.automated to null; Argo refuses a
//              rollback while it is on), then `operation.sync` to the previous history entry's revision
//              and source (what Argo CD's API server sets for a Rollback); Git keeps the
//              bad commit and the app stays OutOfSync with automated sync off
//   rewind     Rewind, default policy: revert in Git, hard refresh + sync operation, Argo applies it
//   rewindFast Rewind with policy.fastPath: automated sync off, native rollback, revert, sync back on
// Each run gets a fresh sandbox, fleet and Redis prefix. Medians and ratios to native are reported.
import { deploymentComplete } from '../src/cluster/rollout-verdict.ts';
import { ensureRedis } from '../src/demo/redis.ts';
import { isTerminal } from '../src/domain/incident.ts';
import {
  ARGO_CONTROL_NAMESPACE,
  createArgoFleet,
  syncedAndHealthyAt,
  waitForApplication,
} from '../src/sandbox/argo-scenario.ts';
import { APPLICATION, DEPLOYMENT, POD } from '../src/sandbox/resources.ts';
import { BROKEN_IMAGE_GLOB } from '../src/sandbox/scenario.ts';
import { type Sandbox, startSandbox } from '../src/sandbox/sandbox.ts';
import type { KubeObject } from '../src/sandbox/store.ts';
import { type BenchRewind, startBenchRewind } from './lib/bench-rewind.ts';
import { median, numberArg } from './lib/stats.ts';

const GOOD = 'ghcr.io/example/web:1.1';
const BAD = 'ghcr.io/example/web:2.0-broken';
type Mode = 'native' | 'rewind' | 'rewindFast';

interface RunResult {
  mode: Mode;
  /** Bad template applied -> Deployment complete on the good template again. */
  recoveredMs: number;
  /** Bad template applied -> Rewind's incident Converged (Argo synced the revert, verified). */
  convergedMs?: number;
  gitFixed: boolean;
}

function image(d: KubeObject): string {
  return d.spec?.template?.spec?.containers?.[0]?.image ?? '';
}

/**
 * `argocd app set web --sync-policy none` then `argocd app rollback web` (no ID: history[len-2]).
 * Returns false while the bad sync is not yet in the history (the server's rollback would pick the
 * wrong entry, or refuse while an operation is running); the caller tries again.
 */
function nativeArgoRollback(sandbox: Sandbox, name: string, bad: string): boolean {
  const app = sandbox.store.get(APPLICATION, ARGO_CONTROL_NAMESPACE, name);
  const history: { revision?: string; source?: unknown }[] = app?.status?.history ?? [];
  const previous = history.at(-2);
  if (!app || app['operation'] !== undefined || history.at(-1)?.revision !== bad || !previous?.revision)
    return false;
  sandbox.store.mutate(APPLICATION, ARGO_CONTROL_NAMESPACE, name, (object) => {
    object.spec.syncPolicy = { ...object.spec.syncPolicy, automated: null };
  });
  sandbox.store.mutate(APPLICATION, ARGO_CONTROL_NAMESPACE, name, (object) => {
    object['operation'] = {
      initiatedBy: { username: 'admin' },
      sync: { revision: previous.revision, source: previous.source, syncStrategy: { apply: {} } },
    };
  });
  return true;
}

async function oneRun(mode: Mode, redisUrl: string, podReadyMs: number): Promise<RunResult> {
  const sandbox = await startSandbox({ podReadyMs, unreadyImages: [BROKEN_IMAGE_GLOB] });
  const fleet = await createArgoFleet({ sandbox, replicas: 3 });
  let rewind: BenchRewind | undefined;
  try {
    const first = await fleet.head();
    for (const app of fleet.apps) await waitForApplication(sandbox, app, syncedAndHealthyAt(first));
    if (mode !== 'native')
      rewind = await startBenchRewind({ sandbox, redisUrl, fastPath: mode === 'rewindFast' });
    const runtime = rewind?.runtime;
    const good = await fleet.setImage('web', GOOD);
    fleet.notifyPush();
    await waitForApplication(sandbox, 'web', syncedAndHealthyAt(good));

    // Timestamps from the store's own event stream.
    let badAppliedAt = 0;
    let recoveredAt = 0;
    let firstFailingPodAt = 0;
    const stopWatch = sandbox.store.watch(DEPLOYMENT, (event) => {
      const d = event.object;
      if (d.metadata.name !== 'web') return;
      if (!badAppliedAt && image(d) === BAD) badAppliedAt = performance.now();
      if (badAppliedAt && !recoveredAt && image(d) === GOOD && deploymentComplete(d))
        recoveredAt = performance.now();
    });
    const stopPods = sandbox.store.watch(POD, (event) => {
      const waiting = event.object.status?.containerStatuses?.[0]?.state?.waiting?.reason;
      if (!firstFailingPodAt && waiting === 'ImagePullBackOff') firstFailingPodAt = performance.now();
    });

    const bad = await fleet.setImage('web', BAD);
    fleet.notifyPush();
    const deadline = Date.now() + 120_000;
    let convergedAt = 0;
    let nativeDone = false;
    while (Date.now() < deadline) {
      if (mode === 'native' && firstFailingPodAt && !nativeDone) {
        nativeDone = nativeArgoRollback(sandbox, 'web', bad);
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
    await fleet.head(); // fetches
    const web = await fleet.work.raw(['show', 'origin/main:apps/web/deployment.yaml']);
    return {
      mode,
      recoveredMs: Math.round(recoveredAt - badAppliedAt),
      ...(convergedAt ? { convergedMs: Math.round(convergedAt - badAppliedAt) } : {}),
      gitFixed: web.includes(GOOD),
    };
  } finally {
    await rewind?.close();
    await sandbox.stop();
    await fleet.cleanup();
  }
}

export async function run(args: string[]): Promise<unknown> {
  const runs = numberArg(args, '--runs', 5);
  // How long a simulated Pod takes to become Ready; real clusters take seconds (image pull, probes).
  const podReadyMs = numberArg(args, '--pod-ready-ms', 1000);
  const redis = await ensureRedis(process.env['REDIS_URL']);
  try {
    const results: RunResult[] = [];
    for (let i = 0; i < runs; i++) {
      // Interleave the modes so drift on a shared machine hits each alike.
      for (const mode of ['native', 'rewindFast', 'rewind'] as const) {
        results.push(await oneRun(mode, redis.url, podReadyMs));
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
      engine: 'argo',
      runs,
      gracePeriodS: 0,
      podReadyMs,
      note: 'recovered = bad template applied -> Deployment complete on the good template; converged = Rewind incident Converged (Argo synced the revert, ReplicaSet history verified); native = automated sync off + sync to history[len-2] (argocd app rollback)',
      native,
      rewindFast: fast,
      rewind: plain,
      ratios: {
        rewindFastRecoveredVsNative: Number((fast.recoveredMedianMs / native.recoveredMedianMs).toFixed(2)),
        rewindFastConvergedVsNative: Number(
          ((fast.convergedMedianMs ?? 0) / native.recoveredMedianMs).toFixed(2),
        ),
        rewindRecoveredVsNative: Number((plain.recoveredMedianMs / native.recoveredMedianMs).toFixed(2)),
        rewindConvergedVsNative: Number(
          ((plain.convergedMedianMs ?? 0) / native.recoveredMedianMs).toFixed(2),
        ),
      },
      node: process.version,
    };
  } finally {
    await redis.stop();
  }
}
