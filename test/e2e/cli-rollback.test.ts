// `rewind` as a person runs it, against the sandbox: short SHAs, progress on stderr while stdout
// stays data, the diff of a dry run, `-o json|yaml`, `--version`, the errors that say what to fix,
// and REDIS_URL. One loop; the tests run in order and share the fleet's history.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { readyFor, waitForKustomization } from '../../src/sandbox/scenario.ts';
import { measureCliStartMs, rewindCli } from '../helpers/cli.ts';
import { collidingCommits } from '../helpers/colliding-commits.ts';
import { type Loop, startLoop } from '../helpers/loop.ts';

/** Each test starts `rewind` up to four times; a start costs seconds of CPU on a busy machine. */
const CLI_START_MS = await measureCliStartMs();
const TEST_TIMEOUT_MS = 60_000 + 4 * 2 * CLI_START_MS;
console.info(`[cli-rollback] one rewind start: ${CLI_START_MS} ms; timeout per test ${TEST_TIMEOUT_MS} ms`);

const STAGES = ['Detected', 'Located', 'RevertPrepared', 'Merged', 'ReconcileRequested', 'Converged'];

describe('rewind rollback, status and history from a terminal', () => {
  let loop: Loop;
  let configFile: string;
  let good: string;
  let next: string;
  const cli = (args: string[], env: Record<string, string> = {}) =>
    rewindCli([...args, '--config', configFile], env);

  beforeAll(async () => {
    loop = await startLoop({ roles: ['verifier'] });
    configFile = path.join(loop.workdir, 'rewind.yaml');
    await writeFile(configFile, stringify(loop.configInput));
    good = await loop.fleet.head();
    next = await loop.fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.7.0');
    loop.fleet.notifyPush();
    await waitForKustomization(loop.sandbox, loop.fleet.namespace, 'podinfo', readyFor(next));
  }, 60_000);

  afterAll(async () => {
    await loop?.stop();
  });

  it(
    'refuses a short SHA that is too short or ambiguous (naming the candidates), and an unknown app or kubeconfig, recording nothing',
    async () => {
      const { prefix, shas } = collidingCommits(loop.fleet.workDir, next);
      await loop.fleet.work.raw([
        'push',
        '--quiet',
        'origin',
        `${shas[0]}:refs/heads/near-a`,
        `${shas[1]}:refs/heads/near-b`,
      ]);
      const [ambiguous, tooShort, unknown, noKubeconfig] = await Promise.all([
        cli(['rollback', 'flux-system/podinfo', '--to', prefix]),
        cli(['rollback', 'flux-system/podinfo', '--to', good.slice(0, 3)]),
        cli(['rollback', 'flux-system/nope']),
        cli([
          'rollback',
          'flux-system/podinfo',
          '--kubeconfig',
          path.join(loop.workdir, 'missing-kubeconfig'),
        ]),
      ]);
      expect(ambiguous.code).toBe(1);
      expect(ambiguous.err).toContain(`--to ${prefix} is ambiguous`);
      expect(ambiguous.err).toContain(shas[0]);
      expect(ambiguous.err).toContain(shas[1]);

      expect(tooShort.code).toBe(1);
      expect(tooShort.err).toContain('give at least 4 hexadecimal characters');

      expect(unknown.code).toBe(1);
      expect(unknown.err).toContain('Unknown app "flux-system/nope": read as ks/flux-system/nope');
      expect(unknown.err).toContain(
        'ks/<namespace>/<name> (Flux Kustomization) or app/<namespace>/<name> (Argo CD Application)',
      );
      expect(unknown.err).toContain('`kubectl get kustomizations -A`, `kubectl get applications -A`');

      expect(noKubeconfig.code).toBe(1);
      expect(noKubeconfig.err).toContain(
        `Cannot read the kubeconfig ${path.join(loop.workdir, 'missing-kubeconfig')}`,
      );
      expect(noKubeconfig.err).toContain('--kubeconfig FILE');
      expect(noKubeconfig.err).toContain('KUBECONFIG');
      expect(noKubeconfig.err).not.toContain('ENOENT');

      expect(await loop.runtime.incidents.list(10)).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a dry run to a short SHA prints the unified diff of the revert it would push, and pushes nothing',
    async () => {
      const dry = await cli(['rollback', 'flux-system/podinfo', '--to', good.slice(0, 7), '--dry-run']);
      expect(dry.code, dry.err).toBe(0);
      expect(dry.out).toContain(
        'diff --git a/apps/base/podinfo/deployment.yaml b/apps/base/podinfo/deployment.yaml',
      );
      expect(dry.out).toMatch(/^-\s+image: ghcr\.io\/stefanprodan\/podinfo:6\.7\.0$/m);
      expect(dry.out).toMatch(/^\+\s+image: ghcr\.io\/stefanprodan\/podinfo:(?!6\.7\.0)/m);
      expect(dry.out).toContain(`Reverts: ${next}`);
      // Progress went to stderr, stage by stage with the time since the start.
      expect(dry.err).toMatch(/^\s+\d+\.\ds\s+Located\s/m);
      expect(dry.err).toMatch(/^\s+\d+\.\ds\s+Ignored\s+DryRun:/m);
      expect(await loop.fleet.head()).toBe(next);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a rollback with -o json prints only the incident on stdout, and each stage on stderr as it happens',
    async () => {
      const real = await cli(['rollback', 'flux-system/podinfo', '--to', good.slice(0, 8), '-o', 'json']);
      expect(real.code, real.err).toBe(0);
      const incident = JSON.parse(real.out) as {
        conditions: { type: string }[];
        timings: Record<string, number>;
      };
      expect(incident.conditions.map((c) => c.type)).toEqual(STAGES);
      expect(incident.timings.total).toBeGreaterThan(0);
      const reported = [...real.err.matchAll(/^\s+\d+\.\ds\s+(\w+)\s/gm)].map((m) => m[1]);
      expect(reported).toEqual(STAGES);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'status and history answer -o json and -o yaml with the same data, and --version the package version',
    async () => {
      const [statusJson, statusYaml, historyJson, historyYaml, version] = await Promise.all([
        cli(['status', '-o', 'json']),
        cli(['status', '-o', 'yaml']),
        cli(['history', 'flux-system/podinfo', '-o', 'json']),
        cli(['history', 'flux-system/podinfo', '-o', 'yaml']),
        rewindCli(['--version']),
      ]);
      const incidents = JSON.parse(statusJson.out) as { details: { trigger: string; dryRun: boolean } }[];
      expect(incidents.map((i) => i.details)).toEqual([
        expect.objectContaining({ trigger: 'manual', dryRun: false }),
        expect.objectContaining({ trigger: 'manual', dryRun: true }),
      ]);
      expect(parse(statusYaml.out)).toEqual(incidents);
      const rows = JSON.parse(historyJson.out) as { deployment: string }[];
      expect(rows.length).toBeGreaterThan(1);
      expect(rows.every((r) => r.deployment === 'default/podinfo')).toBe(true);
      expect(parse(historyYaml.out)).toEqual(rows);
      const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
      expect(version.out).toBe(`${pkg.version}\n`);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'honours REDIS_URL when the config names no Redis, as the demo does; REWIND_REDIS_URL wins over it',
    async () => {
      const withoutRedis = path.join(loop.workdir, 'no-redis-url.yaml');
      const { redis, ...rest } = loop.configInput as { redis: { url: string; prefix: string } };
      await writeFile(withoutRedis, stringify({ ...rest, redis: { prefix: redis.prefix } }));
      const status = (env: Record<string, string>) =>
        rewindCli(['status', '-o', 'json', '--config', withoutRedis], env);
      const [fromRedisUrl, overridden] = await Promise.all([
        status({ REDIS_URL: redis.url }),
        status({ REDIS_URL: 'redis://127.0.0.1:1', REWIND_REDIS_URL: redis.url }),
      ]);
      expect(fromRedisUrl.code, fromRedisUrl.err).toBe(0);
      expect(JSON.parse(fromRedisUrl.out)).toHaveLength(2);
      expect(overridden.code, overridden.err).toBe(0);

      const unreachable = await status({ REDIS_URL: 'redis://127.0.0.1:1' });
      expect(unreachable.code).toBe(1);
      expect(unreachable.err).toContain('Cannot reach Redis at redis://127.0.0.1:1');
      expect(unreachable.err).toContain('REDIS_URL');
    },
    TEST_TIMEOUT_MS,
  );
});
