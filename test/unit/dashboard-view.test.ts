// What the dashboard may show of an incident record, and how it is configured.
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load.ts';
import { appRef } from '../../src/domain/app-ref.ts';
import { parseCommitSha } from '../../src/domain/commit-sha.ts';
import type { ConfigError } from '../../src/domain/errors.ts';
import { newIncident } from '../../src/domain/incident.ts';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import { displayRepoUrl, incidentView } from '../../src/server/dashboard/incident-view.ts';

const BAD = parseCommitSha('b'.repeat(40));

function record(details: Partial<IncidentRecord['details']>): IncidentRecord {
  const incident = newIncident({
    app: appRef('argo-application', 'argocd', 'web'),
    badRevision: BAD,
    reason: 'Degraded',
    message: 'degraded',
    at: new Date('2026-01-01T00:00:00Z'),
  });
  return {
    ...incident,
    culprit: BAD,
    details: { trigger: 'engine', dryRun: false, ...details },
    updatedAt: '2026-01-01T00:00:01Z',
  };
}

describe('the dashboard view of an incident', () => {
  it('shows repository URLs without credentials, whatever their shape', () => {
    const token = `ghp_${'a1B2'.repeat(9)}`;
    expect(displayRepoUrl(`https://x-access-token:${token}@github.com/o/r.git`)).toBe(
      'https://[REDACTED]@github.com/o/r.git',
    );
    expect(displayRepoUrl('https://opaque-token-123@git.example/o/r')).toBe(
      'https://[REDACTED]@git.example/o/r',
    );
    expect(displayRepoUrl(`https://github.com/o/r?access=${token}`)).not.toContain(token);
    expect(displayRepoUrl('ssh://git@github.com/o/r.git')).toBe('ssh://git@github.com/o/r.git');
    expect(displayRepoUrl('git@github.com:o/r.git')).toBe('git@github.com:o/r.git');
  });

  it('links commits next to an http(s) pull request, and never makes a link of another scheme', () => {
    const github = incidentView(
      record({
        pr: { number: 3, url: 'https://github.com/o/r/pull/3', branch: 'rewind/x' },
        revert: { kind: 'full', sha: 'c'.repeat(40) },
        merge: { sha: 'd'.repeat(40), method: 'squash' },
      }),
    );
    expect(github.pullRequest?.url).toBe('https://github.com/o/r/pull/3');
    expect(github.culprit?.url).toBe(`https://github.com/o/r/commit/${BAD}`);
    expect(github.revert?.url).toBe(`https://github.com/o/r/commit/${'c'.repeat(40)}`);
    expect(github.merge?.url).toBe(`https://github.com/o/r/commit/${'d'.repeat(40)}`);
    for (const url of [
      'javascript:alert(1)',
      'data:text/html,<b>x</b>',
      'https://u:p@github.com/o/r/pull/3',
    ]) {
      const view = incidentView(record({ pr: { number: 3, url, branch: 'b' } }));
      expect(view.pullRequest?.url, url).toBeNull();
      expect(view.culprit?.url, url).toBeNull();
    }
  });

  it('leaves out pod templates, hold state and reconcile tokens, and bounds long text', () => {
    const view = incidentView(
      record({
        culpritSubject: 'x'.repeat(10_000),
        reconcileToken: 'tok',
        hold: { suspended: true },
        templates: {} as never,
      }),
    );
    expect(Object.keys(view)).not.toContain('templates');
    expect(JSON.stringify(view)).not.toMatch(/reconcileToken|hold|templates/);
    expect(view.culprit?.subject?.length).toBeLessThanOrEqual(2001);
  });
});

describe('dashboard config', () => {
  it('is on by default, without a token', async () => {
    expect(parseConfig({}, { env: {} }).dashboard).toEqual({ enabled: true });
    expect((await loadConfig({ file: 'rewind.example.yaml', env: {} })).dashboard).toEqual({ enabled: true });
  });

  it('can be switched off from the file or REWIND_DASHBOARD_ENABLED', () => {
    expect(parseConfig({ dashboard: { enabled: false } }, { env: {} }).dashboard.enabled).toBe(false);
    expect(parseConfig({}, { env: { REWIND_DASHBOARD_ENABLED: 'false' } }).dashboard.enabled).toBe(false);
  });

  it('names the token by environment variable, which must be set', () => {
    const cfg = { dashboard: { tokenEnv: 'DASH_TOKEN' } };
    expect(parseConfig(cfg, { env: { DASH_TOKEN: 'secret' } }).dashboard).toEqual({
      enabled: true,
      tokenEnv: 'DASH_TOKEN',
    });
    try {
      parseConfig(cfg, { env: {} });
      expect.unreachable('a missing token variable is a config error');
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        { path: 'dashboard.tokenEnv', message: expect.stringContaining('DASH_TOKEN') },
      ]);
    }
  });
});
