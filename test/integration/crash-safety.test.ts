// Crash safety of the rollback loop, end to end on the sandbox with a real Redis:
// - the rollback worker (its own process, `rewind worker rollback`) is SIGKILLed right after the
//   push, or right before the reconcile request; another worker takes the stalled job over and
//   finishes the incident without a second revert commit;
// - Redis loses every key of the installation mid-incident; the detector resumes the incident from
//   the `rewind.dev/incident` annotation on the Kustomization and it converges again.
import { deletePrefix } from '../../src/sandbox/loop.ts';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { simpleGit } from 'simple-git';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type ChildWorker, spawnWorker } from '../helpers/child-worker.ts';
import { measureCliStartMs } from '../helpers/cli.ts';
import { FLUX_KUSTOMIZATION, KubeCluster, type ObjectRef, loadKubeConfig } from '../../src/cluster/kube.ts';
import { type RewindConfig, parseConfig } from '../../src/config/index.ts';
import { isTerminal } from '../../src/domain/incident.ts';
import { silentLogger } from '../../src/logging.ts';
import { INCIDENT_ANNOTATION } from '../../src/pipeline/durable-incident.ts';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import { type ClusterPort, systemClock } from '../../src/pipeline/ports.ts';
import { runRollback } from '../../src/pipeline/rollback.ts';
import { runVerify } from '../../src/pipeline/verify-job.ts';
import { RollbackGit } from '../../src/git/rollback-git.ts';
import type { VerifyJob } from '../../src/queue/jobs.ts';
import { RedisIncidentStore } from '../../src/queue/incident-store.ts';
import {
  BROKEN_IMAGE_GLOB,
  type Fleet,
  createFleet,
  frontendDeployment,
  podinfoDeployment,
  readyFor,
  waitForKustomization,
} from '../../src/sandbox/scenario.ts';
import { KUSTOMIZATION } from '../../src/sandbox/resources.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/sandbox.ts';
import { type Role, type Runtime, gitWorkspaceFor, startRuntime } from '../../workers/runtime.ts';
import { redisUrl } from '../global-setup.ts';

const BAD_IMAGE = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';
const GOOD_IMAGE = 'ghcr.io/stefanprodan/podinfo:6.5.1';
const GREEN_FRONTEND = frontendDeployment('ghcr.io/example/frontend:1.0.0', 3, 'green');
const REPLICAS = 3;
/**
 * The SIGKILL tests start `rewind worker rollback` as its own process; loading it costs seconds of
 * CPU (5 s of wall time on the shared machine, 8 to 16 s with CPU hogs), before which it cannot take the job: their
 * waits grow with a start measured now.
 */
const WORKER_START_MS = await measureCliStartMs();

interface Harness {
  cleanups: Cleanups;
  sandbox: Sandbox;
  fleet: Fleet;
  prefix: string;
  dir: string;
  configFile: string;
  store: RedisIncidentStore;
  redis: Redis;
}

type Cleanups = (() => Promise<unknown>)[];
/** Per test (the two SIGKILL tests run concurrently: most of their time is waiting for a lock to expire). */
const cleanupsByTest = new Map<string, Cleanups>();
afterEach(async ({ task }) => {
  const cleanups = cleanupsByTest.get(task.id) ?? [];
  cleanupsByTest.delete(task.id);
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function setUp(name: string, testId: string): Promise<Harness> {
  const cleanups: Cleanups = [];
  cleanupsByTest.set(testId, cleanups);
  const prefix = `rewind-test-crash-${name}-${process.pid}-${Date.now()}`;
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  cleanups.push(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
  });
  const sandbox = await startSandbox({ podReadyMs: 150, unreadyImages: [BROKEN_IMAGE_GLOB] });
  cleanups.push(() => sandbox.stop());
  const fleet = await createFleet({ sandbox, timeout: '5s', replicas: REPLICAS });
  cleanups.push(() => fleet.cleanup());
  const dir = await mkdtemp(path.join(tmpdir(), 'rewind-crash-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const configFile = path.join(dir, 'rewind.yaml');
  await writeFile(
    configFile,
    stringify({
      redis: { url: redisUrl(), prefix },
      kubernetes: { kubeconfig: sandbox.kubeconfigPath },
      git: { workdir: path.join(dir, 'git-child'), allowFileRemotes: true },
      policy: { gracePeriod: '1s', verifyTimeout: '45s', budgets: { perHour: 1 } },
      // The killed worker's job is taken over once its lock lapses: keep that short in tests.
      worker: { lockDuration: '2s' },
    }),
  );
  return {
    cleanups,
    sandbox,
    fleet,
    prefix,
    dir,
    configFile,
    store: new RedisIncidentStore(redis, prefix),
    redis,
  };
}

function configFor(h: Harness, workdir: string): RewindConfig {
  return parseConfig(
    {
      redis: { url: redisUrl(), prefix: h.prefix },
      kubernetes: { kubeconfig: h.sandbox.kubeconfigPath },
      git: { workdir: path.join(h.dir, workdir), allowFileRemotes: true },
      policy: { gracePeriod: '1s', verifyTimeout: '45s', budgets: { perHour: 1 } },
    },
    { env: {} },
  );
}

async function runtimeFor(
  h: Harness,
  roles: readonly Role[],
  workdir: string,
  extra: { lockDurationMs?: number; detector?: { resyncMs?: number; reofferMs?: number } } = {},
): Promise<Runtime> {
  const config = configFor(h, workdir);
  const runtime = await startRuntime({
    config,
    roles,
    log: silentLogger(),
    env: {},
    verifyIntervalMs: 100,
    lockDurationMs: extra.lockDurationMs ?? 2000,
    detector: { debounceMs: 10, ...(extra.detector ?? {}) },
  });
  h.cleanups.push(() => runtime.close());
  return runtime;
}

/** `rewind worker rollback` in its own process; environment REWIND_* only from `env`. */
function spawnRollbackWorker(h: Harness, env: Record<string, string>): ChildWorker {
  const worker = spawnWorker('rollback', h.configFile, env);
  h.cleanups.push(worker.stop);
  return worker;
}

/** A good deploy (the last-good revision), then the bad commit that also changes frontend. */
async function goodThenBad(h: Harness): Promise<{ good: string; bad: string }> {
  const { sandbox, fleet } = h;
  await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(await fleet.head()));
  const good = await fleet.setPodinfoImage(GOOD_IMAGE);
  fleet.notifyPush();
  await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(good));
  const bad = await fleet.setPodinfoImage(BAD_IMAGE, { 'apps/frontend/deployment.yaml': GREEN_FRONTEND });
  fleet.notifyPush();
  return { good, bad };
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  stepMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** What BullMQ knows about the incident's jobs (for failure messages). */
async function jobsOf(h: Harness, incidentId: string): Promise<string> {
  const out: string[] = [];
  for (const [queue, id] of [
    ['rollback', `rollback-${incidentId}`],
    ['verify', `verify-${incidentId}`],
  ] as const) {
    const job = await h.redis.hgetall(`${h.prefix}:${queue}:${id}`);
    const states: string[] = [];
    for (const state of ['wait', 'active', 'delayed', 'completed', 'failed', 'prioritized']) {
      const key = `${h.prefix}:${queue}:${state}`;
      const type = await h.redis.type(key);
      const member =
        type === 'zset'
          ? (await h.redis.zscore(key, id)) !== null
          : type === 'list'
            ? (await h.redis.lpos(key, id)) !== null
            : false;
      if (member) states.push(state);
    }
    const { data: _data, opts: _opts, ...fields } = job;
    out.push(`${id}: in [${states.join(',')}] ${JSON.stringify(fields)}`);
  }
  return out.join('\n');
}

/** The verifier clears the annotation right after it saved the end of the incident. */
async function annotationCleared(h: Harness): Promise<void> {
  await waitFor(
    'the rewind.dev/incident annotation to be cleared',
    async () => {
      const ks = h.sandbox.store.get(KUSTOMIZATION, h.fleet.namespace, 'podinfo');
      return ks?.metadata?.annotations?.[INCIDENT_ANNOTATION] === undefined ? true : undefined;
    },
    10_000,
  ).catch((error: Error) => {
    const ks = h.sandbox.store.get(KUSTOMIZATION, h.fleet.namespace, 'podinfo');
    throw new Error(`${error.message}: ${ks?.metadata?.annotations?.[INCIDENT_ANNOTATION]}`);
  });
}

async function incidentFor(store: RedisIncidentStore, bad: string): Promise<IncidentRecord | undefined> {
  return (await store.list(20)).find((r) => r.badRevision === bad);
}

function conditionTypes(record: IncidentRecord): string[] {
  return record.conditions.map((c) => c.type);
}

/** The remote's history: one revert for the incident, podinfo back on the good image, frontend kept. */
async function expectOneRevert(h: Harness, incidentId: string): Promise<void> {
  const remote = simpleGit(h.fleet.remote); // the bare repository Flux fetches from
  const withTrailer = (
    await remote.raw([
      'log',
      '--fixed-strings',
      `--grep=Rewind-Incident: ${incidentId}`,
      '--format=%H',
      'main',
    ])
  )
    .split('\n')
    .filter(Boolean);
  expect(withTrailer).toHaveLength(1);
  const reverts = (await remote.raw(['log', '--format=%s', 'main']))
    .split('\n')
    .filter((s) => s.startsWith('Revert "'));
  expect(reverts).toHaveLength(1);
  expect(await remote.raw(['show', 'main:apps/base/podinfo/deployment.yaml'])).toBe(
    podinfoDeployment(GOOD_IMAGE, REPLICAS),
  );
  expect(await remote.raw(['show', 'main:apps/frontend/deployment.yaml'])).toBe(GREEN_FRONTEND);
}

const FULL_HISTORY = ['Detected', 'Located', 'RevertPrepared', 'Merged', 'ReconcileRequested', 'Converged'];

describe('crash safety', () => {
  for (const crashAt of ['after-push', 'before-reconcile'] as const) {
    it.concurrent(
      `SIGKILL of the rollback worker ${crashAt}: another worker finishes the incident, one revert`,
      async ({ task }) => {
        const t0 = Date.now();
        const h = await setUp(crashAt, task.id);
        await runtimeFor(h, ['detector', 'verifier'], 'git-main');
        const first = spawnRollbackWorker(h, { REWIND_CRASH_AT: crashAt });
        const { bad } = await goodThenBad(h);
        const badAt = Date.now();

        const [code, signal] = (await Promise.race([
          once(first.child, 'exit'),
          new Promise((_, reject) =>
            setTimeout(
              () => reject(new Error(`worker did not crash; output:\n${first.output()}`)),
              20_000 + 2 * WORKER_START_MS,
            ),
          ),
        ])) as [number | null, NodeJS.Signals | null];
        expect({ code, signal }).toEqual({ code: null, signal: 'SIGKILL' });
        const crashedAt = Date.now();
        const atCrash = await incidentFor(h.store, bad);
        expect(atCrash?.conditions.at(-1)?.type).toBe('Merged');
        await expectOneRevert(h, atCrash!.id);

        // The job is stalled under the dead worker's lock; a second worker takes it over once the lock expires.
        await runtimeFor(h, ['rollback'], 'git-second');
        const record = await waitFor(
          'the incident to end',
          async () => {
            const r = await incidentFor(h.store, bad);
            return r && isTerminal(r.conditions.at(-1)!.type) ? r : undefined;
          },
          45_000,
          100,
        ).catch(async (error: Error) => {
          const r = await incidentFor(h.store, bad);
          throw new Error(
            `${error.message}\nlast: ${JSON.stringify(r?.conditions.at(-1))}\n${await jobsOf(h, r?.id ?? '')}`,
          );
        });
        const doneAt = Date.now();
        console.info(
          `[crash-safety ${crashAt}] setup+good deploy ${((badAt - t0) / 1000).toFixed(1)}s, crash ${((crashedAt - badAt) / 1000).toFixed(1)}s after the bad push, ` +
            `takeover+converge ${((doneAt - crashedAt) / 1000).toFixed(1)}s later`,
        );
        expect(conditionTypes(record), JSON.stringify(record.conditions.at(-1))).toEqual(FULL_HISTORY);
        await expectOneRevert(h, record.id);
      },
      90_000 + 4 * WORKER_START_MS,
    );
  }

  // `running`: while the rollback job is still between the push and its hand-over to the verifier
  // (it keeps going against the empty Redis). `handed-over`: after the rollback job completed, so
  // only the annotation on the Kustomization remembers the incident.
  for (const when of ['running', 'handed-over'] as const) {
    it(`Redis loses every key mid-incident (${when}): the detector resumes from the annotation, one revert`, async ({
      task,
    }) => {
      const t0 = Date.now();
      const h = await setUp(`flush-${when}`, task.id);
      const runtime = await runtimeFor(h, ['detector', 'rollback', 'verifier'], 'git-main', {
        detector: { resyncMs: 500, reofferMs: 500 },
      });
      const { bad } = await goodThenBad(h);
      const badAt = Date.now();
      const before = await waitFor(
        'the revert to be pushed',
        async () => {
          const r = await incidentFor(runtime.incidents, bad);
          const type = r?.conditions.at(-1)?.type;
          if (when === 'running') return type === 'Merged' || type === 'ReconcileRequested' ? r : undefined;
          const completed = r && (await h.redis.zscore(`${h.prefix}:rollback:completed`, `rollback-${r.id}`));
          return type === 'ReconcileRequested' && completed ? r : undefined;
        },
        40_000,
        10,
      );
      const deleted = await deletePrefix(h.redis, h.prefix);
      const flushedAt = Date.now();
      expect(deleted).toBeGreaterThan(0);

      const record = await waitFor(
        'the incident to end again',
        async () => {
          const r = await incidentFor(runtime.incidents, bad);
          return r && isTerminal(r.conditions.at(-1)!.type) ? r : undefined;
        },
        30_000,
        100,
      ).catch(async (error: Error) => {
        const r = await incidentFor(runtime.incidents, bad);
        const ks = h.sandbox.store.get(KUSTOMIZATION, h.fleet.namespace, 'podinfo');
        throw new Error(
          `${error.message}\nrecord: ${JSON.stringify(r?.conditions)}\nannotation: ${ks?.metadata?.annotations?.[INCIDENT_ANNOTATION]}\n${await jobsOf(h, before.id)}`,
        );
      });
      console.info(
        `[crash-safety flush ${when}] flushed at ${before.conditions.at(-1)!.type} ${((flushedAt - badAt) / 1000).toFixed(1)}s after the bad push ` +
          `(setup ${((badAt - t0) / 1000).toFixed(1)}s); ended again ${((Date.now() - flushedAt) / 1000).toFixed(1)}s later, ` +
          `record rebuilt by ${record.conditions[0]!.reason === 'Resumed' ? 'the resumed job' : 'the in-flight job'}`,
      );
      expect(record.id).toBe(before.id);
      expect(record.conditions.at(-1)?.type, JSON.stringify(record.conditions.at(-1))).toBe('Converged');
      if (when === 'handed-over') expect(conditionTypes(record)).toEqual(FULL_HISTORY);
      // After the hand-over nothing in flight can write the record again: it was rebuilt from scratch
      // by a re-offered rollback job (from the annotation, or from the still-failing Pods).
      if (when === 'handed-over')
        expect(Date.parse(record.conditions[0]!.at)).toBeGreaterThanOrEqual(flushedAt - 50);
      await expectOneRevert(h, record.id);
      // Ending the incident clears the durable record (right after saving the end, so wait for it).
      await annotationCleared(h);
    }, 120_000);
  }

  // The interleaving behind the two failures seen on a busy machine, forced with a hook instead of
  // left to timing: after Redis is lost, the detector re-runs the rollback job from the annotation;
  // that job reads the record (ReconcileRequested), then the verifier ends the incident and clears
  // the annotation, then the job goes on. It used to write the annotation back and save its stale
  // copy over Converged (the incident "stayed at ReconcileRequested", the annotation "left behind").
  it('a resumed rollback job that read the incident before the verifier ended it neither moves it back nor leaves the annotation behind', async ({
    task,
  }) => {
    const h = await setUp('stale-resume', task.id);
    // No verifier: the verification below runs exactly when the hook says.
    const runtime = await runtimeFor(h, ['detector', 'rollback'], 'git-main');
    const { bad } = await goodThenBad(h);
    const handedOver = await waitFor(
      'the hand-over to the verifier',
      async () => {
        const r = await incidentFor(runtime.incidents, bad);
        const done = r && (await h.redis.zscore(`${h.prefix}:rollback:completed`, `rollback-${r.id}`));
        return r?.conditions.at(-1)?.type === 'ReconcileRequested' && done ? r : undefined;
      },
      30_000,
    );
    await runtime.close(); // nothing else writes the incident from here on
    const revertSha = handedOver.details.revert?.sha;
    expect(revertSha).toBeDefined();

    const config = configFor(h, 'git-stale');
    const cluster = new KubeCluster(loadKubeConfig(h.sandbox.kubeconfigPath));
    const deps = { incidents: h.store, clock: systemClock, log: silentLogger() };
    const verifyJob: VerifyJob = {
      incidentId: handedOver.id,
      revertSha: revertSha!,
      deadline: new Date(Date.now() + 45_000).toISOString(),
    };
    let verifiedAt: 'not yet' | 'before the job read the Kustomization' = 'not yet';
    // The job's first look at the Kustomization comes right after it read the record: the verifier
    // runs to the end there.
    const gated: ClusterPort = Object.assign(Object.create(cluster) as KubeCluster, {
      get: async (ref: ObjectRef) => {
        if (verifiedAt === 'not yet' && ref.kind === FLUX_KUSTOMIZATION.kind) {
          verifiedAt = 'before the job read the Kustomization';
          await waitFor(
            'the verifier to end the incident',
            async () => {
              const result = await runVerify(verifyJob, { ...deps, cluster });
              return result.kind === 'check-again' ? undefined : result;
            },
            30_000,
            100,
          );
        }
        return cluster.get(ref);
      },
    });
    expect(await incidentFor(h.store, bad)).toMatchObject({ conditions: handedOver.conditions });

    const resumed = await runRollback(
      {
        incidentId: handedOver.id,
        app: handedOver.app,
        badRevision: handedOver.badRevision,
        ...(handedOver.goodRevision ? { goodRevision: handedOver.goodRevision } : {}),
        trigger: 'engine',
        reason: 'Resumed',
        message: 'Incident found on the Kustomization without a record in Redis; resuming it.',
        detectedAt: new Date().toISOString(),
        manual: false,
        dryRun: false,
      },
      {
        ...deps,
        cluster: gated,
        git: new RollbackGit(gitWorkspaceFor(config, {}), config.git.author),
        config,
        enqueueVerify: async () => undefined,
      },
    );
    expect(verifiedAt).toBe('before the job read the Kustomization');
    const record = (await incidentFor(h.store, bad))!;
    const ks = h.sandbox.store.get(KUSTOMIZATION, h.fleet.namespace, 'podinfo');
    expect({
      resumed,
      condition: record.conditions.at(-1)?.type,
      annotation: ks?.metadata?.annotations?.[INCIDENT_ANNOTATION],
    }).toEqual({
      resumed: { kind: 'already-finished', condition: 'Converged' },
      condition: 'Converged',
      annotation: undefined,
    });
    expect(conditionTypes(record)).toEqual(FULL_HISTORY);
    await expectOneRevert(h, record.id);
  }, 90_000);
});
