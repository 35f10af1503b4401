// `rewind status` with nothing to show says where it looked: a Rewind run with another config (the
// kept demo's, say) keeps its incidents under its own Redis prefix, and "no incidents" alone misleads.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { localRedisUrl } from '../../src/demo/redis.ts';
import { printStatus } from '../../workers/status.ts';

describe('rewind status with no incidents', () => {
  it('names the Redis and the prefix it read, and that -c names another config', async () => {
    const prefix = `rewind-test-status-${randomUUID()}`;
    const config = parseConfig(
      { redis: { url: localRedisUrl(), prefix }, git: { workdir: '/tmp/rewind-status-test' } },
      { env: {} },
    );
    let out = '';
    const code = await printStatus({ config, output: 'text', limit: 10, print: (text) => (out += text) });
    expect(code).toBe(0);
    expect(out).toContain('no incidents');
    expect(out).toContain(`under the prefix "${prefix}"`);
    expect(out).toContain('-c names another');
  });
});
