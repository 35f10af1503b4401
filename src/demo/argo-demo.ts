// The Argo CD scenario of the demo: two Applications (web, api) with automated sync, prune and
// self-heal over one Git repository. A good deploy, then a bad commit that breaks web and also changes
// the healthy api; Rewind notices web's failing Pods (long before Argo's progress deadline), finds the
// commit, reverts only web's part, pushes, makes Argo refresh and sync at once, and the demo checks
// that Argo reports Synced + Healthy at the revert and web runs its original ReplicaSet again.
import {
  ARGO_CONTROL_NAMESPACE,
  argoDeployment,
  createArgoFleet,
  syncedAndHealthyAt,
  waitForApplication,
} from '../sandbox/argo-scenario.ts';
import { REPLICA_SET } from '../sandbox/resources.ts';
import { BROKEN_IMAGE_GLOB } from '../sandbox/scenario.ts';
import { type Sandbox, startSandbox } from '../sandbox/sandbox.ts';
import type { KubeObject } from '../sandbox/store.ts';
import { startDemoRewind } from './demo-rewind.ts';
import type { DemoScenario } from './demo-scenario.ts';
import { followIncident, reportIncident } from './incident-report.ts';

const REPLICAS = 3;

/** The ReplicaSet of a Deployment that has Pods wanted (the one serving). */
function activeReplicaSet(sandbox: Sandbox, namespace: string, deployment: string): KubeObject | undefined {
  return sandbox.store
    .list(REPLICA_SET, { namespace })
    .find((rs) => rs.metadata.name.startsWith(`${deployment}-`) && rs.spec?.replicas > 0);
}

export const argoDemo: DemoScenario = async ({ log, redis, forge, deadline, cleanups }) => {
  const sandbox = await startSandbox({ podReadyMs: 150, unreadyImages: [BROKEN_IMAGE_GLOB] });
  cleanups.push(() => sandbox.stop());
  log(
    `sandbox cluster   ${sandbox.url}   (kubectl --kubeconfig ${sandbox.kubeconfigPath} get applications,deploy,rs -A)`,
  );

  const fleet = await createArgoFleet({ sandbox, replicas: REPLICAS });
  cleanups.push(() => fleet.cleanup());
  const { runtime, sandboxForge } = await startDemoRewind({
    redis,
    kubeconfigPath: sandbox.kubeconfigPath,
    remote: fleet.remote,
    forge,
    log,
    cleanups,
  });

  const first = await fleet.head();
  for (const app of fleet.apps) await waitForApplication(sandbox, app, syncedAndHealthyAt(first));
  const good = await fleet.setImage('web', 'ghcr.io/example/web:1.1');
  fleet.notifyPush();
  await waitForApplication(sandbox, 'web', syncedAndHealthyAt(good));
  const goodRs = activeReplicaSet(sandbox, fleet.destination, 'web');
  log(
    `good deploy       ${good.slice(0, 7)} web:1.1 rolled out (Argo Synced + Healthy, ${REPLICAS}/${REPLICAS} Pods, ReplicaSet ${goodRs?.metadata.name})`,
  );

  const badAt = Date.now();
  const bad = await fleet.setImage(
    'web',
    'ghcr.io/example/web:2.0-broken',
    { 'apps/api/deployment.yaml': argoDeployment('api', 'ghcr.io/example/api:1.0', REPLICAS, 'b') },
    'Bump web to 2.0-broken, api to mode b',
  );
  fleet.notifyPush();
  log(
    `bad commit        ${bad.slice(0, 7)} "Bump web to 2.0-broken, api to mode b" (also changes the healthy api)`,
  );
  log('');
  log('timeline (seconds after the bad push)');

  const record = await followIncident(runtime.incidents, bad, badAt, log, deadline);
  log('');
  if (!record) return { ok: false, message: 'no incident reached a final state in time' };
  await reportIncident(record, log, sandboxForge);
  const status = record.conditions.at(-1);
  if (status?.type !== 'Converged') {
    return { ok: false, message: `${status?.type} ${status?.reason}: ${status?.message}` };
  }

  // Rewind's own verdict is in; show Argo's view and the ReplicaSet as a person would check them.
  const head = await fleet.head();
  let argoOk = true;
  try {
    const app = await waitForApplication(sandbox, 'web', syncedAndHealthyAt(head), 15_000);
    log(
      `argo              ${ARGO_CONTROL_NAMESPACE}/web Synced + Healthy at ${head.slice(0, 7)} (main, with the revert); automated sync ${JSON.stringify(app.spec?.syncPolicy?.automated)}`,
    );
  } catch (error) {
    argoOk = false;
    log(`argo              ${error instanceof Error ? error.message : String(error)}`);
  }
  const activeRs = activeReplicaSet(sandbox, fleet.destination, 'web');
  const sameRs = goodRs !== undefined && activeRs?.metadata.uid === goodRs.metadata.uid;
  log(
    `replicaset        web runs ${activeRs?.metadata.name ?? 'nothing'}${sameRs ? ' again (the ReplicaSet of the good deploy)' : `, not the good deploy's ${goodRs?.metadata.name}`}`,
  );
  const gitLog = await fleet.work.raw(['log', '--oneline', '-4', 'origin/main']);
  log('');
  log('git log (the revert is in Git, api keeps its change):');
  for (const line of gitLog.trim().split('\n')) log(`  ${line}`);

  if (!argoOk) return { ok: false, message: 'Argo CD did not report web Synced + Healthy at the revert' };
  if (!sameRs) return { ok: false, message: "web does not run the good deploy's ReplicaSet" };
  return {
    ok: true,
    message: `converged ${((Date.parse(status.at) - badAt) / 1000).toFixed(1)}s after the bad push`,
  };
};
