// Rewind's own reverts never open incidents of their own. While Flux rolls the revert out, the
// Kustomization's attempted revision is the revert and the bad ReplicaSet's Pods still fail for a
// moment: the detector used to open (and count as enqueued) a phantom incident for the revert
// revision, which then ended Ignored/Recovered.
import { afterEach, describe, expect, it } from 'vitest';
import { readyFor, waitForKustomization } from '../../src/sandbox/scenario.ts';
import { type Loop, revertCommitsFor, startLoop } from '../helpers/loop.ts';

const BROKEN = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';

describe("Rewind's own reverts", () => {
  let loop: Loop | undefined;
  afterEach(async () => {
    await loop?.stop();
    loop = undefined;
  });

  it('open no incident and are not counted as enqueued', async () => {
    loop = await startLoop();
    const { sandbox, fleet, runtime } = loop;
    const bad = await fleet.setPodinfoImage(BROKEN);
    fleet.notifyPush();
    const incident = await loop.finalIncident(bad);
    expect(incident.conditions.at(-1)?.type).toBe('Converged');
    const [revert] = await revertCommitsFor(fleet, incident.id);
    expect(revert).toBeDefined();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(revert!));
    // The detector re-evaluates the app on every change; let the rollout's last changes reach it.
    await new Promise((r) => setTimeout(r, 2_000));

    const records = await runtime.incidents.list(50);
    expect(records.filter((r) => r.badRevision === revert).map((r) => r.id)).toEqual([]);
    expect(records.map((r) => r.id)).toEqual([incident.id]);
    expect(runtime.detector?.stats.enqueued).toBe(1);
  });
});
