// A failure Rewind once let go because the app recovered during the grace period (flapping) is not
// forgotten for good: when the app fails again on the same revision, a new occurrence of the
// incident (`.r2`) gets its own grace period and rolls back. Before, the first incident's id was
// final and the app stayed broken (found by the fault campaign's flapping scenario).
import { afterEach, describe, expect, it } from 'vitest';
import { appRef } from '../../src/domain/app-ref.ts';
import { parseCommitSha } from '../../src/domain/commit-sha.ts';
import { incidentIdFor, isTerminal, newIncident } from '../../src/domain/incident.ts';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import { until } from '../helpers/wait.ts';
import { silentLogger } from '../../src/logging.ts';
import { IncidentRecorder } from '../../src/pipeline/incident-recorder.ts';
import { systemClock } from '../../src/pipeline/ports.ts';
import { readyFor, waitForKustomization } from '../../src/sandbox/scenario.ts';
import { type Loop, startLoop } from '../helpers/loop.ts';

describe('a failure that recovered once and fails again', () => {
  let loop: Loop | undefined;
  afterEach(async () => {
    await loop?.stop();
    loop = undefined;
  });

  it('opens the next occurrence of the incident and rolls back', async () => {
    loop = await startLoop();
    const { sandbox, fleet, runtime } = loop;
    const good = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.5.1');
    fleet.notifyPush();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(good));

    // Pushed, not yet fetched by Flux: an earlier incident for this very failure ended Recovered.
    const bad = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.6.0-broken');
    const app = appRef('flux-kustomization', fleet.namespace, 'podinfo');
    const firstId = incidentIdFor(app, parseCommitSha(bad));
    const first = {
      ...newIncident({
        app,
        badRevision: parseCommitSha(bad),
        goodRevision: parseCommitSha(good),
        reason: 'PodsFailing',
        message: 'failing',
        at: new Date(),
      }),
      id: firstId,
      details: { trigger: 'pods' as const, dryRun: false },
      updatedAt: new Date().toISOString(),
    };
    const created = await runtime.incidents.create(first);
    const stored = created.kind === 'saved' ? created.record : created.current;
    const deps = { incidents: runtime.incidents, clock: systemClock, log: silentLogger() };
    await new IncidentRecorder(stored, deps).stop('Ignored', 'Recovered', 'The Pods recovered.');
    fleet.notifyPush();

    const secondId = firstId.replace(/-([0-9a-f]{12})$/, '.r2-$1');
    let incident: IncidentRecord | undefined;
    await until(
      async () => {
        incident = await runtime.incidents.get(secondId);
        return incident !== undefined && isTerminal(incident.conditions.at(-1)!.type);
      },
      `incident ${secondId} to end`,
      60_000,
      50,
    );
    expect(incident!.conditions.at(-1)?.type).toBe('Converged');
    expect((await runtime.incidents.get(firstId))?.conditions.at(-1)?.reason).toBe('Recovered');
  }, 120_000);
});
