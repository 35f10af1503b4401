import { describe, expect, it } from 'vitest';
import { appKey, appLabel, appRefText, parseAppRef } from '../../src/domain/app-ref.ts';
import {
  buildRollbackMarker,
  isValidBranchName,
  parseRollbackMarker,
  parseRollbackMarkers,
  revertBranchFor,
  sanitizeRefComponent,
} from '../../src/domain/branch.ts';
import { parseCommitSha, shortSha } from '../../src/domain/commit-sha.ts';
import {
  ConfigError,
  GitError,
  InvalidInputError,
  redact,
  ShaNotInHistoryError,
} from '../../src/domain/errors.ts';
import {
  canTransition,
  incidentIdFor,
  newIncident,
  stageTimings,
  transition,
} from '../../src/domain/incident.ts';
import { branchOf, formatRevision, parseRevision, tryParseRevision } from '../../src/domain/revision.ts';
import { mulberry32 } from '../../src/sandbox/forge/faults.ts';

const SHA = '363a6a8fe6a7f13e05d34c163b0ef02a777da20a';
const SHA2 = 'd676e33990dc2865d67c022d26dea93d5e3236ff';

describe('revision parsing', () => {
  it.each([
    [`main@sha1:${SHA}`, 'main'],
    [`refs/heads/main@sha1:${SHA}`, 'refs/heads/main'],
    [`v1.0.0@sha1:${SHA}`, 'v1.0.0'],
    [`feature/x@sha1:${SHA}`, 'feature/x'],
    [`sha1:${SHA}`, undefined],
    [`main/${SHA}`, 'main'],
    [`feature/x/${SHA}`, 'feature/x'],
    [`HEAD/${SHA}`, undefined],
    [SHA, undefined],
    [SHA.toUpperCase(), undefined],
  ])('reads %s', (raw, ref) => {
    const revision = parseRevision(raw);
    expect(revision.sha).toBe(SHA);
    expect(revision.ref).toBe(ref);
  });

  it('refuses OCI digests, chart versions and short hashes with an explanation', () => {
    expect(tryParseRevision(`latest@sha256:${'a'.repeat(64)}`)).toBeUndefined();
    expect(tryParseRevision('6.3.5')).toBeUndefined();
    expect(tryParseRevision('main@sha1:abc123')).toBeUndefined();
    expect(() => parseRevision('1.2.3+abcdef123456')).toThrow(/expected "<branch>@sha1:<40 hex>"/);
  });

  it('gives the branch of a revision and formats it like Flux', () => {
    expect(branchOf(parseRevision(`refs/heads/main@sha1:${SHA}`))).toBe('main');
    expect(branchOf(parseRevision(`refs/tags/v1@sha1:${SHA}`))).toBeUndefined();
    expect(formatRevision(parseRevision(`main/${SHA}`))).toBe(`main@sha1:${SHA}`);
  });
});

describe('commit SHAs', () => {
  it('validates and shortens', () => {
    expect(parseCommitSha(` ${SHA.toUpperCase()} `)).toBe(SHA);
    expect(shortSha(parseCommitSha(SHA))).toBe('363a6a8');
    expect(() => parseCommitSha('--upload-pack=evil')).toThrow(InvalidInputError);
    expect(() => parseCommitSha('HEAD')).toThrow(/40 hexadecimal/);
  });
});

describe('app references', () => {
  it('prints a ref that names its engine and parses back to the same app (rewind status)', () => {
    for (const input of ['ks/flux-system/podinfo', 'app/argocd/web', 'hr/default/redis']) {
      const app = parseAppRef(input);
      expect(appRefText(app)).toBe(input);
      expect(parseAppRef(appRefText(app))).toEqual(app);
    }
    expect(appRefText(parseAppRef('flux-system/podinfo'))).toBe('ks/flux-system/podinfo');
  });

  it('parses user input with defaults and gives a key without colons', () => {
    const a = parseAppRef('flux-system/podinfo');
    expect(a).toEqual({ engine: 'flux-kustomization', namespace: 'flux-system', name: 'podinfo' });
    expect(parseAppRef('podinfo')).toEqual(a);
    expect(parseAppRef('hr/default/podinfo').engine).toBe('flux-helmrelease');
    expect(parseAppRef('guestbook', { engine: 'argo-application' }).namespace).toBe('argocd');
    expect(appKey(a)).toBe('ks.flux-system.podinfo');
    expect(appKey(a)).not.toContain(':');
    expect(appLabel(a)).toBe('flux-system/podinfo');
  });

  it('rejects names that are not Kubernetes names', () => {
    expect(() => parseAppRef('Flux System/podinfo')).toThrow(InvalidInputError);
    expect(() => parseAppRef('a/b/c/d')).toThrow(/expected \[engine\/\]/);
    expect(() => parseAppRef('zz/ns/name')).toThrow(/Unknown engine/);
  });
});

describe('incidents', () => {
  const app = parseAppRef('flux-system/podinfo');
  const bad = parseCommitSha(SHA);
  const t0 = new Date('2025-01-01T00:00:00Z');
  const at = (s: number) => new Date(t0.getTime() + s * 1000);

  it('has a deterministic id from app and bad revision', () => {
    expect(incidentIdFor(app, bad)).toBe('inc-ks.flux-system.podinfo-363a6a8fe6a7');
    expect(incidentIdFor(app, bad)).toBe(incidentIdFor(parseAppRef('podinfo'), bad));
  });

  it('moves forward through the conditions and records timings', () => {
    let inc = newIncident({
      app,
      badRevision: bad,
      failingSince: at(-10).toISOString(),
      reason: 'HealthCheckFailed',
      message: 'x',
      at: t0,
    });
    const steps = [
      'Located',
      'RevertPrepared',
      'PullRequestOpened',
      'Merged',
      'ReconcileRequested',
      'Converged',
    ] as const;
    steps.forEach((type, i) => {
      const r = transition(inc, { type, reason: 'R', message: 'm', at: at(i + 1) });
      if (!r.ok) throw r.error;
      expect(r.changed).toBe(true);
      inc = r.incident;
    });
    expect(inc.conditions.map((c) => c.type)).toEqual(['Detected', ...steps]);
    expect(stageTimings(inc)).toEqual({
      detect: 10000,
      locate: 1000,
      prepare: 1000,
      pullRequest: 1000,
      merge: 1000,
      reconcileRequest: 1000,
      converge: 1000,
      total: 16000,
    });
  });

  it('refuses illegal moves and treats repeats as no-ops', () => {
    const inc = newIncident({ app, badRevision: bad, reason: 'R', message: 'm', at: t0 });
    const skip = transition(inc, { type: 'Merged', reason: 'R', message: 'm', at: t0 });
    expect(skip.ok).toBe(false);
    if (!skip.ok) expect(skip.error.message).toMatch(/cannot move from Detected to Merged/);
    const again = transition(inc, { type: 'Detected', reason: 'R', message: 'm', at: t0 });
    expect(again.ok && !again.changed).toBe(true);
    const failed = transition(inc, { type: 'NeedsHuman', reason: 'RevertConflict', message: 'm', at: t0 });
    expect(failed.ok).toBe(true);
    if (failed.ok) {
      const after = transition(failed.incident, { type: 'Located', reason: 'R', message: 'm', at: t0 });
      expect(after.ok).toBe(false);
    }
    expect(canTransition('RevertPrepared', 'Merged')).toBe(true); // direct push
    expect(canTransition('Merged', 'Ignored')).toBe(false);
  });
});

describe('branches and PR markers', () => {
  const app = parseAppRef('flux-system/podinfo');
  it('names the revert branch after the app and the culprit', () => {
    expect(revertBranchFor(app, parseCommitSha(SHA))).toBe('rewind/flux-system/podinfo/363a6a8fe6a7');
  });

  it('sanitises components to valid refs', () => {
    const cutAtLock = `${'x'.repeat(95)}.lock.lock`; // the 100-character cut ends in `.lock`
    for (const raw of [
      '..a..b',
      '.hidden',
      'x.lock',
      'a b:c?d',
      '-flag',
      '~^',
      'a@{b',
      'a.lock-',
      cutAtLock,
    ]) {
      expect(isValidBranchName(`rewind/${sanitizeRefComponent(raw)}/x`)).toBe(true);
    }
    for (const bad of ['a..b', 'a/.b', 'a.lock', 'a//b', '/a', 'a/', 'a.', '@', 'a@{1}', 'a b', '-x']) {
      expect(isValidBranchName(bad)).toBe(false);
    }
  });

  it('round-trips the hidden marker and ignores forged ones', () => {
    const marker = { incident: incidentIdFor(app, parseCommitSha(SHA)), culprit: parseCommitSha(SHA2) };
    const body = `Reverting.\n\n${buildRollbackMarker(marker)}\n`;
    expect(parseRollbackMarker(body)).toEqual(marker);
    expect(parseRollbackMarkers('<!-- rewind:incident=$(rm) culprit=abc -->')).toEqual([]);
  });

  it('finds exactly the markers the former regex found, in bodies made of marker fragments', () => {
    // The former pattern, kept as the reference: right but quadratic, so only short bodies.
    const former = /<!--\s*rewind:incident=(\S+)\s+culprit=([0-9a-f]{40})\s*-->/g;
    // Each part of a marker, with its valid spellings first and near misses after.
    const parts = [
      ['<!--', '<!-', '<!--<!--', 'x<!--'],
      ['', ' ', '\n\t', '\u00a0', 'x'],
      ['rewind:incident=', 'rewind:incident', 'REWIND:incident='],
      [
        'inc-ks.flux-system.podinfo-363a6a8fe6a7',
        'inc-x-0123456789ab',
        'INC-x-0123456789ab',
        'inc-x-0123',
        '$(rm)',
        'inc-x-0123456789ab<!--',
      ],
      [' ', '\t', '\u2028 ', '', '-'],
      ['culprit=', 'culprit', 'culprit=='],
      [SHA, SHA2, SHA.slice(1), SHA.toUpperCase(), `${SHA}0`],
      ['', ' ', '\n'],
      ['-->', '->', '- ->'],
    ];
    const noise = ['', ' ', 'text ', '\n', '<!-- ', 'rewind:incident=', '-->'];
    const random = mulberry32(7);
    const oneOf = (options: readonly string[]): string => {
      // Mostly the valid spelling, so that many bodies carry real markers.
      const i = random() < 0.8 ? 0 : Math.floor(random() * options.length);
      return options[i]!;
    };
    let compared = 0;
    let withMarkers = 0;
    for (let i = 0; i < 5_000; i++) {
      let body = '';
      for (let m = Math.floor(random() * 4); m >= 0; m--) {
        body += oneOf(noise) + parts.map(oneOf).join('') + oneOf(noise);
      }
      const raw = [...body.matchAll(former)];
      // A marker nested inside another's token (`incident=junk<!--rewind:...`) is found now; the
      // former pattern swallowed it with the invalid outer one. Those bodies are not compared.
      if (raw.some((m) => m[1]?.includes('<!--'))) continue;
      const expected = raw
        .filter((m) => /^inc-[a-z0-9.-]+-[0-9a-f]{12}$/.test(m[1]!))
        .map((m) => ({ incident: m[1], culprit: m[2] }));
      expect(parseRollbackMarkers(body), body).toEqual(expected);
      compared++;
      if (expected.length > 0) withMarkers++;
    }
    expect(compared).toBeGreaterThan(4_500);
    expect(withMarkers).toBeGreaterThan(1_000);
    expect(withMarkers).toBeLessThan(compared);
  });
});

describe('errors and redaction', () => {
  it('scrubs every token shape', () => {
    const secrets = [
      `ghp_${'a'.repeat(36)}`,
      `ghs_${'B1'.repeat(20)}`,
      `github_pat_${'c'.repeat(22)}_${'d'.repeat(59)}`,
      'xoxb-123456789012-abcdefghijkl',
      'Bearer abcdefghijklmnop.qrs',
    ];
    for (const s of secrets) expect(redact(`token was ${s} here`)).not.toContain(s.slice(-10));
    expect(redact('https://user:hunter2@github.com/o/r.git')).toBe('https://[REDACTED]@github.com/o/r.git');
    expect(redact('https://x-access-token:ghs_abc@github.com/o/r')).not.toContain('ghs_abc');
    const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----';
    expect(redact(`key: ${pem}`)).not.toContain('MIIEow');
    expect(redact('commit 363a6a8 touched apps/podinfo')).toBe('commit 363a6a8 touched apps/podinfo');
  });

  it('carries codes, causes and actionable messages, redacted', () => {
    const cause = new Error('boom');
    const err = new GitError(
      'fetch failed',
      { command: 'fetch', stderr: `fatal: https://u:${'p'.repeat(9)}@h/x` },
      { cause },
    );
    expect(err.code).toBe('GIT_FAILED');
    expect(err.retryable).toBe(true);
    expect(err.cause).toBe(cause);
    expect(err.message).not.toContain('ppppppppp');
    expect(new ShaNotInHistoryError(SHA, 'bad').message).toMatch(/^SHA not in history/);
    const cfg = new ConfigError([{ path: 'policy.mode', message: 'use auto-merge' }]);
    expect(cfg.message).toContain('policy.mode: use auto-merge');
    expect(cfg.retryable).toBe(false);
  });
});

describe('redact() and the long stateless installation tokens', () => {
  it('removes a ghs_<app id>_<JWT> token whole', async () => {
    const { redact } = await import('../../src/domain/errors.ts');
    const jwt = `eyJhbGciOiJSUzI1NiJ9.${'eyJpc3MiOjEyMzQ1Njc4OX0'.repeat(10)}.${'sig-_'.repeat(40)}`;
    const token = `ghs_123456_${jwt}`;
    const out = redact(`push failed for https://x-access-token:${token}@github.com/o/r and token ${token}`);
    expect(out).not.toContain('eyJ');
    expect(out).not.toContain('sig-_');
  });
});
