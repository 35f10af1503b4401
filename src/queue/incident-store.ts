// Incident records in Redis: one JSON string per incident plus a sorted index by last update.
// Redis is a cache here: losing it loses no incident (the detector re-derives open incidents from
// the cluster and every step is idempotent), only history for `rewind status`.
import type { Redis } from 'ioredis';
import type { IncidentRecord, IncidentStore } from '../pipeline/incident-record.ts';

export class RedisIncidentStore implements IncidentStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:incident:${id}`;
  }

  private get indexKey(): string {
    return `${this.prefix}:incidents`;
  }

  async get(id: string): Promise<IncidentRecord | undefined> {
    const raw = await this.redis.get(this.key(id));
    return raw ? (JSON.parse(raw) as IncidentRecord) : undefined;
  }

  async save(record: IncidentRecord): Promise<void> {
    await this.redis
      .multi()
      .set(this.key(record.id), JSON.stringify(record))
      .zadd(this.indexKey, Date.parse(record.updatedAt), record.id)
      .exec();
  }

  async list(limit = 50): Promise<IncidentRecord[]> {
    const ids = await this.redis.zrevrange(this.indexKey, 0, limit - 1);
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map((id) => this.key(id)));
    return raws.filter((raw): raw is string => raw !== null).map((raw) => JSON.parse(raw) as IncidentRecord);
  }
}
