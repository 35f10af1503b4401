// An incident of a storm taken up after the shared revert already reached its app: the
// Deployment is back on its last-good ReplicaSet when Rewind records the templates. The bad
// template is then the one that rollback moved away from, not the Deployment's current one, or the
// verifier waits forever for the "bad" (good) ReplicaSet to go away.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeCluster, loadKubeConfig } from '../../src/cluster/kube.ts';
import { convergenceVerdict } from '../../src/cluster/rollout-verdict.ts';
import { templateImages } from '../../src/cluster/template.ts';
import { workloadsOf } from '../../src/pipeline/app-objects.ts';
import { deploymentKey, recordTemplates } from '../../src/pipeline/verify.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import { createFleet, type Fleet, readyFor, waitForKustomization } from '../../src/sandbox/scenario.ts';

const IMAGE = 'ghcr.io/stefanprodan/podinfo';
const APP = { engine: 'flux-kustomization', namespace: 'flux-system', name: 'podinfo' } as const;

let sandbox: Sandbox;
let fleet: Fleet;
let cluster: KubeCluster;
let scratch: string;

async function applied(sha: string): Promise<void> {
  fleet.notifyPush();
  await waitForKustomization(sandbox, 'flux-system', 'podinfo', readyFor(sha), 15_000);
}

beforeAll(async () => {
  sandbox = await startSandbox({ podReadyMs: 50 });
  fleet = await createFleet({ sandbox, timeout: '3s' });
  scratch = await mkdtemp(path.join(tmpdir(), 'rewind-late-incident-'));
  cluster = new KubeCluster(loadKubeConfig(sandbox.kubeconfigPath));
  await applied(await fleet.head());
});

afterAll(async () => {
  await sandbox?.stop();
  await fleet?.cleanup();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('templates of an incident recorded after the revert rolled out', () => {
  it('records the reverted-from template as bad and the reused ReplicaSet as last good, so it verifies', async () => {
    await applied(await fleet.setPodinfoImage(`${IMAGE}:6.6.0-broken`));
    const startedAt = new Date(Date.now() + 1).toISOString();
    await new Promise((r) => setTimeout(r, 20)); // the revert's ReplicaSet work happens after the start
    await applied(await fleet.setPodinfoImage(`${IMAGE}:6.5.0`));

    const deployments = await workloadsOf(cluster, APP);
    const templates = await recordTemplates(cluster, deployments, startedAt, true);
    const podinfo = deployments.find((d) => deploymentKey(d) === 'default/podinfo')!;
    const key = deploymentKey(podinfo);
    expect(templateImages(templates.lastGood[key]?.template)).toEqual([`${IMAGE}:6.5.0`]);
    expect(templateImages(templates.bad[key])).toEqual([`${IMAGE}:6.6.0-broken`]);

    const verdict = convergenceVerdict({
      deployment: podinfo,
      replicaSets: await cluster.replicaSetsOf(podinfo),
      lastGoodTemplate: templates.lastGood[key]!.template,
      lastGoodRsUid: templates.lastGood[key]!.rsUid!,
      incidentStartedAt: startedAt,
      badTemplate: templates.bad[key]!,
    });
    expect(verdict.state, verdict.reasons.join('; ')).toBe('converged');
  });
});
