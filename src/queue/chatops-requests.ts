// What Rewind remembers about each ChatOps request (a GitHub comment, a Slack command), by the
// request's own id: the incident it started (so a redelivery, a retry or a crash never starts a
// second one), and the steps already done (reaction, reply, result). Kept a week, like the jobs.
import type { Redis } from 'ioredis';

const WEEK_SECONDS = 7 * 24 * 3600;

export type RequestStep = 'reacted' | 'replied' | 'result';

export class ChatOpsRequests {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(requestId: string): string {
    return `${this.prefix}:chatops:request:${requestId}`;
  }

  async incidentFor(requestId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.key(requestId), 'incident')) ?? undefined;
  }

  /** Remembers `incidentId` for the request unless one is remembered already; returns the one that counts. */
  async claimIncident(requestId: string, incidentId: string): Promise<string> {
    const key = this.key(requestId);
    const [[, set]] = (await this.redis
      .multi()
      .hsetnx(key, 'incident', incidentId)
      .expire(key, WEEK_SECONDS)
      .exec()) as [[Error | null, number], [Error | null, number]];
    return set === 1 ? incidentId : ((await this.redis.hget(key, 'incident')) ?? incidentId);
  }

  async done(requestId: string, step: RequestStep): Promise<boolean> {
    return (await this.redis.hexists(this.key(requestId), step)) === 1;
  }

  async mark(requestId: string, step: RequestStep): Promise<void> {
    const key = this.key(requestId);
    await this.redis.multi().hset(key, step, String(Date.now())).expire(key, WEEK_SECONDS).exec();
  }
}
