// What a restart must not forget survives losing Redis. Budgets, the loop guard
// (an incident that ended NeedsHuman is not acted on again) and the per-app pause switch live on the
// app's Kustomization beside the durable incident.
import { afterEach, describe, expect, it } from 'vitest';
import { KUSTOMIZATION } from '../../src/sandbox/resources.ts';
import { readyFor, waitForKustomization } from '../../src/sandbox/scenario.ts';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import { isTerminal } from '../../src/domain/incident.ts';
import { until } from '../helpers/wait.ts';
import { type Loop, revertCommitsFor, startLoop } from '../helpers/loop.ts';

describe('durable memory across Redis loss', () => {
  let loop: Loop | undefined;
  afterEach(async () => {
    await loop?.stop();
    loop = undefined;
  });

  async function finalWith(
    l: Loop,
    bad: string,
    predicate: (r: IncidentRecord) => boolean,
  ): Promise<IncidentRecord> {
    let found: IncidentRecord | undefined;
    await until(
      async () => {
        found = (await l.runtime.incidents.list(50)).find(
          (r) => r.badRevision === bad && isTerminal(r.conditions.at(-1)!.type) && predicate(r),
        );
        return found !== undefined;
      },
      `a final incident for ${bad.slice(0, 7)}`,
      60_000,
      50,
    );
    return found!;
  }

  it('keeps budgets and the NeedsHuman loop guard on the app, and honours the pause annotation, after Redis loses every key', async () => {
    loop = await startLoop({
      policy: { budgets: { perHour: 1, perDay: 5, cooldown: '0s' } },
      detector: { resyncMs: 300, reofferMs: 300 },
    });
    const l = loop;
    const { sandbox, fleet } = l;
    const good = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.5.1');
    fleet.notifyPush();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(good));

    // One automatic rollback: the budget for this hour is used.
    const bad1 = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.6.0-broken');
    fleet.notifyPush();
    const first = await l.finalIncident(bad1);
    expect(first.conditions.at(-1)?.type).toBe('Converged');
    expect(await l.flushPrefix()).toBeGreaterThan(0);

    // Redis forgot it; the app did not.
    await fleet.work.raw(['pull', '--quiet', '--ff-only', 'origin', 'main']);
    const bad2 = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.7.0-broken');
    fleet.notifyPush();
    const second = await finalWith(l, bad2, () => true);
    expect(second.conditions.at(-1)).toMatchObject({ type: 'NeedsHuman', reason: 'BudgetExhausted' });

    // Lose Redis again while the app still fails (once the app has recorded the outcome, which
    // follows the record by a moment): the detector offers the same incident again, and Rewind
    // remembers that it needs a person instead of acting.
    await until(
      () =>
        (
          sandbox.store.get(KUSTOMIZATION, fleet.namespace, 'podinfo')?.metadata.annotations?.[
            'rewind.dev/ledger'
          ] ?? ''
        ).includes(second.id),
      'the NeedsHuman outcome on the app',
    );
    expect(await l.flushPrefix()).toBeGreaterThan(0);
    const again = await finalWith(l, bad2, (r) => (r.conditions.at(-1)?.message ?? '').includes('remembers'));
    expect(again.conditions.at(-1)).toMatchObject({ type: 'NeedsHuman', reason: 'BudgetExhausted' });
    expect(await revertCommitsFor(fleet, second.id)).toEqual([]);
    expect(await fleet.head()).toBe(bad2);

    // A person pauses Rewind for this app with kubectl annotate; a new failure is left alone.
    sandbox.store.mutate(KUSTOMIZATION, fleet.namespace, 'podinfo', (ks) => {
      ks.metadata.annotations = { ...ks.metadata.annotations, 'rewind.dev/paused': 'true' };
    });
    const bad3 = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.8.0-broken');
    fleet.notifyPush();
    const third = await finalWith(l, bad3, () => true);
    expect(third.conditions.at(-1)).toMatchObject({ type: 'Ignored', reason: 'Paused' });
    expect(await fleet.head()).toBe(bad3);
  }, 180_000);
});
