// Which apps fail: this app's Pods (the early signal), and the other apps on the same source, so one
// revert can serve every app a culprit broke.
import type { AppRef } from '../../domain/app-ref.ts';
import { appRef } from '../../domain/app-ref.ts';
import { workloadsOf } from '../app-objects.ts';
import { failingPodsOf } from '../detect.ts';
import type { PodFailure } from '../pod-signals.ts';
import type { RollbackContext, RollbackDeps } from './context.ts';

export async function failingPodsOfApp(deps: RollbackDeps, app: AppRef): Promise<PodFailure[]> {
  const failures: PodFailure[] = [];
  for (const deployment of await workloadsOf(deps.cluster, app)) {
    const replicaSets = await deps.cluster.replicaSetsOf(deployment);
    const pods = (await Promise.all(replicaSets.map((rs) => deps.cluster.podsOf(rs)))).flat();
    failures.push(
      ...failingPodsOf({ deployment, replicaSets, pods }, deps.config.detection.restartThreshold),
    );
  }
  return failures;
}

export interface OtherApp {
  readonly app: AppRef;
  readonly label: string;
  readonly path: string;
  readonly reason: string;
  readonly message: string;
}

/** Other apps of the same engine on the same source: which fail too (one revert for all) and which are healthy. */
export async function otherAppsOnSource(
  ctx: RollbackContext,
): Promise<{ failing: OtherApp[]; healthy: OtherApp[] }> {
  const { deps, engine, app, bad } = ctx;
  const verdicts = (await deps.cluster.list(engine.kind)).flatMap((object) => {
    const namespace = object.metadata?.namespace ?? '';
    const name = object.metadata?.name ?? '';
    if (namespace === app.namespace && name === app.name) return [];
    const source = engine.sourceRefOf(object);
    if (!source || source.key !== ctx.source.key) return [];
    const verdict = engine.assess(object);
    const entry: OtherApp = {
      app: appRef(engine.id, namespace, name),
      label: `${namespace}/${name}`,
      path: source.path,
      reason: verdict.reason,
      message: verdict.message,
    };
    return [{ object, verdict, entry }];
  });
  // Asked together: in an incident storm hundreds of apps are still rolling out the bad revision.
  const checked = await Promise.all(
    verdicts.map(async ({ object, verdict, entry }) => {
      if (verdict.state === 'failed') return { entry, failing: true };
      // Still rolling out the same bad revision, with failing Pods: failing too (the engine has not
      // said so yet only because its health check has not timed out).
      const pods =
        verdict.state === 'progressing' && engine.attemptedRevision(object)?.sha === bad
          ? await failingPodsOfApp(deps, entry.app)
          : [];
      const [first] = pods;
      return first
        ? {
            entry: { ...entry, reason: first.reason, message: `${first.pod}: ${first.message}` },
            failing: true,
          }
        : { entry, failing: false };
    }),
  );
  const failing = checked.filter((c) => c.failing).map((c) => c.entry);
  const healthy = checked.filter((c) => !c.failing).map((c) => c.entry);
  return { failing, healthy };
}
