// Every way an incident ends is a Kubernetes Event on the app object (`kubectl describe` shows how
// Rewind's incident ended next to Flux's own events): Ignored (observe mode, a ChatOps cancel),
// Superseded. Converged is asserted by rollback-loop.test.ts, NeedsHuman (job boundary and
// `rewind rollback`) by incident-job-boundary.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import { EVENT } from '../../src/sandbox/resources.ts';
import { type Loop, startLoop } from '../helpers/loop.ts';
import { until } from '../helpers/wait.ts';

const BROKEN = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';

describe('outcome Events', () => {
  let loop: Loop | undefined;
  afterEach(async () => {
    await loop?.stop();
    loop = undefined;
  });

  async function outcomeEvent(incidentId: string): Promise<Record<string, unknown>> {
    const find = () =>
      loop!.sandbox.store
        .list(EVENT, { namespace: loop!.fleet.namespace, fieldSelector: 'involvedObject.name=podinfo' })
        .find((e) => String(e['message']).includes(incidentId));
    await until(() => find() !== undefined, `the outcome Event of ${incidentId}`, 10_000);
    return find()!;
  }

  async function openIncident(bad: string): Promise<IncidentRecord> {
    let record: IncidentRecord | undefined;
    await until(
      async () => {
        record = (await loop!.runtime.incidents.list(10)).find((r) => r.badRevision === bad);
        return record !== undefined;
      },
      'the incident to be opened',
      30_000,
    );
    return record!;
  }

  it('Ignored (observe mode) is a Normal RollbackIgnored Event', async () => {
    loop = await startLoop({ policy: { mode: 'observe' } });
    const bad = await loop.fleet.setPodinfoImage(BROKEN);
    loop.fleet.notifyPush();
    const incident = await loop.finalIncident(bad);
    expect(incident.conditions.at(-1)).toMatchObject({ type: 'Ignored', reason: 'ObserveOnly' });
    expect(await outcomeEvent(incident.id)).toMatchObject({ type: 'Normal', reason: 'RollbackIgnored' });
  });

  it('Ignored (cancelled from chat while Rewind waits) is a RollbackIgnored Event', async () => {
    loop = await startLoop({ policy: { gracePeriod: '1m', verifyTimeout: '2m' } });
    const bad = await loop.fleet.setPodinfoImage(BROKEN);
    loop.fleet.notifyPush();
    const { id } = await openIncident(bad);
    const reply = await loop.runtime.chatops.slack.execute(
      { kind: 'cancel', incident: id },
      { kind: 'slack', userId: 'U0TEST', userName: 'wanda', teamId: 'T0TEST' },
      { kind: 'slack', teamId: 'T0TEST', channelId: 'C0TEST', channelName: 'ops', requestId: 'r1' },
    );
    expect(reply).toContain('is cancelled');
    expect(await outcomeEvent(id)).toMatchObject({ type: 'Normal', reason: 'RollbackIgnored' });
  });

  it('Superseded (a newer revision before Rewind acted) is a RollbackSuperseded Event', async () => {
    loop = await startLoop({ policy: { gracePeriod: '8s' } });
    const bad = await loop.fleet.setPodinfoImage(BROKEN);
    loop.fleet.notifyPush();
    await openIncident(bad);
    // Someone pushes another change during the grace period (broken too, so it is not a recovery).
    await loop.fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.7.0-broken');
    loop.fleet.notifyPush();
    const incident = await loop.finalIncident(bad);
    expect(incident.conditions.at(-1)?.type).toBe('Superseded');
    expect(await outcomeEvent(incident.id)).toMatchObject({ type: 'Normal', reason: 'RollbackSuperseded' });
  });
});
