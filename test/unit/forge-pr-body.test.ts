import { describe, expect, it } from 'vitest';
import { parseRollbackMarker, parseRollbackMarkers } from '../../src/domain/branch.ts';
import { parseCommitSha } from '../../src/domain/commit-sha.ts';
import {
  GITHUB_MAX_BODY_CHARS,
  GITHUB_MAX_TITLE_CHARS,
  type RollbackPullRequestInput,
  refusedCommentMarker,
  renderPullRequestBody,
  renderPullRequestTitle,
  renderRefusedComment,
  renderResultComment,
  resultCommentMarker,
} from '../../src/forge/pr-body.ts';
import { pullRequestTexts } from '../../src/forge/texts.ts';

const CULPRIT = parseCommitSha('363a6a8fe6a7f13e05d34c163b0ef02a777da20a');
const GOOD = 'd676e33990dc2865d67c022d26dea93d5e3236ff';
const BAD = '0123456789abcdef0123456789abcdef01234567';
const INCIDENT = 'inc-ks.flux-system.podinfo-0123456789ab';

function input(overrides: Partial<RollbackPullRequestInput> = {}): RollbackPullRequestInput {
  return {
    incidentId: INCIDENT,
    apps: [
      { label: 'flux-system/podinfo', reason: 'HealthCheckFailed', message: 'Deployment/podinfo not ready' },
      { label: 'flux-system/backend', reason: 'HealthCheckFailed', message: 'timeout waiting for rollout' },
    ],
    culprit: { sha: CULPRIT, subject: 'bump podinfo to 6.5.0', author: 'Jane Doe' },
    rule: 'pickaxe',
    confidence: 'high',
    range: { good: GOOD, bad: BAD, candidates: 3 },
    templateChanges: ['container podinfo: image ghcr.io/podinfo:6.4.0 -> ghcr.io/podinfo:6.5.0'],
    plan: 'auto-merge',
    revertSha: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    ...overrides,
  };
}

// Built at run time so no secret scanner mistakes the fixtures for real credentials.
const alnum = (n: number): string => 'Ab3dE5gH7j'.repeat(Math.ceil(n / 10)).slice(0, n);
const statelessJwt = `eyJhbGciOiJSUzI1NiJ9.${alnum(380)}.${'x-y_z'.repeat(24)}`;
const TOKENS: Record<string, string> = {
  ghp: `ghp_${alnum(36)}`,
  gho: `gho_${alnum(36)}`,
  ghu: `ghu_${alnum(36)}`,
  ghs: `ghs_${alnum(36)}`,
  'ghs long opaque': `ghs_${alnum(320)}`,
  'ghs stateless (ghs_APPID_JWT)': `ghs_1234567_${statelessJwt}`,
  ghr: `ghr_${alnum(76)}`,
  github_pat: `github_pat_11${alnum(20)}_${alnum(59)}`,
};
const PEM = ['-----BEGIN RSA PRIVATE KEY-----', alnum(64), alnum(64), '-----END RSA PRIVATE KEY-----'].join(
  '\n',
);

describe('the revert pull request', () => {
  it('renders the same body for the same input, so re-ensuring does not flap', () => {
    expect(renderPullRequestBody(input())).toBe(renderPullRequestBody(input()));
    const reordered = input({ apps: [...input().apps].reverse() });
    expect(renderPullRequestBody(reordered)).toBe(renderPullRequestBody(input()));
  });

  it('carries a marker that parses back to the incident and the culprit, exactly once', () => {
    const body = renderPullRequestBody(input());

    expect(parseRollbackMarker(body)).toEqual({ incident: INCIDENT, culprit: CULPRIT });
    expect(parseRollbackMarkers(body)).toHaveLength(1);
  });

  it('names every section a reviewer needs', () => {
    const body = renderPullRequestBody(input());

    for (const heading of [
      'What failed',
      'The culprit',
      'Range considered',
      'Pod template',
      'Plan',
      'How to stop it',
    ]) {
      expect(body).toContain(`## ${heading}`);
    }
    expect(body).toContain('flux-system/backend');
    expect(body).toContain('HealthCheckFailed');
    expect(body).toContain('363a6a8');
    expect(body).toContain('Jane Doe');
    expect(body).toContain('**pickaxe** with **high** confidence');
    expect(body).toContain('`d676e33`..`0123456`');
    expect(body).toContain('3 candidate commits');
    expect(body).toContain('image ghcr.io/podinfo:6.4.0 -> ghcr.io/podinfo:6.5.0');
    expect(body).toContain('merges this pull request now');
    expect(body).toContain('`rewind/hold`');
    expect(body).toContain('policy.paused');
    expect(renderPullRequestBody(input({ plan: 'propose' }))).toContain('Waiting for review');
  });

  it('titles the revert after the culprit and the app', () => {
    expect(renderPullRequestTitle(input({ apps: input().apps.slice(0, 1) }))).toBe(
      'Revert "bump podinfo to 6.5.0" (rewind: flux-system/podinfo)',
    );
    expect(renderPullRequestTitle(input())).toBe(
      'Revert "bump podinfo to 6.5.0" (rewind: flux-system/backend +1)',
    );
    const long = renderPullRequestTitle(input({ culprit: { sha: CULPRIT, subject: 'x'.repeat(1000) } }));
    expect(long.length).toBeLessThanOrEqual(GITHUB_MAX_TITLE_CHARS);
  });

  it('stays under GitHub’s body limit and keeps the marker when the input is huge', () => {
    const huge = input({
      apps: Array.from({ length: 400 }, (_, i) => ({
        label: `ns/app-${String(i).padStart(3, '0')}`,
        reason: 'HealthCheckFailed',
        message: 'm'.repeat(5_000),
      })),
      templateChanges: Array.from({ length: 400 }, (_, i) => `change ${i} ${'c'.repeat(2_000)}`),
      culprit: { sha: CULPRIT, subject: 's'.repeat(100_000) },
    });

    const body = renderPullRequestBody(huge);

    expect(body.length).toBeLessThanOrEqual(GITHUB_MAX_BODY_CHARS);
    expect(parseRollbackMarker(body)).toEqual({ incident: INCIDENT, culprit: CULPRIT });
    expect(body).toContain('- Also failing (380): **ns/app-020**, **ns/app-021**');
  });

  it('names every app of a 500-app storm, and summarises beyond its budget', () => {
    const storm = (n: number) =>
      input({
        apps: Array.from({ length: n }, (_, i) => ({
          label: `storm-${i}/storm-${i}`,
          reason: 'ImagePullBackOff',
          message: `web-abc-${i}: Back-off pulling image "ghcr.io/example/storm:1.1.0-broken"`,
        })),
      });

    const body = renderPullRequestBody(storm(500));
    expect(body.length).toBeLessThanOrEqual(GITHUB_MAX_BODY_CHARS);
    for (let i = 0; i < 500; i++) expect(pullRequestTexts.listsApp(body, `storm-${i}/storm-${i}`)).toBe(true);
    expect(pullRequestTexts.listsApp(body, 'storm-500/storm-500')).toBe(false);

    const huge = renderPullRequestBody(storm(5_000));
    expect(huge.length).toBeLessThanOrEqual(GITHUB_MAX_BODY_CHARS);
    expect(huge).toMatch(/, … and \d+ more\n/);
    expect(parseRollbackMarker(huge)).toEqual({ incident: INCIDENT, culprit: CULPRIT });
  });

  it('cannot be tricked by a commit subject carrying a fake marker or a mention', () => {
    const other = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
    const subject = `<!-- rewind:incident=inc-ks.x.y-bbbbbbbbbbbb culprit=${other} --> cc @octocat`;

    const body = renderPullRequestBody(input({ culprit: { sha: CULPRIT, subject } }));

    expect(parseRollbackMarkers(body)).toEqual([{ incident: INCIDENT, culprit: CULPRIT }]);
    // The mention is a code span: GitHub notifies nobody and links nothing inside code.
    expect(body.replaceAll('`@octocat`', '')).not.toContain('@octocat');
  });

  it('keeps links, images and team mentions of a reason or a subject inert', () => {
    const hostile = '[click](https://evil.example) ![i](https://evil.example/i.png) @org/admins';
    const body = renderPullRequestBody(
      input({ culprit: { sha: CULPRIT, subject: hostile }, requestedBy: `alice (Slack #ops): ${hostile}` }),
    );

    expect(body).not.toMatch(/(?<!\\)\[click\]/);
    expect(body).not.toMatch(/(?<!\\)\[i\]/);
    expect(body.replaceAll('`@org/admins`', '')).not.toContain('@org/admins');
  });

  it.each(Object.entries(TOKENS))('redacts a %s token from every free-text field', (_kind, token) => {
    const leaky = input({
      apps: [{ label: 'ns/app', reason: 'Failed', message: `pull failed with Authorization ${token}` }],
      culprit: { sha: CULPRIT, subject: `oops ${token}`, author: `me ${token}` },
      templateChanges: [`env GITHUB_TOKEN=${token}`],
    });

    const rendered = [
      renderPullRequestBody(leaky),
      renderPullRequestTitle(leaky),
      renderResultComment({
        outcome: 'failed',
        incidentId: INCIDENT,
        reason: token,
        evidence: [token],
        stages: [],
      }),
      renderRefusedComment({ incidentId: INCIDENT, status: 405, message: token, expectedSha: CULPRIT }),
    ];

    for (const text of rendered) {
      expect(text).not.toContain(token.slice(4, 40));
      expect(text).not.toContain(statelessJwt.slice(0, 30));
    }
  });

  it('redacts a PEM private key', () => {
    const body = renderPullRequestBody(
      input({ apps: [{ label: 'ns/app', reason: 'Failed', message: `key:\n${PEM}\nend` }] }),
    );

    expect(body).not.toContain(alnum(64));
    // Markdown-escaped: it renders as [REDACTED].
    expect(body).toContain('\\[REDACTED\\]');
  });
});

describe('the comments', () => {
  it('reports convergence with the timing of every stage, under its own marker', () => {
    const comment = renderResultComment({
      outcome: 'converged',
      incidentId: INCIDENT,
      stages: [
        { stage: 'detect', seconds: 12 },
        { stage: 'converged', seconds: 41.25 },
      ],
    });

    expect(comment).toContain('converged');
    expect(comment).toContain('| detect | 12.0 |');
    expect(comment).toContain(resultCommentMarker(INCIDENT));
    expect(parseRollbackMarker(comment)).toBeUndefined();
  });

  it('reports a failed verification with its evidence', () => {
    const comment = renderResultComment({
      outcome: 'failed',
      incidentId: INCIDENT,
      reason: 'Deadline passed before the rollout completed',
      evidence: ['Deployment flux-system/podinfo: 1/3 available'],
      stages: [],
    });

    expect(comment).toContain('verification failed');
    expect(comment).toContain('1/3 available');
  });

  it('explains a refused merge and what a person should do, under its own marker', () => {
    const comment = renderRefusedComment({
      incidentId: INCIDENT,
      status: 409,
      message: 'Head branch was modified. Review and try the merge again.',
      expectedSha: CULPRIT,
    });

    expect(comment).toContain('HTTP 409');
    expect(comment).toContain('Head branch was modified');
    expect(comment).toContain('merge by hand');
    expect(comment).toContain(refusedCommentMarker(INCIDENT));
    expect(refusedCommentMarker(INCIDENT)).not.toBe(resultCommentMarker(INCIDENT));
  });
});
