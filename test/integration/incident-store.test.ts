// Incident records in a real Redis: writes are compare-and-set, so when several workers hold a copy
// of one incident (after Redis is lost: the in-flight rollback job, the resumed one, the verifier)
// the slowest cannot write an older state over a newer one.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appKey, appRef } from '../../src/domain/app-ref.ts';
import { parseCommitSha } from '../../src/domain/commit-sha.ts';
import { IncidentChangedError } from '../../src/domain/errors.ts';
import { newIncident } from '../../src/domain/incident.ts';
import { silentLogger } from '../../src/logging.ts';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import { IncidentRecorder } from '../../src/pipeline/incident-recorder.ts';
import { systemClock } from '../../src/pipeline/ports.ts';
import { RedisIncidentStore } from '../../src/queue/incident-store.ts';
import { redisUrl } from '../global-setup.ts';

const prefix = `rewind-test-incident-store-${process.pid}-${Date.now()}`;
let redis: Redis;
let store: RedisIncidentStore;
let counter = 0;

beforeAll(() => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  store = new RedisIncidentStore(redis, prefix);
});

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

/** A new, unsaved incident at Detected, with its own id. */
function freshRecord(): IncidentRecord {
  const bad = parseCommitSha((++counter).toString(16).padStart(40, 'a'));
  const incident = newIncident({
    app: appRef('flux-kustomization', 'flux-system', `app${counter}`),
    badRevision: bad,
    reason: 'HealthCheckFailed',
    message: 'failing',
    at: new Date(),
  });
  return {
    ...incident,
    details: { trigger: 'engine', dryRun: false },
    updatedAt: new Date().toISOString(),
  };
}

async function created(record: IncidentRecord): Promise<IncidentRecord> {
  const outcome = await store.create(record);
  if (outcome.kind !== 'saved') throw new Error('expected a new record');
  return outcome.record;
}

const deps = () => ({ incidents: store, clock: systemClock, log: silentLogger() });

/** Walks a recorder from Detected to ReconcileRequested, as a rollback job does. */
async function toReconcileRequested(recorder: IncidentRecorder): Promise<void> {
  await recorder.to('Located', 'SingleCommit', 'found', recorder.record.badRevision);
  await recorder.to('RevertPrepared', 'scoped', 'prepared');
  await recorder.to('Merged', 'DirectPush', 'pushed');
  await recorder.to('ReconcileRequested', 'RequestedAt', 'requested');
}

describe('incident store (compare-and-set)', () => {
  it('keeps the stored incident when a second job creates the same one', async () => {
    const record = freshRecord();
    const first = await created(record);
    const again = await store.create({ ...record, details: { ...record.details, dryRun: true } });
    expect(again).toMatchObject({ kind: 'conflict', current: { version: first.version } });
    expect((await store.get(first.id))?.details.dryRun).toBe(false);
  });

  it('refuses a write from a stale copy, and accepts one from the copy last read', async () => {
    const first = await created(freshRecord());
    const a = await store.save({ ...first, details: { ...first.details, culpritRule: 'a' } });
    expect(a.kind).toBe('saved');
    const stale = await store.save({ ...first, details: { ...first.details, culpritRule: 'stale' } });
    expect(stale.kind).toBe('conflict');
    expect((await store.get(first.id))?.details.culpritRule).toBe('a');
    if (a.kind !== 'saved') return;
    expect((await store.save({ ...a.record, details: { ...a.record.details, culpritRule: 'b' } })).kind).toBe(
      'saved',
    );
  });

  it('writes a record lost with Redis back from the first copy that saves it', async () => {
    const first = await created(freshRecord());
    await redis.del(`${prefix}:incident:${first.id}`);
    expect((await store.save(first)).kind).toBe('saved');
    expect((await store.save(first)).kind).toBe('conflict');
  });

  it('updates records written before records had versions', async () => {
    const { version: _version, ...legacy } = await created(freshRecord());
    await redis.set(`${prefix}:incident:${legacy.id}`, JSON.stringify(legacy));
    expect((await store.save({ ...legacy, updatedAt: new Date().toISOString() })).kind).toBe('saved');
  });

  it('a rollback job holding an older copy cannot move a Converged incident back to ReconcileRequested', async () => {
    const start = await created(freshRecord());
    const rollback = new IncidentRecorder(start, deps());
    await toReconcileRequested(rollback);
    // The verifier and a slower (resumed) rollback job both read the incident at ReconcileRequested.
    const verifier = new IncidentRecorder((await store.get(start.id))!, deps());
    const slower = new IncidentRecorder((await store.get(start.id))!, deps());
    await verifier.to('Converged', 'LastGoodReplicaSet', 'converged');
    await expect(slower.details({ reconcileToken: 'late' })).rejects.toBeInstanceOf(IncidentChangedError);
    const stored = (await store.get(start.id))!;
    expect(stored.conditions.at(-1)?.type).toBe('Converged');
    expect(stored.details.reconcileToken).toBeUndefined();
  });
});

describe('retention of incident records', () => {
  const retentionMs = 400;
  const shortPrefix = `${prefix}-retention`;
  const indexKey = `${shortPrefix}:incidents`;

  it('expires ended incidents after the retention, never one in flight, and leaves no dangling id in the index', async () => {
    const short = new RedisIncidentStore(redis, shortPrefix, retentionMs);
    const shortDeps = { incidents: short, clock: systemClock, log: silentLogger() };
    const inFlight = await short.create(freshRecord());
    const ending = await short.create(freshRecord());
    if (inFlight.kind !== 'saved' || ending.kind !== 'saved') throw new Error('expected new records');
    await new IncidentRecorder(ending.record, shortDeps).stop('Ignored', 'Recovered', 'recovered');
    expect(await redis.pttl(`${shortPrefix}:incident:${ending.record.id}`)).toBeGreaterThan(0);
    expect(await redis.pttl(`${shortPrefix}:incident:${inFlight.record.id}`)).toBe(-1);

    await new Promise((r) => setTimeout(r, retentionMs * 3));
    expect(await short.get(ending.record.id)).toBeUndefined();
    expect(await short.get(inFlight.record.id)).toBeDefined();
    // The next write sweeps the index: no id is left whose record is gone.
    await short.create(freshRecord());
    expect(await redis.zrange(indexKey, 0, -1)).not.toContain(ending.record.id);
    expect((await short.list()).map((r) => r.id)).toContain(inFlight.record.id);
  });

  it('takes the expiry away again when an ended incident carries on (a person merged the refused pull request)', async () => {
    const short = new RedisIncidentStore(redis, shortPrefix, retentionMs);
    const first = await short.create(freshRecord());
    if (first.kind !== 'saved') throw new Error('expected a new record');
    const recorder = new IncidentRecorder(first.record, {
      incidents: short,
      clock: systemClock,
      log: silentLogger(),
    });
    await recorder.to('Located', 'SingleCommit', 'found', recorder.record.badRevision);
    await recorder.to('RevertPrepared', 'Scoped', 'prepared');
    await recorder.to('PullRequestOpened', 'Opened', 'opened');
    await recorder.to('NeedsHuman', 'MergeRefused', 'refused');
    const key = `${shortPrefix}:incident:${recorder.record.id}`;
    expect(await redis.pttl(key)).toBeGreaterThan(0);
    await recorder.to('Merged', 'MergedByPerson', 'merged');
    expect(await redis.pttl(key)).toBe(-1);
  });
});

describe("indexed reads: one app's incidents, Rewind's own commits", () => {
  const revertSha = (n: number) => parseCommitSha(n.toString(16).padStart(40, 'c'));
  /** A recorder on a new incident saved in `into`. */
  async function recorderOn(into: RedisIncidentStore): Promise<IncidentRecorder> {
    const saved = await into.create(freshRecord());
    if (saved.kind !== 'saved') throw new Error('expected a new record');
    return new IncidentRecorder(saved.record, { incidents: into, clock: systemClock, log: silentLogger() });
  }

  it("lists one app's incidents without the others, newest first", async () => {
    const ownPrefix = `${prefix}-by-app`;
    const indexed = new RedisIncidentStore(redis, ownPrefix);
    const a1 = freshRecord();
    const other = freshRecord();
    const a2 = {
      ...freshRecord(),
      app: a1.app,
      id: `${a1.id}.r2`,
      updatedAt: new Date(Date.now() + 1000).toISOString(),
    };
    for (const r of [a1, other, a2]) await indexed.create(r);
    expect((await indexed.listForApp(a1.app)).map((r) => r.id)).toEqual([a2.id, a1.id]);
    expect((await indexed.listForApp(other.app)).map((r) => r.id)).toEqual([other.id]);
  });

  it('knows the revert and merge SHAs recorded on incidents, and no other commit', async () => {
    const indexed = new RedisIncidentStore(redis, `${prefix}-own`);
    const recorder = await recorderOn(indexed);
    await recorder.details({ revert: { kind: 'scoped', sha: revertSha(1) } });
    await recorder.details({ merge: { sha: revertSha(2), method: 'squash' } });
    expect(await indexed.isOwnCommit(revertSha(1))).toBe(true);
    expect(await indexed.isOwnCommit(revertSha(2))).toBe(true);
    expect(await indexed.isOwnCommit(recorder.record.badRevision)).toBe(false);
    expect([...(await indexed.ownCommits())].sort()).toEqual([revertSha(1), revertSha(2)]);
  });

  it('indexes records written before the indexes existed, once', async () => {
    const oldPrefix = `${prefix}-backfill`;
    const writer = new RedisIncidentStore(redis, oldPrefix);
    const recorder = await recorderOn(writer);
    await recorder.details({ revert: { kind: 'scoped', sha: revertSha(3) } });
    // What an earlier version left: the record and the global index only.
    await redis.del(`${oldPrefix}:own-commits`, `${oldPrefix}:app-incidents:${appKey(recorder.record.app)}`);
    const reader = new RedisIncidentStore(redis, oldPrefix);
    expect(await reader.isOwnCommit(revertSha(3))).toBe(true);
    expect((await reader.listForApp(recorder.record.app)).map((r) => r.id)).toEqual([recorder.record.id]);
    expect(await redis.exists(`${oldPrefix}:indexes-backfilled`)).toBe(1);
  });

  it('drops an expired incident from its app index and an own commit past the retention', async () => {
    const retentionMs = 400;
    const shortPrefix = `${prefix}-own-retention`;
    const short = new RedisIncidentStore(redis, shortPrefix, retentionMs);
    const recorder = await recorderOn(short);
    await recorder.details({ revert: { kind: 'scoped', sha: revertSha(4) } });
    await recorder.stop('Ignored', 'Recovered', 'recovered');
    expect(await short.isOwnCommit(revertSha(4))).toBe(true);
    await new Promise((r) => setTimeout(r, retentionMs * 3));
    expect(await short.listForApp(recorder.record.app)).toEqual([]);
    await short.create(freshRecord()); // the next write sweeps
    expect(await short.isOwnCommit(revertSha(4))).toBe(false);
    expect(await redis.zcard(`${shortPrefix}:app-incidents:${appKey(recorder.record.app)}`)).toBe(0);
  });
});
