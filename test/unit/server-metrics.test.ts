import { describe, expect, it } from 'vitest';
import { parseAppRef } from '../../src/domain/app-ref.ts';
import { parseCommitSha } from '../../src/domain/commit-sha.ts';
import type { ConditionType } from '../../src/domain/incident.ts';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import { RewindMetrics, routeLabel } from '../../src/server/metrics.ts';

function metrics(): RewindMetrics {
  return new RewindMetrics({
    queues: () => [],
    informers: () => undefined,
    detectorEnqueued: () => undefined,
    recentIncidents: async () => [],
  });
}

function record(steps: [ConditionType, string, number][]): IncidentRecord {
  const at = (s: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
  return {
    id: 'inc-1',
    app: parseAppRef('flux-system/podinfo'),
    badRevision: parseCommitSha('a'.repeat(40)),
    conditions: steps.map(([type, reason, s]) => ({ type, reason, message: '', at: at(s) })),
    details: { trigger: 'engine', dryRun: false },
    updatedAt: at(0),
  };
}

/** Values of one series of a metric (`_count`, `_sum` of a histogram, or the metric itself), by one label. */
async function series(
  m: RewindMetrics,
  name: string,
  suffix: string,
  by: string,
): Promise<Record<string, number>> {
  const values = (await m.registry.getSingleMetric(name)?.get())?.values ?? [];
  return Object.fromEntries(
    values
      // Histogram values name their series (`_bucket`, `_sum`, `_count`); prom-client does not type it.
      .filter((v) => ((v as { metricName?: string }).metricName ?? name) === `${name}${suffix}`)
      .map((v) => [String(v.labels[by]), v.value]),
  );
}

describe('metrics', () => {
  it('keeps route templates and folds expanded URLs (paginate, GitHub Enterprise) back into them', () => {
    expect(routeLabel('/repos/{owner}/{repo}/pulls')).toBe('/repos/{owner}/{repo}/pulls');
    expect(routeLabel('https://ghe.example.com/api/v3/repos/acme/fleet/pulls?head=x&per_page=100')).toBe(
      '/repos/{owner}/{repo}/pulls',
    );
    expect(routeLabel('https://api.github.com/repos/acme/fleet/issues/12/comments?page=2')).toBe(
      '/repos/{owner}/{repo}/issues/{issue_number}/comments',
    );
    expect(routeLabel('/repos/acme/fleet/pulls/7/reviews')).toBe(
      '/repos/{owner}/{repo}/pulls/{pull_number}/reviews',
    );
  });

  it('counts an outcome only on the transition that ended the incident, and does not observe stages again when it ends a second time', async () => {
    const m = metrics();
    const opened: [ConditionType, string, number][] = [
      ['Detected', 'HealthCheckFailed', 0],
      ['Located', 'SingleCommit', 2],
      ['RevertPrepared', 'Reverted', 3],
      ['PullRequestOpened', 'Opened', 4],
    ];
    m.incidentTransition(record(opened));
    expect(await series(m, 'rewind_incident_outcomes_total', '', 'outcome')).toEqual({});
    const refused: [ConditionType, string, number][] = [...opened, ['NeedsHuman', 'MergeRefused', 5]];
    m.incidentTransition(record(refused));
    // A person merged the pull request later: the incident goes on and ends again.
    m.incidentTransition(
      record([
        ...refused,
        ['Merged', 'MergedByPerson', 30],
        ['ReconcileRequested', 'Requested', 31],
        ['Converged', 'Converged', 40],
      ]),
    );

    expect(await series(m, 'rewind_incident_outcomes_total', '', 'outcome')).toEqual({
      NeedsHuman: 1,
      Converged: 1,
    });
    const stages = 'rewind_incident_stage_duration_seconds';
    expect(await series(m, stages, '_count', 'stage')).toEqual({
      locate: 1,
      prepare_revert: 1,
      open_pull_request: 1,
      merge: 1,
      request_reconcile: 1,
      converge: 1,
    });
    // Merged is measured from the pull request, the person's wait included.
    expect((await series(m, stages, '_sum', 'stage'))['merge']).toBe(26);
    expect(await series(m, 'rewind_incident_time_to_converge_seconds', '_count', 'engine')).toEqual({
      'flux-kustomization': 1,
    });
  });
});
