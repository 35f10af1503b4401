import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, parseConfig, parseYaml } from '../../src/config/index.ts';

describe('shipped configuration examples', () => {
  it('rewind.example.yaml is a valid configuration', async () => {
    const config = await loadConfig({ file: 'rewind.example.yaml', env: {} });
    expect(config.policy.mode).toBe('auto-merge');
    expect(config.apps.map((a) => a.name)).toEqual(['payments', 'guestbook']);
  });

  it("deploy/configmap.yaml's rewind.yaml is a valid configuration", async () => {
    const configMap = parse(await readFile('deploy/configmap.yaml', 'utf8')) as {
      data: Record<string, string>;
    };
    const config = parseConfig(parseYaml(configMap.data['rewind.yaml']!), { env: {} });
    expect(config.redis.url).toBe('redis://rewind-redis:6379');
  });
});
