// /metrics after a real incident converged through a pull request on the sandbox forge, read by a
// real Prometheus text-format parser: every family has HELP and a TYPE (none `untyped`), the outcome
// counter says Converged once, each stage histogram holds that one incident, and the forge and git
// calls the incident made are counted.
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logging.ts';
import { type Runtime, startRuntime } from '../../workers/runtime.ts';
import { type Loop, startLoop } from '../helpers/loop.ts';

const BROKEN = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';

/**
 * The `_count` series of a histogram as a counter family. parse-prometheus-text-format 1.1.1 folds
 * every labelled series of a histogram into one and drops their labels and counts (its
 * flattenMetrics), so the counts are given to the same parser as a family of their own.
 */
function histogramCounts(text: string, name: string): ParsedFamily | undefined {
  const lines = text
    .split('\n')
    .filter((line) => line.startsWith(`${name}_count{`) || line.startsWith(`${name}_count `));
  return parsePrometheusTextFormat(
    [`# HELP ${name}_count count`, `# TYPE ${name}_count counter`, ...lines, ''].join('\n'),
  )[0];
}

const total = (family: ParsedFamily | undefined, labels: Record<string, string> = {}): number =>
  (family?.metrics ?? [])
    .filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    .reduce((sum, m) => sum + Number(m.value ?? m.count ?? 0), 0);

/** Samples of one counter in a runtime's registry, summed over the labels that match. */
async function counted(runtime: Runtime, name: string, labels: Record<string, string>): Promise<number> {
  const values = (await runtime.metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
  return values
    .filter((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value))
    .reduce((sum, v) => sum + v.value, 0);
}

describe('/metrics', () => {
  let loop: Loop | undefined;
  let second: Runtime | undefined;
  afterEach(async () => {
    await second?.close();
    await loop?.stop();
    second = undefined;
    loop = undefined;
  });

  it('exposes every family typed, with the converged incident counted once, its stages observed and its forge and git calls counted', async () => {
    loop = await startLoop({ forge: {} });
    const bad = await loop.fleet.setPodinfoImage(BROKEN);
    loop.fleet.notifyPush();
    const incident = await loop.finalIncident(bad);
    expect(incident.conditions.map((c) => c.type)).toEqual([
      'Detected',
      'Located',
      'RevertPrepared',
      'PullRequestOpened',
      'Merged',
      'ReconcileRequested',
      'Converged',
    ]);

    const response = await fetch(`${new URL(loop.webhookUrl!).origin}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const families = parsePrometheusTextFormat(text);
    const byName = new Map(families.map((f) => [f.name, f]));
    for (const family of families) {
      expect(family.type, family.name).not.toBe('UNTYPED');
      expect(family.help, family.name).not.toBe('');
    }
    expect([...byName.keys()]).toEqual(
      expect.arrayContaining([
        'rewind_incident_stage_duration_seconds',
        'rewind_incident_time_to_converge_seconds',
        'rewind_incident_outcomes_total',
        'rewind_forge_requests_total',
        'rewind_forge_request_duration_seconds',
        'rewind_git_commands_total',
        'rewind_git_command_duration_seconds',
        'rewind_queue_jobs',
        'rewind_incidents',
        'rewind_informer_seconds_since_event',
        'rewind_informer_seconds_since_sync',
        'rewind_informer_connected',
        'rewind_informer_lists_total',
        'rewind_detector_enqueued_total',
        'process_cpu_seconds_total',
        'nodejs_eventloop_lag_seconds',
      ]),
    );

    const engine = 'flux-kustomization';
    const outcomes = byName.get('rewind_incident_outcomes_total');
    expect(total(outcomes, { engine, outcome: 'Converged' })).toBe(1);
    expect(total(outcomes)).toBe(1);
    expect(byName.get('rewind_incident_stage_duration_seconds')?.type).toBe('HISTOGRAM');
    const stages = histogramCounts(text, 'rewind_incident_stage_duration_seconds');
    for (const stage of [
      'locate',
      'prepare_revert',
      'open_pull_request',
      'merge',
      'request_reconcile',
      'converge',
    ])
      expect(total(stages, { engine, stage }), stage).toBe(1);
    expect(total(histogramCounts(text, 'rewind_incident_time_to_converge_seconds'), { engine })).toBe(1);

    // Route templates, never expanded URLs.
    const forge = byName.get('rewind_forge_requests_total');
    expect(total(forge, { method: 'POST', route: '/repos/{owner}/{repo}/pulls' })).toBeGreaterThan(0);
    expect(total(forge, { method: 'PUT', route: '/repos/{owner}/{repo}/pulls/{pull_number}/merge' })).toBe(1);
    expect(forge?.metrics.map((m) => m.labels?.['route']).filter((r) => r?.includes('fleet'))).toEqual([]);
    expect(total(histogramCounts(text, 'rewind_forge_request_duration_seconds'))).toBe(total(forge));
    // Subcommands only: no argument (URL, ref, path) ever becomes a label.
    const git = byName.get('rewind_git_commands_total');
    expect(total(git, { command: 'fetch', result: 'ok' })).toBeGreaterThan(0);
    expect(total(git, { command: 'push', result: 'ok' })).toBeGreaterThan(0);
    expect(git?.metrics.every((m) => /^[a-z][a-z0-9-]*$/.test(m.labels?.['command'] ?? ''))).toBe(true);

    const queues = byName.get('rewind_queue_jobs');
    expect(new Set(queues?.metrics.map((m) => m.labels?.['queue']))).toEqual(new Set(['rollback', 'verify']));
    expect(total(byName.get('rewind_detector_enqueued_total'))).toBeGreaterThanOrEqual(1);
    expect(total(byName.get('rewind_informer_connected'), { resource: 'deployments' })).toBe(1);
    expect(total(byName.get('rewind_incidents'), { condition: 'Converged' })).toBe(1);
  });

  it('counts the outcome once when two processes share the incident jobs', async () => {
    loop = await startLoop({ forge: {} });
    // A second installation process on the same Redis prefix: it takes rollback and verify jobs too.
    second = await startRuntime({
      config: loop.config,
      roles: ['rollback', 'verifier'],
      log: silentLogger(),
      env: loop.env,
      verifyIntervalMs: 100,
      lockDurationMs: 3000,
      github: { minWriteGapMs: 20, retryBaseDelayMs: 20, retryAfterBaseMs: 20 },
    });
    const bad = await loop.fleet.setPodinfoImage(BROKEN);
    loop.fleet.notifyPush();
    expect((await loop.finalIncident(bad)).conditions.at(-1)?.type).toBe('Converged');
    const converged = { engine: 'flux-kustomization', outcome: 'Converged' };
    const name = 'rewind_incident_outcomes_total';
    expect((await counted(loop.runtime, name, converged)) + (await counted(second, name, converged))).toBe(1);
  });
});
