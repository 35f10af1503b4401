// A Deployment someone paused while Rewind acts, on Flux: the revert reaches the Deployment, but a
// paused Deployment keeps its Progressing condition at DeploymentPaused, so Flux's health check
// (kstatus) waits on it as InProgress. Rewind says so at once instead of waiting for its deadline.
import { afterEach, describe, expect, it } from 'vitest';
import { DEPLOYMENT } from '../../src/sandbox/resources.ts';
import { readyFor, waitForKustomization } from '../../src/sandbox/scenario.ts';
import { type Loop, startLoop } from '../helpers/loop.ts';
import { until } from '../helpers/wait.ts';
import { pauseOnceDetected } from '../helpers/pause-rollout.ts';

const BROKEN = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';
/** Well past the test's own waits: ending at it (Failed/VerifyTimeout) is what the old code did. */
const VERIFY_TIMEOUT_S = 40;

describe('a Deployment paused while Rewind acts (Flux)', () => {
  let loop: Loop | undefined;
  afterEach(async () => {
    await loop?.stop();
    loop = undefined;
  });

  it('ends NeedsHuman/DeploymentPaused once Flux is at the revert, naming who paused it and how to resume', async () => {
    loop = await startLoop({ policy: { gracePeriod: '3s', verifyTimeout: `${VERIFY_TIMEOUT_S}s` } });
    const { sandbox, fleet, runtime } = loop;
    const good = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.5.1');
    fleet.notifyPush();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(good));

    const bad = await fleet.setPodinfoImage(BROKEN);
    fleet.notifyPush();
    await pauseOnceDetected(runtime.incidents, sandbox.kubeconfigPath, bad, {
      namespace: 'default',
      name: 'podinfo',
    });
    const started = Date.now();
    const incident = await loop.finalIncident(bad, (VERIFY_TIMEOUT_S + 20) * 1000);
    expect(incident.conditions.at(-1), JSON.stringify(incident.conditions)).toMatchObject({
      type: 'NeedsHuman',
      reason: 'DeploymentPaused',
    });
    const message = incident.conditions.at(-1)!.message;
    expect(message).toContain('Deployment default/podinfo is paused');
    expect(message).toContain('field manager "kubectl-rollout"');
    expect(message).toContain('kubectl rollout resume deployment/podinfo -n default');
    expect(Date.now() - started).toBeLessThan((VERIFY_TIMEOUT_S * 1000) / 2);
    // Flux applies the revert (the pause is kubectl-rollout's field, which its apply keeps).
    const podinfo = () => sandbox.store.get(DEPLOYMENT, 'default', 'podinfo')!;
    await until(
      () => podinfo().spec.template.spec.containers[0].image === 'ghcr.io/stefanprodan/podinfo:6.5.1',
      'the revert applied to the paused Deployment',
    );
    expect(podinfo().spec.paused).toBe(true);
  }, 120_000);
});
