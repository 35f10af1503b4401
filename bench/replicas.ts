// Replicas: how the time to clear a batch of failing apps changes with 1, 2 and 3 Rewind processes
// (`rewind start`, every role; one detector elected through the Lease, rollback and verify jobs
// shared through BullMQ), and how long detection is without a leader after the leader dies.
//   batch      N apps in one Flux fleet, each broken by its own commit, all pushed at once; from the
//              push to every incident ended (Converged expected). Baseline: 1 process, same run.
//   failover   with 2 and 3 processes, the leader SIGKILLed: time until another holds the Lease,
//              against the configured leaseDuration; with 3, the next leader SIGTERMed (it releases
//              the Lease): time until the third leads.
// Each replica count gets a fresh sandbox, fleet and Redis prefix; each process its own git workdir.
// `--cpu-prof <dir>`: every process's CPU profile in <dir>/replicas-<count>, bounded to the batch
// (`npm run bench -- profile-summary <dir>/replicas-2`); the processes then stop gracefully, to
// write them, so failover is not measured.
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { ensureRedis } from '../src/demo/redis.ts';
import { isTerminal, stageTimings } from '../src/domain/incident.ts';
import { RedisIncidentStore } from '../src/queue/incident-store.ts';
import { type ChildWorker, spawnRewind } from '../src/sandbox/child-worker.ts';
import { createFleetRepository } from '../src/sandbox/fleet-repository.ts';
import { deletePrefix } from '../src/sandbox/loop.ts';
import { argoDeployment } from '../src/sandbox/argo-scenario.ts';
import { GIT_REPOSITORY, KUSTOMIZATION, LEASE } from '../src/sandbox/resources.ts';
import { type Sandbox, startSandbox } from '../src/sandbox/sandbox.ts';
import { BROKEN_IMAGE_GLOB, readyFor, waitForKustomization } from '../src/sandbox/scenario.ts';
import {
  childProfileArgs,
  cpuMeter,
  cpuProfileDir,
  profileClockMicros,
  writeProfileWindow,
} from './lib/cpu-profile.ts';
import { median, numberArg as arg } from './lib/stats.ts';

const LEASE_MS = 4000;
const RETRY_MS = 500;

async function until(
  check: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface RunResult {
  replicas: number;
  /** Push of the N bad commits -> every incident ended. */
  batchMs: number;
  incidentsPerMinute: number;
  converged: number;
  /** How the batch's incidents ended (condition/reason: count). */
  outcomes: Record<string, number>;
  /** Median milliseconds per stage over the batch's incidents: where the time goes. */
  stageMedians: Record<string, number>;
  /** Leader SIGKILLed -> another replica holds the Lease (2 and 3 replicas). */
  killTakeoverMs?: number;
  /** Leader SIGTERMed (releases the Lease) -> another replica holds it (3 replicas). */
  gracefulTakeoverMs?: number;
  /** With --cpu-prof, over the batch: CPU of the sandbox process and of each replica (own, its git). */
  cpu?: unknown;
}

/** SIGTERM (the process drains and exits, writing its CPU profile); SIGKILL if it has not within 30 s. */
async function stopGracefully(replica: ChildWorker): Promise<void> {
  if (replica.child.exitCode !== null || replica.child.signalCode !== null) return;
  const exited = once(replica.child, 'exit');
  replica.child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000).unref())]);
}

async function oneRun(
  replicaCount: number,
  apps: number,
  redisUrl: string,
  profileDir?: string,
): Promise<RunResult> {
  const sandbox: Sandbox = await startSandbox({ podReadyMs: 200, unreadyImages: [BROKEN_IMAGE_GLOB] });
  const repo = await createFleetRepository();
  const dir = await mkdtemp(path.join(tmpdir(), 'rewind-bench-replicas-'));
  const prefix = `{rewind-bench-replicas-${process.pid}-${Date.now()}}`;
  const redis = new Redis(redisUrl);
  const replicas: ChildWorker[] = [];
  const nodeArgs = profileDir ? await childProfileArgs(profileDir) : [];
  try {
    const names = Array.from({ length: apps }, (_, i) => `app-${i}`);
    await repo.commit(
      'apps',
      Object.fromEntries(
        names.map((n) => [`apps/${n}/deployment.yaml`, argoDeployment(n, 'example/app:1.0.0', 2)]),
      ),
    );
    sandbox.store.create(GIT_REPOSITORY, {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'GitRepository',
      metadata: { name: 'fleet', namespace: 'flux-system' },
      spec: { url: `file://${repo.remote}`, ref: { branch: 'main' }, interval: '10m' },
    });
    for (const name of names) {
      sandbox.store.create(KUSTOMIZATION, {
        apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
        kind: 'Kustomization',
        metadata: { name, namespace: 'flux-system' },
        spec: {
          interval: '10m',
          path: `./apps/${name}`,
          prune: true,
          wait: true,
          timeout: '3s',
          sourceRef: { kind: 'GitRepository', name: 'fleet' },
        },
      });
    }
    const head = await repo.head();
    for (const name of names)
      await waitForKustomization(sandbox, 'flux-system', name, readyFor(head), 120_000);

    const configFile = path.join(dir, 'rewind.yaml');
    for (let i = 0; i < replicaCount; i++) {
      await writeFile(
        `${configFile}.${i}`,
        stringify({
          redis: { url: redisUrl, prefix },
          kubernetes: { kubeconfig: sandbox.kubeconfigPath },
          git: { workdir: path.join(dir, `git-${i}`), allowFileRemotes: true },
          policy: { gracePeriod: '0s', verifyTimeout: '120s', budgets: { perHour: 5, perDay: 10 } },
          leaderElection: {
            leaseDuration: `${LEASE_MS}ms`,
            renewDeadline: '3s',
            retryPeriod: `${RETRY_MS}ms`,
          },
        }),
      );
      replicas.push(
        spawnRewind(
          ['start', '--config', `${configFile}.${i}`, '--listen', '0'],
          {
            POD_NAME: `replica-${i}`,
            REWIND_LOG_LEVEL: 'info',
          },
          nodeArgs,
        ),
      );
    }
    await until(
      () => replicas.every((r) => r.output().includes('"msg":"rewind started"')),
      'every replica started',
      180_000,
    );
    const holder = (): string =>
      sandbox.store.get(LEASE, 'rewind-system', 'rewind-detector')?.spec?.holderIdentity ?? '';
    await until(() => holder() !== '', 'a leader', 30_000);

    // One commit per app, pushed together: N independent incidents on one bad revision.
    for (const name of names) {
      await writeFile(
        path.join(repo.workDir, 'apps', name, 'deployment.yaml'),
        argoDeployment(name, 'example/app:1.1.0-broken', 2),
      );
      await repo.work.add(['--', `apps/${name}/deployment.yaml`]);
      await repo.work.commit(`Break ${name}`);
    }
    await repo.work.push('origin', 'main');
    const bad = (await repo.work.revparse(['HEAD'])).trim();
    const pushedAt = performance.now();
    const pushedAtMicros = profileClockMicros();
    // The benchmark process (the sandbox cluster) first, then the replicas.
    const meter = profileDir
      ? await cpuMeter([process.pid, ...replicas.map((r) => r.child.pid!)])
      : undefined;
    sandbox.store.mutate(GIT_REPOSITORY, 'flux-system', 'fleet', (r) => {
      r.metadata.annotations = {
        ...r.metadata.annotations,
        'reconcile.fluxcd.io/requestedAt': String(Date.now()),
      };
    });
    const store = new RedisIncidentStore(redis, prefix);
    let ended = 0;
    let converged = 0;
    let states: string[] = [];
    let batch: Awaited<ReturnType<typeof store.list>> = [];
    await until(
      async () => {
        // Reverts pushed one after another make new heads on which apps not yet reverted fail
        // again: those incidents (AlreadyReverted, Recovered) must end too.
        const all = await store.list(1000);
        states = all.map((r) => `${r.id} ${JSON.stringify(r.conditions.at(-1))}`);
        const records = all.filter((r) => r.badRevision === bad);
        batch = records;
        ended = records.filter((r) => isTerminal(r.conditions.at(-1)!.type)).length;
        converged = records.filter((r) => r.conditions.at(-1)!.type === 'Converged').length;
        return ended === apps && all.every((r) => isTerminal(r.conditions.at(-1)!.type));
      },
      () =>
        `${apps} incidents on ${bad} to end: ${states.join('\n')}\n${replicas.map((r) => r.output().slice(-4000)).join('\n---\n')}`,
      Number(process.env['REWIND_BENCH_BATCH_TIMEOUT_MS'] ?? 300_000),
    );
    const batchMs = performance.now() - pushedAt;
    const cpu = await meter?.();
    if (profileDir) {
      await writeProfileWindow(profileDir, pushedAtMicros, profileClockMicros());
      await Promise.all(replicas.map(stopGracefully));
    }
    const result: RunResult = {
      ...(cpu ? { cpu } : {}),
      replicas: replicaCount,
      batchMs: Math.round(batchMs),
      incidentsPerMinute: Number(((apps * 60_000) / batchMs).toFixed(1)),
      converged,
      outcomes: countBy(batch.map((r) => `${r.conditions.at(-1)!.type}/${r.conditions.at(-1)!.reason}`)),
      stageMedians: medians(batch.map((r) => stageTimings(r) as Record<string, number>)),
    };

    if (replicaCount >= 2 && !profileDir) {
      const byName = (id: string): ChildWorker => replicas[Number(id.split('-')[1])]!;
      const leader = holder();
      const killedAt = performance.now();
      byName(leader).child.kill('SIGKILL');
      await until(() => holder() !== leader && holder() !== '', 'a new leader after SIGKILL', 60_000);
      result.killTakeoverMs = Math.round(performance.now() - killedAt);
      if (replicaCount >= 3) {
        const next = holder();
        const stoppedAt = performance.now();
        byName(next).child.kill('SIGTERM');
        await until(() => holder() !== next && holder() !== '', 'a new leader after SIGTERM', 60_000);
        result.gracefulTakeoverMs = Math.round(performance.now() - stoppedAt);
      }
    }
    return result;
  } finally {
    await Promise.all(replicas.map((r) => r.stop()));
    await deletePrefix(redis, prefix);
    redis.disconnect();
    await sandbox.stop();
    await repo.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
}

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

function medians(rows: readonly Record<string, number>[]): Record<string, number> {
  const keys = new Set(rows.flatMap((row) => Object.keys(row)));
  return Object.fromEntries(
    [...keys].map((key) => [key, Math.round(median(rows.flatMap((row) => (key in row ? [row[key]!] : []))))]),
  );
}

export async function run(args: string[]): Promise<unknown> {
  const apps = arg(args, '--apps', 12);
  const redis = await ensureRedis(process.env['REDIS_URL']);
  try {
    const runs: RunResult[] = [];
    const profileDir = cpuProfileDir(args);
    for (const count of [1, 2, 3])
      runs.push(
        await oneRun(count, apps, redis.url, profileDir && path.join(profileDir, `replicas-${count}`)),
      );
    const baseline = runs[0]!;
    const ratio = (value: number, base: number): number => Number((value / base).toFixed(2));
    return {
      benchmark: 'replicas',
      what: `${apps} apps broken by one push (one commit each); rewind start x 1, 2, 3 processes (leader-elected detector, shared BullMQ workers, concurrency 4 each)`,
      ...(profileDir ? { cpuProfiles: profileDir } : {}),
      baseline: { replicas: 1, batchMs: baseline.batchMs, incidentsPerMinute: baseline.incidentsPerMinute },
      runs: runs.map((r) => ({
        ...r,
        throughputRatio: ratio(r.incidentsPerMinute, baseline.incidentsPerMinute),
      })),
      failover: {
        ...(profileDir
          ? {
              skipped: 'not measured while profiling (the processes stop gracefully to write their profiles)',
            }
          : {}),
        leaseDurationMs: LEASE_MS,
        retryPeriodMs: RETRY_MS,
        ...Object.fromEntries(
          runs
            .filter((r) => r.killTakeoverMs !== undefined)
            .map((r) => [
              `replicas${r.replicas}`,
              {
                sigkillTakeoverMs: r.killTakeoverMs,
                sigkillRatioToLease: ratio(r.killTakeoverMs!, LEASE_MS),
                ...(r.gracefulTakeoverMs === undefined
                  ? {}
                  : {
                      sigtermTakeoverMs: r.gracefulTakeoverMs,
                      sigtermRatioToLease: ratio(r.gracefulTakeoverMs, LEASE_MS),
                    }),
              },
            ]),
        ),
      },
    };
  } finally {
    await redis.stop();
  }
}
