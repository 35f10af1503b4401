import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/config/duration.ts';
import { effectivePolicy, loadConfig, parseConfig } from '../../src/config/load.ts';
import { parseAppRef } from '../../src/domain/app-ref.ts';
import { ConfigError } from '../../src/domain/errors.ts';

function problemsOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  throw new Error('expected a ConfigError');
}

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
async function writeTemp(text: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rewind-config-'));
  dirs.push(dir);
  const file = path.join(dir, 'rewind.yaml');
  await writeFile(file, text);
  return file;
}

describe('durations', () => {
  it('reads Go/Prometheus-style durations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('30 sec')).toBeUndefined();
    expect(parseDuration('10')).toBeUndefined();
  });
});

describe('config', () => {
  it('applies every default from an empty file', () => {
    const config = parseConfig({}, { env: {} });
    expect(config.redis).toEqual({
      url: 'redis://127.0.0.1:6379',
      prefix: '{rewind}',
      incidentRetentionMs: 30 * 24 * 3_600_000,
    });
    expect(config.leaderElection).toEqual({
      enabled: true,
      namespace: 'rewind-system',
      name: 'rewind-detector',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    });
    expect(config.git.author).toEqual({ name: 'Rewind', email: 'rewind@example.invalid' });
    expect(config.forge).toEqual({ type: 'direct-push' });
    expect(config.policy).toEqual({
      mode: 'auto-merge',
      gracePeriodMs: 30_000,
      dryRun: false,
      paused: false,
      budgets: { perHour: 2, perDay: 5, cooldownMs: 600_000 },
      maxCulpritAgeMs: 7 * 86_400_000,
      suspendWhilePending: false,
      fastPath: false,
      reviewTimeoutMs: 86_400_000,
      verifyTimeoutMs: 300_000,
    });
  });

  it('lets REWIND_<PATH> variables override the file', () => {
    const config = parseConfig(
      { policy: { mode: 'observe' } },
      {
        env: {
          REWIND_REDIS_URL: 'redis://redis:6380',
          REWIND_REDIS_PREFIX: 'rw',
          REWIND_POLICY_MODE: 'auto-merge',
          REWIND_POLICY_GRACEPERIOD: '2m',
          REWIND_POLICY_DRYRUN: 'true',
          REWIND_POLICY_BUDGETS_PERHOUR: '1',
          REWIND_GIT_WORKDIR: '/var/lib/rewind',
          REWIND_KUBERNETES_KUBECONFIG: '/tmp/kc',
          REWIND_KUBERNETES_NAMESPACES: 'apps, flux-system',
        },
      },
    );
    expect(config.redis).toMatchObject({ url: 'redis://redis:6380', prefix: 'rw' });
    expect(config.policy.mode).toBe('auto-merge');
    expect(config.policy.gracePeriodMs).toBe(120_000);
    expect(config.policy.dryRun).toBe(true);
    expect(config.policy.budgets.perHour).toBe(1);
    expect(config.git.workdir).toBe('/var/lib/rewind');
    expect(config.kubernetes).toEqual({ kubeconfig: '/tmp/kc', namespaces: ['apps', 'flux-system'] });
  });

  it('reports every problem at once, with key paths and what to do', () => {
    const problems = problemsOf(() =>
      parseConfig(
        {
          redis: { prefx: 'x' },
          policy: { mode: 'yolo', gracePeriod: 30 },
          apps: [{ namespace: 'flux-system' }],
          forge: { type: 'gitlab' },
        },
        { env: { REWIND_POLICY_DRYRUN: 'maybe' } },
      ),
    );
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p.message]));
    expect(byPath['redis.prefx']).toMatch(/unknown key; did you mean "prefix"\?/);
    expect(byPath['policy.mode']).toMatch(/must be one of auto-merge, propose, observe, got "yolo"/);
    expect(byPath['policy.gracePeriod']).toMatch(/expected string, got number 30/);
    expect(byPath['apps[0].name']).toMatch(/is required/);
    expect(byPath['forge.type']).toMatch(/direct-push, github/);
    expect(byPath['policy.dryRun']).toMatch(
      /REWIND_POLICY_DRYRUN="maybe" is not a boolean; use true or false/,
    );
  });

  it('normalises durations and reports bad ones with their path', () => {
    const problems = problemsOf(() =>
      parseConfig(
        { policy: { gracePeriod: '30 sec' }, apps: [{ name: 'podinfo', budgets: { cooldown: 'soon' } }] },
        { env: {} },
      ),
    );
    expect(problems.map((p) => p.path)).toEqual(['policy.gracePeriod', 'apps[0].budgets.cooldown']);
    expect(problems[0]?.message).toMatch(/write it like 30s, 2m/);
  });

  it('applies cross-field rules', () => {
    const problems = problemsOf(() =>
      parseConfig(
        {
          policy: { mode: 'propose', budgets: { perHour: 9 } },
          apps: [{ name: 'podinfo' }, { name: 'podinfo' }],
          git: { credentials: { tokenEnv: 'GIT_TOKEN' } },
        },
        { env: {} },
      ),
    );
    const paths = problems.map((p) => p.path);
    expect(paths).toContain('policy.budgets.perHour');
    expect(paths).toContain('apps[1]');
    expect(paths).toContain('policy.mode');
    expect(problems.find((p) => p.path === 'git.credentials.tokenEnv')?.message).toMatch(
      /GIT_TOKEN .* is not set/,
    );
  });

  it('checks the leader-election timings as client-go does, and hash-tagged prefixes', () => {
    const problems = problemsOf(() =>
      parseConfig(
        {
          leaderElection: { leaseDuration: '1500ms', renewDeadline: '2s', retryPeriod: '2s' },
          redis: { prefix: '{a}b' },
        },
        { env: {} },
      ),
    );
    expect(problems.map((p) => p.path).sort()).toEqual(['redis.prefix']);
    const timing = problemsOf(() =>
      parseConfig(
        { leaderElection: { leaseDuration: '1500ms', renewDeadline: '2s', retryPeriod: '2s' } },
        { env: {} },
      ),
    );
    expect(timing.map((p) => p.path).sort()).toEqual([
      'leaderElection.leaseDuration',
      'leaderElection.renewDeadline',
      'leaderElection.retryPeriod',
    ]);
    expect(parseConfig({ redis: { prefix: '{rw}' } }, { env: {} }).redis.prefix).toBe('{rw}');
  });

  it('gives the HTTP listener its defaults and refuses limits Node or the probes cannot work with', () => {
    expect(parseConfig({}, { env: {} }).server).toEqual({
      host: '0.0.0.0',
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 1000,
      probeReserve: 10,
    });
    const problems = problemsOf(() =>
      parseConfig(
        { server: { headersTimeout: '40s', keepAliveTimeout: '0s', maxConnections: 10, probeReserve: 10 } },
        { env: {} },
      ),
    );
    expect(problems.map((p) => p.path).sort()).toEqual([
      'server.headersTimeout',
      'server.keepAliveTimeout',
      'server.probeReserve',
    ]);
  });

  it('gives the effective policy of an app, most specific entry last', () => {
    const config = parseConfig(
      {
        policy: { mode: 'auto-merge', budgets: { perHour: 1, perDay: 3 } },
        apps: [
          { name: 'podinfo', mode: 'observe', gracePeriod: '1m' },
          { name: 'podinfo', namespace: 'apps', budgets: { perDay: 4 }, paused: true },
          { name: 'other', dryRun: true },
        ],
      },
      { env: {} },
    );
    const p = effectivePolicy(config, parseAppRef('apps/podinfo'));
    expect(p.mode).toBe('observe');
    expect(p.gracePeriodMs).toBe(60_000);
    expect(p.budgets).toEqual({ perHour: 1, perDay: 4, cooldownMs: 600_000 });
    expect(p.paused).toBe(true);
    expect(effectivePolicy(config, parseAppRef('flux-system/podinfo')).paused).toBe(false);
    expect(effectivePolicy(config, parseAppRef('flux-system/unlisted'))).toEqual(config.policy);
  });

  it('a global pause cannot be lifted per app', () => {
    const config = parseConfig(
      { policy: { paused: true }, apps: [{ name: 'podinfo', paused: false }] },
      { env: {} },
    );
    expect(effectivePolicy(config, parseAppRef('podinfo')).paused).toBe(true);
  });

  it('loads YAML files and points at the line of a syntax error', async () => {
    const good = await writeTemp('policy:\n  mode: observe\n  gracePeriod: 45s\n');
    const config = await loadConfig({ file: good, env: {} });
    expect(config.policy.mode).toBe('observe');
    expect(config.policy.gracePeriodMs).toBe(45_000);

    const bad = await writeTemp('policy:\n  mode: observe\n   gracePeriod: [45s\n');
    await expect(loadConfig({ file: bad, env: {} })).rejects.toThrow(/malformed YAML at line \d+/);
    await expect(loadConfig({ file: '/nonexistent/rewind.yaml', env: {} })).rejects.toThrow(/cannot read/);
  });

  it('warns about REWIND_ variables that match no key', async () => {
    const warnings: string[] = [];
    await loadConfig({ env: { REWIND_POLICY_GRACE: '1m' }, onWarning: (w) => warnings.push(w) });
    expect(warnings[0]).toMatch(/REWIND_POLICY_GRACE matches no configuration key/);
  });

  it('never puts secret values in problems', () => {
    const problems = problemsOf(() =>
      parseConfig({ forge: { type: 'github', tokenEnv: 'ghp_notAName-!' } }, { env: {} }),
    );
    expect(problems[0]?.path).toBe('forge.tokenEnv');
    expect(problems[0]?.message).toMatch(/NAME of an environment variable/);
  });

  it('alert endpoints need exactly one way to authenticate, and its secret in the environment', () => {
    expect(() => parseConfig({ alerts: { alertmanager: {} } }, { env: {} })).toThrow(
      /alerts\.alertmanager.*exactly one of tokenEnv/s,
    );
    expect(() => parseConfig({ alerts: { flux: { hmacSecretEnv: 'FLUX_KEY' } } }, { env: {} })).toThrow(
      /alerts\.flux\.hmacSecretEnv.*FLUX_KEY/s,
    );
    const config = parseConfig(
      { alerts: { alertmanager: { tokenEnv: 'AM_TOKEN' }, dedupeTtl: '1h' } },
      { env: { AM_TOKEN: 't' } },
    );
    expect(config.alerts.dedupeTtlMs).toBe(3_600_000);
    expect(config.alerts.alertmanager?.appLabels[0]).toBe('{rewind_app}');
  });
});
