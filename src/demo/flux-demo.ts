// The Flux scenario of the demo: a sample Flux fleet (podinfo through a kustomize base, frontend
// plain). A good deploy, then a bad commit that breaks podinfo and also touches the healthy frontend;
// Rewind detects it, finds the commit, reverts only podinfo's part, pushes, makes Flux apply it at
// once, and proves podinfo is back on its last-good ReplicaSet.
import {
  BROKEN_IMAGE_GLOB,
  createFleet,
  frontendDeployment,
  readyFor,
  waitForKustomization,
} from '../sandbox/scenario.ts';
import { startSandbox } from '../sandbox/sandbox.ts';
import { startDemoRewind } from './demo-rewind.ts';
import type { DemoScenario } from './demo-scenario.ts';
import { followIncident, reportIncident } from './incident-report.ts';

export const fluxDemo: DemoScenario = async ({ log, redis, forge, deadline, cleanups }) => {
  const sandbox = await startSandbox({ podReadyMs: 150, unreadyImages: [BROKEN_IMAGE_GLOB] });
  cleanups.push(() => sandbox.stop());
  log(
    `sandbox cluster   ${sandbox.url}   (kubectl --kubeconfig ${sandbox.kubeconfigPath} get deploy,rs,ks -A)`,
  );

  const fleet = await createFleet({ sandbox, timeout: '5s', replicas: 3 });
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
  await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(first));
  const good = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.5.1');
  fleet.notifyPush();
  await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(good));
  log(`good deploy       ${good.slice(0, 7)} podinfo:6.5.1 rolled out (Flux Ready, 3/3 Pods)`);

  const badAt = Date.now();
  const bad = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.6.0-broken', {
    'apps/frontend/deployment.yaml': frontendDeployment('ghcr.io/example/frontend:1.0.0', 3, 'green'),
  });
  fleet.notifyPush();
  log(`bad commit        ${bad.slice(0, 7)} "Bump podinfo to 6.6.0-broken" (also changes frontend's theme)`);
  log('');
  log('timeline (seconds after the bad push)');

  const record = await followIncident(runtime.incidents, bad, badAt, log, deadline);
  log('');
  if (!record) return { ok: false, message: 'no incident reached a final state in time' };
  await reportIncident(record, log, sandboxForge);
  await fleet.head(); // fetches
  const gitLog = await fleet.work.raw(['log', '--oneline', '-4', 'origin/main']);
  log('');
  log('git log (the revert is in Git, frontend keeps its change):');
  for (const line of gitLog.trim().split('\n')) log(`  ${line}`);
  const status = record.conditions.at(-1);
  return status?.type === 'Converged'
    ? {
        ok: true,
        message: `converged ${((Date.parse(status.at) - badAt) / 1000).toFixed(1)}s after the bad push`,
      }
    : { ok: false, message: `${status?.type} ${status?.reason}: ${status?.message}` };
};
