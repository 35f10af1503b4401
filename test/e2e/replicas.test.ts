// Several replicas: three `rewind start` processes on one sandbox, one Redis prefix and one shared
// git workdir. One detector at a time is elected through the Lease; rollback and verify jobs go to
// whichever replica takes them. The leader is SIGKILLed while an app is failing: another replica
// takes detection over within the lease duration (plus the candidates' retry), and the incident is
// finished once (one incident id, one revert commit). A graceful stop releases the lease, so the
// next replica leads well before the lease would have expired. Every Redis key the replicas create
// during the run (sampled while they work) hashes to the one slot of the prefix's hash tag, as
// Redis Cluster needs for BullMQ's and Rewind's multi-key scripts.
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { isTerminal } from '../../src/domain/incident.ts';
import { RedisIncidentStore } from '../../src/queue/incident-store.ts';
import { type ChildWorker, spawnRewind } from '../../src/sandbox/child-worker.ts';
import { deletePrefix, revertCommitsFor } from '../../src/sandbox/loop.ts';
import { LEASE, POD } from '../../src/sandbox/resources.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/sandbox.ts';
import {
  BROKEN_IMAGE_GLOB,
  type Fleet,
  createFleet,
  readyFor,
  waitForKustomization,
} from '../../src/sandbox/scenario.ts';
import { redisUrl } from '../global-setup.ts';
import { measureCliStartMs } from '../helpers/cli.ts';
import { keySlot } from '../helpers/redis-slot.ts';
import { until } from '../helpers/wait.ts';

const LEASE_MS = 4000;
const RETRY_MS = 400;
/** Three processes start at once on two cores: each costs about one measured start, in turn. */
const START_MS = await measureCliStartMs();
const STARTUP_MS = 3 * START_MS + 30_000;

let sandbox: Sandbox;
let fleet: Fleet;
let dir: string;
let configFile: string;
let redis: Redis;
const prefix = `{rewind-test-replicas-${process.pid}-${Date.now()}}`;
const replicas = new Map<string, ChildWorker>();
/** Every key seen under the prefix while the replicas ran (locks and wake flags come and go). */
const keysSeen = new Set<string>();
let sampling: NodeJS.Timeout | undefined;

function holder(): string {
  return sandbox.store.get(LEASE, 'rewind-system', 'rewind-detector')?.spec?.holderIdentity ?? '';
}

function start(identity: string): void {
  // POD_NAME is the identity on the Lease, as the Downward API sets it in deploy/deployment.yaml.
  replicas.set(
    identity,
    spawnRewind(['start', '--config', configFile, '--listen', '0'], { POD_NAME: identity }),
  );
}

function output(): string {
  return [...replicas].map(([id, r]) => `--- ${id}\n${r.output().slice(-3000)}`).join('\n');
}

beforeAll(async () => {
  sandbox = await startSandbox({ podReadyMs: 150, unreadyImages: [BROKEN_IMAGE_GLOB] });
  fleet = await createFleet({ sandbox, timeout: '4s', replicas: 2 });
  dir = await mkdtemp(path.join(tmpdir(), 'rewind-replicas-'));
  redis = new Redis(redisUrl());
  configFile = path.join(dir, 'rewind.yaml');
  await writeFile(
    configFile,
    stringify({
      redis: { url: redisUrl(), prefix },
      kubernetes: { kubeconfig: sandbox.kubeconfigPath },
      // One workdir for every replica: the git mirror lock is a Redis lock.
      git: { workdir: path.join(dir, 'git'), allowFileRemotes: true },
      policy: { gracePeriod: '1s', verifyTimeout: '60s' },
      worker: { lockDuration: '2s' },
      leaderElection: { leaseDuration: `${LEASE_MS}ms`, renewDeadline: '3s', retryPeriod: `${RETRY_MS}ms` },
    }),
  );
  for (const id of ['replica-0', 'replica-1', 'replica-2']) start(id);
  const sampler = new Redis(redisUrl());
  sampling = setInterval(() => {
    void sampler.keys(`${prefix}*`).then((keys) => keys.forEach((k) => keysSeen.add(k)));
  }, 25);
  cleanups = () => {
    clearInterval(sampling);
    sampler.disconnect();
  };
}, STARTUP_MS);

let cleanups = (): void => undefined;

afterAll(async () => {
  cleanups();
  await Promise.all([...replicas.values()].map((r) => r.stop()));
  await deletePrefix(redis, prefix);
  redis.disconnect();
  await sandbox.stop();
  await fleet.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe('several Rewind replicas', () => {
  it('elect one detector, and after the leader is SIGKILLed mid-incident another finishes it once', async () => {
    await until(() => holder().startsWith('replica-'), `a leader\n${output()}`, STARTUP_MS);
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(await fleet.head()));
    const good = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.5.1');
    fleet.notifyPush();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(good));
    // Every replica is up (each one takes a share of the jobs), not only the leader.
    await until(() => [...replicas.values()].every((r) => r.child.exitCode === null), 'replicas alive');

    const bad = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.6.0-broken');
    fleet.notifyPush();
    await until(
      () =>
        sandbox.store
          .list(POD, { namespace: 'default' })
          .some((p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff'),
      'podinfo failing',
      30_000,
    );
    const leader = holder();
    const transitions = sandbox.store.get(LEASE, 'rewind-system', 'rewind-detector')?.spec?.leaseTransitions;
    const killedAt = Date.now();
    replicas.get(leader)!.child.kill('SIGKILL');
    await once(replicas.get(leader)!.child, 'exit');
    await until(() => holder() !== leader && holder() !== '', `a new leader\n${output()}`, 60_000, 20);
    const takeoverMs = Date.now() - killedAt;
    // client-go semantics: a candidate takes over once the record has not changed for leaseDuration
    // on its own clock; it saw the last renewal at most one jittered retry after it was written.
    expect(takeoverMs).toBeLessThan(LEASE_MS + 4 * RETRY_MS);
    expect(sandbox.store.get(LEASE, 'rewind-system', 'rewind-detector')?.spec?.leaseTransitions).toBe(
      transitions + 1,
    );

    const store = new RedisIncidentStore(redis, prefix);
    let incident;
    await until(
      async () => {
        incident = (await store.list(50)).find((r) => r.badRevision === bad);
        return incident !== undefined && isTerminal(incident.conditions.at(-1)!.type);
      },
      `the incident to end\n${output()}`,
      90_000,
      100,
    );
    expect(incident!.conditions.at(-1)).toMatchObject({ type: 'Converged' });
    // Neither lost nor doubled: one incident for the bad revision, one revert commit carrying it.
    expect((await store.list(50)).filter((r) => r.badRevision === bad)).toHaveLength(1);
    expect(await revertCommitsFor(fleet, incident!.id)).toHaveLength(1);
  }, 180_000);

  it('creates every Redis key under the hash-tagged prefix, all in one cluster slot', () => {
    const kinds = new Set([...keysSeen].map((k) => k.slice(prefix.length + 1).split(':')[0]));
    // BullMQ's queues and Rewind's own records, locks and flags were all seen.
    for (const kind of ['rollback', 'verify', 'incident', 'incidents', 'lock']) expect(kinds).toContain(kind);
    const slots = new Set([...keysSeen].map(keySlot));
    expect(slots, [...keysSeen].join('\n')).toEqual(new Set([keySlot(prefix)]));
  });

  it('a graceful stop releases the lease: the next replica leads well within the lease duration', async () => {
    const leader = holder();
    const replica = replicas.get(leader)!;
    const stoppedAt = Date.now();
    replica.child.kill('SIGTERM');
    await until(() => holder() !== leader, `the lease released\n${output()}`, 30_000, 10);
    const releasedMs = Date.now() - stoppedAt;
    await until(() => holder() !== '', `a new leader\n${output()}`, LEASE_MS, 10);
    const takeoverMs = Date.now() - stoppedAt;
    // Released (empty holder) on the way out, taken at the next candidate's retry.
    expect(takeoverMs - releasedMs).toBeLessThan(LEASE_MS / 2);
    if (replica.child.exitCode === null) await once(replica.child, 'exit');
    expect(replica.child.exitCode, output()).toBe(0);
  }, 60_000);
});
