// `rewind` for daily use, as a person runs it against the sandbox: status without the secrets it
// does not use, one app's incidents with their age and why one needs a human; pause, resume and
// cancel from a shell (what the ChatOps commands of the same names do); a dry run that says it pushed
// nothing; and kubeconfig errors that say where Rewind looked. One loop, tests in order.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { appRef } from '../../src/domain/app-ref.ts';
import { parseCommitSha } from '../../src/domain/commit-sha.ts';
import { type ConditionType, newIncident } from '../../src/domain/incident.ts';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import { PAUSED_ANNOTATION } from '../../src/pipeline/durable-ledger.ts';
import { PAUSED_BY_ANNOTATION } from '../../src/pipeline/pause-switch.ts';
import { CONFIG_MAP, KUSTOMIZATION } from '../../src/sandbox/resources.ts';
import { readyFor, waitForKustomization } from '../../src/sandbox/scenario.ts';
import { measureCliStartMs, rewindCli } from '../helpers/cli.ts';
import { type Loop, startLoop } from '../helpers/loop.ts';

const CLI_START_MS = await measureCliStartMs();
const TEST_TIMEOUT_MS = 60_000 + 6 * 2 * CLI_START_MS;

const UNTRUSTED =
  'file:///srv/fleet.git is not a trusted Git source: set git.allowFileRemotes: true to allow local repositories.';

describe('rewind for daily use from a terminal', () => {
  let loop: Loop;
  let configFile: string;
  const cli = (args: string[], env: Record<string, string> = {}) =>
    rewindCli([...args, '--config', configFile], env);

  /** An incident of `name` recorded `ageMs` ago whose last condition is `last`. */
  async function recorded(
    name: string,
    sha: string,
    ageMs: number,
    last?: { type: ConditionType; reason: string; message: string },
  ): Promise<IncidentRecord> {
    const at = new Date(Date.now() - ageMs);
    const detected = newIncident({
      app: appRef('flux-kustomization', 'flux-system', name),
      badRevision: parseCommitSha(sha.repeat(40).slice(0, 40)),
      reason: 'PodsFailing',
      message: '1 Pod(s) are failing',
      at,
    });
    const saved = await loop.runtime.incidents.create({
      ...detected,
      conditions: [...detected.conditions, ...(last ? [{ ...last, at: at.toISOString() }] : [])],
      details: { trigger: 'pods', dryRun: false },
      updatedAt: at.toISOString(),
    });
    if (saved.kind !== 'saved') throw new Error('expected a new record');
    return saved.record;
  }

  beforeAll(async () => {
    loop = await startLoop({ roles: ['verifier'] });
    configFile = path.join(loop.workdir, 'rewind.yaml');
    // Secrets a running Rewind needs and status, pause, resume and cancel do not: left unset.
    await writeFile(
      configFile,
      stringify({
        ...loop.configInput,
        dashboard: { tokenEnv: 'REWIND_TEST_UNSET_DASHBOARD_TOKEN' },
        notifications: { slack: { webhookUrlEnv: 'REWIND_TEST_UNSET_SLACK_WEBHOOK' } },
      }),
    );
  }, 60_000);

  afterAll(async () => {
    await loop?.stop();
  });

  it(
    'status needs none of the secrets the config names; it lists one app with an AGE, and says why an incident needs a human',
    async () => {
      await recorded('podinfo', 'a1', 3 * 60_000, {
        type: 'NeedsHuman',
        reason: 'UntrustedSource',
        message: UNTRUSTED,
      });
      await recorded('frontend', 'b2', 5000, {
        type: 'Converged',
        reason: 'LastGoodReplicaSet',
        message: 'ok',
      });
      const [all, one, history, start] = await Promise.all([
        cli(['status']),
        cli(['status', 'flux-system/podinfo']),
        cli(['history', 'flux-system/podinfo']),
        cli(['rollback', 'flux-system/podinfo']),
      ]);
      expect(history.code, history.err).toBe(0);
      expect(all.code, all.err).toBe(0);
      expect(all.out).toMatch(/^INCIDENT\s.*\sAGE$/m);
      expect(all.out).toMatch(/ks\/flux-system\/frontend\s.*\s\d+s$/m);
      expect(one.code, one.err).toBe(0);
      expect(one.out).toMatch(/ks\/flux-system\/podinfo\s+NeedsHuman\s+UntrustedSource\s.*\s3m$/m);
      expect(one.out).not.toContain('frontend');
      expect(one.out).toContain(`needs a human: ${UNTRUSTED}`);
      // A command that uses the secrets still asks for them.
      expect(start.code).toBe(78);
      expect(start.err).toContain('REWIND_TEST_UNSET_DASHBOARD_TOKEN');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'pause and resume one app or every app, and cancel an incident that has not pushed, as ChatOps does',
    async () => {
      const ks = () => loop.sandbox.store.get(KUSTOMIZATION, 'flux-system', 'podinfo');
      const paused = await cli(['pause', 'flux-system/podinfo', '--reason', 'deploy freeze']);
      expect(paused.code, paused.err).toBe(0);
      expect(paused.out).toContain('Automatic rollbacks of flux-system/podinfo are paused');
      // The hint can be pasted as it is: it names the config the command was given.
      expect(paused.out).toContain(`\`rewind resume flux-system/podinfo -c ${configFile}\``);
      expect(ks()?.metadata.annotations?.[PAUSED_ANNOTATION]).toBe('true');
      expect(ks()?.metadata.annotations?.[PAUSED_BY_ANNOTATION]).toMatch(/\(rewind CLI\): deploy freeze$/);
      const resumed = await cli(['resume', 'flux-system/podinfo']);
      expect(resumed.code, resumed.err).toBe(0);
      expect(ks()?.metadata.annotations?.[PAUSED_ANNOTATION]).toBeUndefined();

      const everything = await cli(['pause']);
      expect(everything.code, everything.err).toBe(0);
      expect(everything.out).toContain('every app are paused (ConfigMap');
      const configMap = /ConfigMap ([^/]+)\/([^)]+)\)/.exec(everything.out)!;
      const pauseSwitch = () => loop.sandbox.store.get(CONFIG_MAP, configMap[1], configMap[2]!);
      expect(pauseSwitch()?.metadata.annotations?.[PAUSED_ANNOTATION]).toBe('true');
      expect((await cli(['resume'])).code).toBe(0);
      expect(pauseSwitch()?.metadata.annotations?.[PAUSED_ANNOTATION]).toBeUndefined();

      const missing = await cli(['pause', 'flux-system/nope']);
      expect(missing.code).toBe(1);
      expect(missing.out).toContain('There is no flux-system/nope in the cluster');

      const open = await recorded('podinfo', 'c3', 1000);
      const cancelled = await cli(['cancel', open.id]);
      expect(cancelled.code, cancelled.err).toBe(0);
      expect(cancelled.out).toContain(`Incident ${open.id} is cancelled`);
      const record = await loop.runtime.incidents.get(open.id);
      expect(record?.conditions.at(-1)).toMatchObject({ type: 'Ignored', reason: 'Cancelled' });
      const again = await cli(['cancel', open.id]);
      expect(again.code).toBe(1);
      expect(again.out).toContain('already ended: Ignored (Cancelled)');
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a dry run says the revert was prepared and not pushed, in its output and in status',
    async () => {
      const good = await loop.fleet.head();
      const next = await loop.fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.7.0');
      loop.fleet.notifyPush();
      await waitForKustomization(loop.sandbox, loop.fleet.namespace, 'podinfo', readyFor(next));
      const dry = await cli(['rollback', 'flux-system/podinfo', '--to', good.slice(0, 7), '--dry-run'], {
        REWIND_TEST_UNSET_DASHBOARD_TOKEN: 'x',
        REWIND_TEST_UNSET_SLACK_WEBHOOK: 'https://hooks.slack.invalid/x',
      });
      expect(dry.code, dry.err).toBe(0);
      expect(dry.err).toMatch(/Ignored\s+DryRun: dry run: revert prepared, not pushed \([0-9a-f]{7} reverts/);
      expect(dry.err + dry.out).not.toContain('prepared a reverted revert');
      const status = await cli(['status', 'flux-system/podinfo']);
      expect(status.out).toMatch(/Ignored\s+DryRun\s.*dry run, not pushed/);
      expect(await loop.fleet.head()).toBe(next);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'says where it looked when there is no kubeconfig, and that an empty one has no current context',
    async () => {
      const home = await mkdtemp(path.join(tmpdir(), 'rewind-no-kubeconfig-'));
      const noCluster = path.join(home, 'rewind.yaml');
      const { kubernetes: _unused, ...withoutKubeconfig } = loop.configInput;
      await writeFile(noCluster, stringify(withoutKubeconfig));
      const empty = path.join(home, 'empty-kubeconfig');
      await writeFile(empty, '');
      const bare = path.join(home, 'bare-kubeconfig');
      await writeFile(bare, 'apiVersion: v1\nkind: Config\n');
      const [none, emptyFile, bareFile] = await Promise.all([
        rewindCli(['history', '--deployment', 'default/podinfo', '--config', noCluster], {
          HOME: home,
          KUBECONFIG: '',
        }),
        rewindCli([
          'history',
          '--deployment',
          'default/podinfo',
          '--config',
          noCluster,
          '--kubeconfig',
          empty,
        ]),
        rewindCli([
          'history',
          '--deployment',
          'default/podinfo',
          '--config',
          noCluster,
          '--kubeconfig',
          bare,
        ]),
      ]);
      expect(none.code).toBe(1);
      expect(none.err).toContain('No kubeconfig found: tried');
      expect(none.err).toContain('KUBECONFIG (not set)');
      expect(none.err).toContain(path.join(home, '.kube', 'config'));
      expect(none.err).toContain('--kubeconfig FILE');
      expect(none.err).not.toMatch(/localhost:8080|skipTLSVerify/);
      for (const [result, file] of [
        [emptyFile, empty],
        [bareFile, bare],
      ] as const) {
        expect(result.code).toBe(1);
        expect(result.err).toContain(`The kubeconfig ${file} has no current context with a cluster`);
        expect(result.err).not.toContain('No active cluster');
      }
    },
    TEST_TIMEOUT_MS,
  );
});
