import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { DEPLOYMENT, EVENT, KUSTOMIZATION, REPLICA_SET } from '../../src/sandbox/resources.ts';
import { frontendDeployment, readyFor, waitForKustomization } from '../../src/sandbox/scenario.ts';
import { measureCliStartMs, rewindCli } from '../helpers/cli.ts';
import { type Loop, revertCommitsFor, startLoop } from '../helpers/loop.ts';
import { until } from '../helpers/wait.ts';

const BROKEN = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';
/**
 * The manual-rollback test starts `rewind` six times; each start costs seconds of CPU, 5x more
 * with the cores busy, so its timeout is sized from a start measured now (60 s for the rest, and
 * each of the six runs may take twice a bare start).
 */
const CLI_RUNS = 6;
const CLI_START_MS = await measureCliStartMs();
const MANUAL_ROLLBACK_TIMEOUT_MS = 60_000 + CLI_RUNS * 2 * CLI_START_MS;
console.info(
  `[rollback-loop] one rewind start: ${CLI_START_MS} ms; manual rollback timeout ${MANUAL_ROLLBACK_TIMEOUT_MS} ms`,
);

describe('the Git-first rollback loop on Flux (direct push), end to end', () => {
  let loop: Loop | undefined;
  afterEach(async () => {
    await loop?.stop();
    loop = undefined;
  });

  it('reverts only the failing app part of a commit that also touches a healthy app, through a kustomize base, and converges on the last-good ReplicaSet', async () => {
    loop = await startLoop();
    const { sandbox, fleet } = loop;
    const good = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.5.1');
    fleet.notifyPush();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(good));
    const goodRs = sandbox.store
      .list(REPLICA_SET, { namespace: 'default' })
      .find((rs) => rs.spec.template.spec.containers[0].image.endsWith(':6.5.1'))!;

    // One commit: podinfo's base gets a broken image, frontend gets a harmless theme change.
    const bad = await fleet.setPodinfoImage(BROKEN, {
      'apps/frontend/deployment.yaml': frontendDeployment('ghcr.io/example/frontend:1.0.0', 2, 'green'),
    });
    fleet.notifyPush();
    const incident = await loop.finalIncident(bad);

    expect(incident.conditions.map((c) => c.type)).toEqual([
      'Detected',
      'Located',
      'RevertPrepared',
      'Merged',
      'ReconcileRequested',
      'Converged',
    ]);
    expect(incident.culprit).toBe(bad);
    expect(incident.details.culpritRule).toBe('single-commit');
    expect(incident.details.revert?.kind).toBe('scoped');
    expect(incident.details.revert?.paths).toEqual(['apps/base/podinfo/deployment.yaml']);

    // Git: exactly one revert, with trailers, and the frontend change kept.
    const reverts = await revertCommitsFor(fleet, incident.id);
    expect(reverts).toHaveLength(1);
    const message = await fleet.work.raw(['log', '-1', '--format=%B', reverts[0]!]);
    expect(message).toContain(`Reverts: ${bad}`);
    expect(message).toContain(`Rewind-Incident: ${incident.id}`);
    const frontend = await fleet.work.raw(['show', 'origin/main:apps/frontend/deployment.yaml']);
    expect(frontend).toContain('value: green');
    const podinfo = await fleet.work.raw(['show', 'origin/main:apps/base/podinfo/deployment.yaml']);
    expect(podinfo).toContain('podinfo:6.5.1');

    // Cluster: the pre-incident ReplicaSet was reused (same uid), the bad one is at 0.
    const deployment = sandbox.store.get(DEPLOYMENT, 'default', 'podinfo')!;
    const replicaSets = sandbox.store
      .list(REPLICA_SET, { namespace: 'default' })
      .filter((rs) => rs.metadata.name.startsWith('podinfo-'));
    const active = replicaSets.find((rs) => rs.spec.replicas > 0)!;
    expect(active.metadata.uid).toBe(goodRs.metadata.uid);
    expect(active.metadata.annotations?.['deployment.kubernetes.io/revision-history']).toBeTruthy();
    const badRs = replicaSets.find((rs) => rs.spec.template.spec.containers[0].image === BROKEN)!;
    expect(badRs.spec.replicas).toBe(0);
    expect(deployment.status.availableReplicas).toBe(2);

    // Flux applied the revert, and the outcome is an Event on the Kustomization. The verifier
    // records the Event and clears the durable annotation right after it saved Converged.
    const ks = sandbox.store.get(KUSTOMIZATION, fleet.namespace, 'podinfo')!;
    expect(ks.status.lastAppliedRevision).toBe(`main@sha1:${reverts[0]}`);
    const reasons = () =>
      sandbox.store
        .list(EVENT, { namespace: fleet.namespace, fieldSelector: 'involvedObject.name=podinfo' })
        .map((e) => e['reason']);
    await until(() => reasons().includes('RollbackConverged'), 'the RollbackConverged Event', 10_000);
    await until(
      () =>
        sandbox.store.get(KUSTOMIZATION, fleet.namespace, 'podinfo')?.metadata.annotations?.[
          'rewind.dev/incident'
        ] === undefined,
      'the rewind.dev/incident annotation to be cleared',
      10_000,
    );
  });

  it('fast path: rolls the Deployment back natively while Flux is suspended, then Git catches up', async () => {
    // A long Flux timeout: without the fast path the revert would wait for it.
    loop = await startLoop({ policy: { fastPath: true }, timeout: '30s' });
    const { sandbox, fleet } = loop;
    const started = Date.now();
    const bad = await fleet.setPodinfoImage(BROKEN);
    fleet.notifyPush();
    const incident = await loop.finalIncident(bad);
    expect(incident.conditions.at(-1)?.type).toBe('Converged');
    // Far below the 30 s Flux timeout the plain path would wait for.
    expect(Date.now() - started).toBeLessThan(15_000);
    const ks = sandbox.store.get(KUSTOMIZATION, fleet.namespace, 'podinfo')!;
    expect(ks.spec.suspend).toBe(false);
    const reverts = await revertCommitsFor(fleet, incident.id);
    expect(reverts).toHaveLength(1);
    expect(ks.status.lastAppliedRevision).toBe(`main@sha1:${reverts[0]}`);
  });

  it('observes only in observe mode: locates the culprit, pushes nothing', async () => {
    loop = await startLoop({ policy: { mode: 'observe' } });
    const { fleet } = loop;
    const before = await fleet.head();
    const bad = await fleet.setPodinfoImage(BROKEN);
    fleet.notifyPush();
    const incident = await loop.finalIncident(bad);
    expect(incident.conditions.at(-1)).toMatchObject({ type: 'Ignored', reason: 'ObserveOnly' });
    expect(incident.culprit).toBe(bad);
    expect(await fleet.head()).toBe(bad);
    expect(before).not.toBe(bad);
  });

  it(
    'rolls back by hand with `rewind rollback`, and refuses bad input clearly',
    async () => {
      loop = await startLoop({ roles: ['verifier'] });
      const { fleet, sandbox } = loop;
      const configFile = path.join(loop.workdir, 'rewind.yaml');
      await writeFile(configFile, stringify(loop.configInput));
      const cli = (args: string[]) => rewindCli([...args, '--config', configFile]);
      const good = await fleet.head();
      const next = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.7.0');
      fleet.notifyPush();
      await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(next));

      // Refused before anything is written, so the three may run side by side.
      const [unknown, notInHistory, malformed] = await Promise.all([
        cli(['rollback', 'flux-system/nope']),
        cli(['rollback', 'flux-system/podinfo', '--to', 'a'.repeat(40)]),
        cli(['rollback', 'flux-system/podinfo', '--to', 'main; rm -rf /']),
      ]);
      expect(unknown.code).not.toBe(0);
      expect(unknown.err).toMatch(
        /no Flux Kustomization "nope" in namespace "flux-system".*kubectl get kustomizations -A/,
      );

      expect(notInHistory.code).not.toBe(0);
      expect(notInHistory.err).toMatch(/a{12}/);

      expect(malformed.code).not.toBe(0);
      expect(malformed.err).toMatch(/--to/);

      const dry = await cli(['rollback', 'flux-system/podinfo', '--to', good, '--dry-run']);
      expect(dry, JSON.stringify(dry)).toMatchObject({ code: 0 });
      expect(dry.out).toMatch(/DryRun/);
      expect(dry.err).not.toMatch(/warn|error/i);
      expect(await fleet.head()).toBe(next);

      const real = await cli(['rollback', 'flux-system/podinfo', '--to', good]);
      expect(real, JSON.stringify(real)).toMatchObject({ code: 0 });
      expect(real.out).toMatch(/Converged/);
      await fleet.head(); // fetch
      const podinfo = await fleet.work.raw(['show', 'origin/main:apps/base/podinfo/deployment.yaml']);
      expect(podinfo, real.out).toContain('podinfo:6.5.0');

      const status = await cli(['status', '-o', 'json']);
      const incidents = JSON.parse(status.out) as {
        conditions: { type: string }[];
        details: { trigger: string };
      }[];
      expect(
        incidents.some((i) => i.details.trigger === 'manual' && i.conditions.at(-1)?.type === 'Converged'),
      ).toBe(true);
    },
    MANUAL_ROLLBACK_TIMEOUT_MS,
  );
});
