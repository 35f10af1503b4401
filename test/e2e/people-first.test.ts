// A person's roll-forward fix pushed while Flux is still health-checking the bad
// revision must win. Before the fix, Rewind pushed "restored ... to the last good revision" over it
// and called the incident Converged.
import { afterEach, describe, expect, it } from 'vitest';
import { POD } from '../../src/sandbox/resources.ts';
import { readyFor, waitForKustomization } from '../../src/sandbox/scenario.ts';
import { until } from '../helpers/wait.ts';
import { type Loop, startLoop } from '../helpers/loop.ts';

const BROKEN = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';
const FIX = 'ghcr.io/stefanprodan/podinfo:6.6.1';

describe('people come first, end to end (direct push)', () => {
  let loop: Loop | undefined;
  afterEach(async () => {
    await loop?.stop();
    loop = undefined;
  });

  it("is Superseded, pushes nothing and lets Flux apply a person's fix to the same line pushed during the grace period", async () => {
    loop = await startLoop({ policy: { gracePeriod: '2s' }, timeout: '4s' });
    const { sandbox, fleet } = loop;
    const good = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.5.1');
    fleet.notifyPush();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(good));

    const bad = await fleet.setPodinfoImage(BROKEN);
    fleet.notifyPush();
    // The bad revision's Pods fail (Rewind sees it and waits out its grace period) ...
    await until(
      () =>
        sandbox.store
          .list(POD, { namespace: 'default' })
          .some(
            (p) => p.spec.containers[0].image === BROKEN && p.status?.containerStatuses?.[0]?.state?.waiting,
          ),
      'a failing Pod of the bad revision',
    );
    // ... while a person fixes forward on the same line.
    const fix = await fleet.setPodinfoImage(FIX);
    fleet.notifyPush();

    const incident = await loop.finalIncident(bad);
    expect(incident.conditions.at(-1)).toMatchObject({ type: 'Superseded', reason: 'FixForward' });
    expect(incident.conditions.at(-1)?.message).toContain(fix.slice(0, 7));

    // Git: the person's fix is the head, untouched; Rewind wrote nothing.
    expect(await fleet.head()).toBe(fix);
    const log = await fleet.work.raw(['log', '--format=%B', 'origin/main']);
    expect(log).not.toContain('Rewind-Incident');
    // Flux applies the fix once the bad revision's health check times out.
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(fix), 60_000);
  }, 120_000);
});
