// A bad revision the engine never applied (kustomize build fails on a resource that does not exist):
// the workloads never changed, so verifying the revert needs no ReplicaSet change. Flux Ready at
// the revert with the Deployments on the templates they had at detection is the proof.
import { afterEach, describe, expect, it } from 'vitest';
import { DEPLOYMENT, KUSTOMIZATION, REPLICA_SET } from '../../src/sandbox/resources.ts';
import { readyFor, waitForKustomization } from '../../src/sandbox/scenario.ts';
import { silentLogger } from '../../src/logging.ts';
import { type Runtime, startRuntime } from '../../workers/runtime.ts';
import { type Loop, revertCommitsFor, startLoop } from '../helpers/loop.ts';
import { until } from '../helpers/wait.ts';

/**
 * The verify deadline. Measured on 2 cores: the incident ends Converged 1.5-2 s after the bad push
 * when idle, 3.2-3.5 s with two CPU hogs; the test allows half the deadline. Waiting for a
 * ReplicaSet change instead ends Failed/VerifyTimeout at this deadline (about 20.5 s after the push),
 * which the test must see as such, not as its own timeout.
 */
const VERIFY_TIMEOUT_S = 20;
/** Detection, culprit search and the revert (measured: under 1 s idle) plus the deadline, with margin. */
const FINAL_WAIT_MS = (VERIFY_TIMEOUT_S + 25) * 1000;

/** podinfo at 6.5.1 (after 6.5.0), then a commit whose kustomize build fails; returns its SHA. */
async function pushBuildFailure(loop: Loop): Promise<{ bad: string; goodRsUid: string; started: number }> {
  const { sandbox, fleet } = loop;
  // A second template in the history: the last-good template before 6.5.1 is 6.5.0, which the app
  // must not be taken back to.
  const good = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.5.1');
  fleet.notifyPush();
  await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(good));
  const [goodRs] = runningPodinfo(loop);
  expect(goodRs?.spec.template.spec.containers[0].image).toBe('ghcr.io/stefanprodan/podinfo:6.5.1');
  // Kubernetes timestamps have whole seconds: the incident starts in a later second than every
  // ReplicaSet so far, as it does when the last good deploy is not seconds old.
  const newest = Math.max(
    ...sandbox.store
      .list(REPLICA_SET, { namespace: 'default' })
      .map((rs) => Date.parse(rs.metadata.creationTimestamp!)),
  );
  await until(() => Date.now() >= newest + 1000, 'a new second', 5_000);
  const started = Date.now();
  const bad = await fleet.commit('Add the missing manifest to podinfo', {
    'apps/base/podinfo/kustomization.yaml': 'resources:\n  - deployment.yaml\n  - missing.yaml\n',
  });
  fleet.notifyPush();
  return { bad, goodRsUid: goodRs!.metadata.uid!, started };
}

function runningPodinfo(loop: Loop) {
  return loop.sandbox.store
    .list(REPLICA_SET, { namespace: 'default' })
    .filter((rs) => rs.metadata.name.startsWith('podinfo-') && rs.spec.replicas > 0);
}

/** Flux applied Rewind's revert, and podinfo never left its ReplicaSet. */
async function expectRevertAppliedOnUnchangedWorkloads(loop: Loop, incidentId: string, goodRsUid: string) {
  const { sandbox, fleet } = loop;
  const reverts = await revertCommitsFor(fleet, incidentId);
  expect(reverts).toHaveLength(1);
  const ks = sandbox.store.get(KUSTOMIZATION, fleet.namespace, 'podinfo')!;
  expect(ks.status.lastAppliedRevision).toBe(`main@sha1:${reverts[0]}`);
  expect(runningPodinfo(loop).map((rs) => rs.metadata.uid)).toEqual([goodRsUid]);
  expect(sandbox.store.get(DEPLOYMENT, 'default', 'podinfo')!.status.availableReplicas).toBe(2);
}

describe('a revision whose build failed before anything was applied', () => {
  let loop: Loop | undefined;
  let verifier: Runtime | undefined;
  afterEach(async () => {
    await verifier?.close();
    verifier = undefined;
    await loop?.stop();
    loop = undefined;
  });

  it(
    'Flux BuildFailed (a missing resource in kustomization.yaml): the revert converges at once, with the workloads unchanged',
    async () => {
      loop = await startLoop({ policy: { verifyTimeout: `${VERIFY_TIMEOUT_S}s` } });
      const { bad, goodRsUid, started } = await pushBuildFailure(loop);
      const incident = await loop.finalIncident(bad, FINAL_WAIT_MS);
      const elapsedMs = Date.now() - started;
      console.info(`[unapplied-revision] bad push to ${incident.conditions.at(-1)?.type}: ${elapsedMs} ms`);

      expect(incident.conditions.at(-1), JSON.stringify(incident.conditions)).toMatchObject({
        type: 'Converged',
        reason: 'WorkloadsUnchanged',
      });
      expect(incident.details.healthReason).toBe('BuildFailed');
      expect(incident.details.unapplied).toBe(true);
      expect(incident.culprit).toBe(bad);
      // Well before the deadline: nothing waited for a rollout.
      expect(elapsedMs).toBeLessThan((VERIFY_TIMEOUT_S * 1000) / 2);
      await expectRevertAppliedOnUnchangedWorkloads(loop, incident.id, goodRsUid);
    },
    FINAL_WAIT_MS + 30_000,
  );

  it(
    'keeps knowing the bad revision was never applied when Redis is lost and the verifier starts later (a restart mid-verify)',
    async () => {
      loop = await startLoop({
        policy: { verifyTimeout: `${VERIFY_TIMEOUT_S}s` },
        roles: ['detector', 'rollback'],
        detector: { resyncMs: 300, reofferMs: 300 },
      });
      const l = loop;
      const { bad, goodRsUid } = await pushBuildFailure(l);
      const current = async () => (await l.runtime.incidents.list(50)).find((r) => r.badRevision === bad);
      await until(
        async () => (await current())?.conditions.at(-1)?.type === 'ReconcileRequested',
        'the reconcile request',
        FINAL_WAIT_MS,
      );
      expect((await current())?.details.unapplied).toBe(true);

      // Redis loses every key. The detector resumes the incident from the app object's annotation
      // when it next looks at the app (not within reofferMs of its last offer): at Flux's next
      // reconcile, which `flux reconcile ks podinfo` brings forward here, as often as Flux would on
      // a short spec.interval.
      expect(await l.flushPrefix()).toBeGreaterThan(0);
      await until(
        async () => {
          if ((await current())?.conditions.at(-1)?.type === 'ReconcileRequested') return true;
          l.sandbox.store.mutate(KUSTOMIZATION, l.fleet.namespace, 'podinfo', (ks) => {
            ks.metadata.annotations = {
              ...ks.metadata.annotations,
              'reconcile.fluxcd.io/requestedAt': new Date().toISOString(),
            };
          });
          return false;
        },
        'the incident resumed from the app object',
        FINAL_WAIT_MS,
        500,
      );
      verifier = await startRuntime({
        config: l.config,
        roles: ['verifier'],
        log: silentLogger(),
        env: l.env,
        verifyIntervalMs: 100,
        lockDurationMs: 3000,
      });
      const incident = await l.finalIncident(bad, FINAL_WAIT_MS);
      expect(incident.conditions.at(-1), JSON.stringify(incident.conditions)).toMatchObject({
        type: 'Converged',
        reason: 'WorkloadsUnchanged',
      });
      await expectRevertAppliedOnUnchangedWorkloads(l, incident.id, goodRsUid);
    },
    3 * FINAL_WAIT_MS,
  );
});
