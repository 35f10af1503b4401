// Which pull request carries the revert of a culprit, in Redis: the incident that opens it records
// it, and the other incidents of the same commit (an incident storm: hundreds of apps broken by one
// shared base) find it with one read, without taking the culprit's lock or fetching. A cache: when
// Redis is lost, the incidents find the PR the slower way (open PRs by marker, the revert on the
// branch), so nothing depends on it.
import type { Redis } from 'ioredis';
import type { CulpritClaims } from '../pipeline/ports.ts';

/** A week: far longer than any incident lives, short enough that Redis does not fill up. */
const CLAIM_TTL_SECONDS = 7 * 24 * 3600;

export class RedisCulpritClaims implements CulpritClaims {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(sourceKey: string, commit: string): string {
    return `${this.prefix}:culprit-pr:${sourceKey}:${commit}`;
  }

  async pullRequestFor(sourceKey: string, commit: string): Promise<number | undefined> {
    const value = await this.redis.get(this.key(sourceKey, commit));
    const number = value === null ? Number.NaN : Number(value);
    return Number.isSafeInteger(number) && number > 0 ? number : undefined;
  }

  async claim(sourceKey: string, commit: string, pullRequest: number): Promise<void> {
    await this.redis.set(this.key(sourceKey, commit), String(pullRequest), 'EX', CLAIM_TTL_SECONDS);
  }
}
