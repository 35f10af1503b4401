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
import type { IncidentRecord, IncidentStore, SaveOutcome } from '../pipeline/incident-record.ts';

/**
 * KEYS: record, index. ARGV: mode ('create' | 'update'), expected version ('' for a record written
 * before versions existed), new JSON, score, id, retention in ms when the record is ended (else ''),
 * record key prefix, index cutoff score. Returns nil when written, else the stored JSON.
 * An ended record expires after the retention; a record in flight never does (a later write of an
 * earlier condition, e.g. a merge after NeedsHuman, takes its expiry away again). Ids in the index
 * older than the cutoff whose record expired are removed a few at a time, so the index follows.
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
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[8], 'LIMIT', 0, 20)) do
  if redis.call('EXISTS', ARGV[7] .. id) == 0 then redis.call('ZREM', KEYS[2], id) end
end
return false
`;

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

  private async write(mode: 'create' | 'update', record: IncidentRecord): Promise<SaveOutcome> {
    const saved: IncidentRecord = { ...record, version: randomUUID() };
    const last = record.conditions.at(-1);
    const ended = last !== undefined && isTerminal(last.type);
    const current = (await this.redis.eval(
      COMPARE_AND_SET,
      2,
      this.key(record.id),
      this.indexKey,
      mode,
      record.version ?? '',
      JSON.stringify(saved),
      Date.parse(record.updatedAt),
      record.id,
      ended ? String(this.retentionMs) : '',
      this.recordPrefix,
      Date.now() - this.retentionMs,
    )) as string | null;
    return current === null
      ? { kind: 'saved', record: saved }
      : { kind: 'conflict', current: JSON.parse(current) as IncidentRecord };
  }

  async list(limit = 50): Promise<IncidentRecord[]> {
    const ids = await this.redis.zrevrange(this.indexKey, 0, limit - 1);
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map((id) => this.key(id)));
    // Expired between two writes: dropped from the index here too.
    const expired = ids.filter((_, i) => raws[i] === null);
    if (expired.length > 0) await this.redis.zrem(this.indexKey, ...expired);
    return raws.filter((raw): raw is string => raw !== null).map((raw) => JSON.parse(raw) as IncidentRecord);
  }
}
