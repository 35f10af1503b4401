// Incident records in Redis: one JSON string per incident plus a sorted index by last update.
// Redis is a cache here: losing it loses no incident (the detector re-derives open incidents from
// the cluster and every step is idempotent), only history for `rewind status`.
// Writes are compare-and-set on the record's version: after Redis is lost, a resumed rollback job,
// the in-flight one and the verifier may all hold a copy, and the slowest must not write an ended
// incident back to an older condition. Ended incidents expire after the retention
// (redis.incidentRetention); incidents in flight never do.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { isTerminal } from '../domain/incident.ts';
import { type AppRef, appKey } from '../domain/app-ref.ts';
import {
  type IncidentRecord,
  type IncidentStore,
  type SaveOutcome,
  storableRecord,
} from '../pipeline/incident-record.ts';

/**
 * KEYS: record, index, own-commits index, the app's index. ARGV: mode ('create' | 'update'),
 * expected version ('' for a record written before versions existed), new JSON, score, id, retention
 * in ms when the record is ended (else ''), record key prefix, index cutoff score, then the revert and
 * merge SHAs the record names ('' when none). Returns nil when written, else the stored JSON.
 * An ended record expires after the retention; a record in flight never does (a later write of an
 * earlier condition, e.g. a merge after NeedsHuman, takes its expiry away again). Ids in the indexes
 * older than the cutoff whose record expired are removed a few at a time, so the indexes follow; own
 * commits older than the cutoff are dropped.
 */
const COMPARE_AND_SET = `
local current = redis.call('GET', KEYS[1])
if current then
  if ARGV[1] == 'create' then return current end
  local version = cjson.decode(current)['version']
  if type(version) ~= 'string' then version = '' end
  if version ~= ARGV[2] then return current end
end
if ARGV[6] ~= '' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[6])
else
  redis.call('SET', KEYS[1], ARGV[3])
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
for i = 9, 10 do
  if ARGV[i] ~= '' then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[i]) end
end
for _, key in ipairs({ KEYS[2], KEYS[4] }) do
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[8], 'LIMIT', 0, 20)) do
    if redis.call('EXISTS', ARGV[7] .. id) == 0 then redis.call('ZREM', key, id) end
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[8])
return false
`;

/**
 * Records written before the own-commit and per-app indexes existed are indexed once, from the
 * newest of them, by the first process that needs an index (idempotent: ZADD of what is there).
 */
const BACKFILL_FROM = 500;

/** How long an ended incident is kept when the caller does not say (config redis.incidentRetention). */
export const DEFAULT_INCIDENT_RETENTION_MS = 30 * 24 * 3600 * 1000;

export class RedisIncidentStore implements IncidentStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly retentionMs = DEFAULT_INCIDENT_RETENTION_MS,
  ) {}

  private key(id: string): string {
    return `${this.recordPrefix}${id}`;
  }

  private get recordPrefix(): string {
    return `${this.prefix}:incident:`;
  }

  private get indexKey(): string {
    return `${this.prefix}:incidents`;
  }

  /** Rewind's own commits (reverts pushed, merges landed) named by incident records, by time. */
  private get ownCommitsKey(): string {
    return `${this.prefix}:own-commits`;
  }

  /** The ids of one app's incidents, by last update. */
  private appIndexKey(app: AppRef): string {
    return `${this.prefix}:app-incidents:${appKey(app)}`;
  }

  /** Set once the indexes hold what was recorded before they existed. */
  private get backfilledKey(): string {
    return `${this.prefix}:indexes-backfilled`;
  }

  async get(id: string): Promise<IncidentRecord | undefined> {
    const raw = await this.redis.get(this.key(id));
    return raw ? (JSON.parse(raw) as IncidentRecord) : undefined;
  }

  create(record: IncidentRecord): Promise<SaveOutcome> {
    return this.write('create', record);
  }

  save(record: IncidentRecord): Promise<SaveOutcome> {
    return this.write('update', record);
  }

  private async write(mode: 'create' | 'update', given: IncidentRecord): Promise<SaveOutcome> {
    // The redaction boundary of incident records: nothing reaches Redis (or the caller's copy, which
    // notifications are built from) before it.
    const record = storableRecord(given);
    const saved: IncidentRecord = { ...record, version: randomUUID() };
    const last = record.conditions.at(-1);
    const ended = last !== undefined && isTerminal(last.type);
    const current = (await this.redis.eval(
      COMPARE_AND_SET,
      4,
      this.key(record.id),
      this.indexKey,
      this.ownCommitsKey,
      this.appIndexKey(record.app),
      mode,
      record.version ?? '',
      JSON.stringify(saved),
      Date.parse(record.updatedAt),
      record.id,
      ended ? String(this.retentionMs) : '',
      this.recordPrefix,
      Date.now() - this.retentionMs,
      record.details.revert?.sha ?? '',
      record.details.merge?.sha ?? '',
    )) as string | null;
    return current === null
      ? { kind: 'saved', record: saved }
      : { kind: 'conflict', current: JSON.parse(current) as IncidentRecord };
  }

  async list(limit = 50): Promise<IncidentRecord[]> {
    return this.read(this.indexKey, await this.redis.zrevrange(this.indexKey, 0, limit - 1));
  }

  /** The records of `ids` from `index`, in that order; ids whose record expired leave the index. */
  private async read(index: string, ids: readonly string[]): Promise<IncidentRecord[]> {
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map((id) => this.key(id)));
    const expired = ids.filter((_, i) => raws[i] === null);
    if (expired.length > 0) await this.redis.zrem(index, ...expired);
    return raws.filter((raw): raw is string => raw !== null).map((raw) => JSON.parse(raw) as IncidentRecord);
  }

  /** The app's incidents, newest first (an indexed read: no scan of other apps' records). */
  async listForApp(app: AppRef, limit = 50): Promise<IncidentRecord[]> {
    await this.backfill();
    return this.read(this.appIndexKey(app), await this.redis.zrevrange(this.appIndexKey(app), 0, limit - 1));
  }

  async isOwnCommit(sha: string): Promise<boolean> {
    await this.backfill();
    return (await this.redis.zscore(this.ownCommitsKey, sha)) !== null;
  }

  async ownCommits(): Promise<ReadonlySet<string>> {
    await this.backfill();
    return new Set(await this.redis.zrange(this.ownCommitsKey, 0, -1));
  }

  private backfilled: Promise<void> | undefined;

  /**
   * Indexes what was recorded before the indexes existed, once per Redis (a marker key) and once per
   * process. After Redis was lost the marker is gone with the records, and there is nothing to index.
   */
  private backfill(): Promise<void> {
    this.backfilled ??= (async () => {
      if (await this.redis.exists(this.backfilledKey)) return;
      const records = await this.list(BACKFILL_FROM);
      const batch = this.redis.multi();
      for (const r of records) {
        const score = Date.parse(r.updatedAt);
        batch.zadd(this.appIndexKey(r.app), score, r.id);
        for (const sha of [r.details.revert?.sha, r.details.merge?.sha])
          if (sha) batch.zadd(this.ownCommitsKey, score, sha);
      }
      batch.set(this.backfilledKey, new Date().toISOString());
      await batch.exec();
    })().catch((error: unknown) => {
      this.backfilled = undefined;
      throw error;
    });
    return this.backfilled;
  }
}
