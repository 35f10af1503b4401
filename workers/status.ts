// `rewind status`: incidents with their state, culprit, revert and stage timings.
import type { RewindConfig } from '../src/config/index.ts';
import { appRefText } from '../src/domain/app-ref.ts';
import { stageTimings } from '../src/domain/incident.ts';
import { assertRedisReachable, redisConnection } from '../src/queue/connection.ts';
import { RedisIncidentStore } from '../src/queue/incident-store.ts';

export interface StatusOptions {
  config: RewindConfig;
  json: boolean;
  limit: number;
  print: (line: string) => void;
}

export async function printStatus({ config, json, limit, print }: StatusOptions): Promise<number> {
  await assertRedisReachable(config.redis);
  const redis = redisConnection(config.redis);
  try {
    const records = await new RedisIncidentStore(redis, config.redis.prefix).list(limit);
    if (json) {
      print(
        JSON.stringify(
          records.map((r) => ({ ...r, timings: stageTimings(r) })),
          null,
          2,
        ),
      );
      return 0;
    }
    if (records.length === 0) {
      print('no incidents');
      return 0;
    }
    const rows = records.map((r) => {
      const last = r.conditions.at(-1);
      const t = stageTimings(r);
      return [
        r.id,
        appRefText(r.app),
        last?.type ?? '?',
        last?.reason ?? '',
        r.culprit?.slice(0, 7) ?? '-',
        r.details.revert?.sha?.slice(0, 7) ?? '-',
        r.details.pr ? `#${r.details.pr.number}` : '-',
        t.total === undefined ? '-' : `${(t.total / 1000).toFixed(1)}s`,
      ];
    });
    const header = ['INCIDENT', 'APP', 'STATE', 'REASON', 'CULPRIT', 'REVERT', 'PR', 'TOTAL'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    for (const row of [header, ...rows])
      print(
        row
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      );
    return 0;
  } finally {
    redis.disconnect();
  }
}
