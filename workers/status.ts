// `rewind status`: incidents with their state, culprit, revert and stage timings.
import type { RewindConfig } from '../src/config/index.ts';
import { appRefText } from '../src/domain/app-ref.ts';
import { stageTimings } from '../src/domain/incident.ts';
import { assertRedisReachable, redisConnection } from '../src/queue/connection.ts';
import { RedisIncidentStore } from '../src/queue/incident-store.ts';
import { type OutputFormat, renderData } from '../src/output-format.ts';

export interface StatusOptions {
  config: RewindConfig;
  output: OutputFormat;
  limit: number;
  /** Receives the whole output, newline-terminated. */
  print: (text: string) => void;
}

export async function printStatus({ config, output, limit, print }: StatusOptions): Promise<number> {
  await assertRedisReachable(config.redis);
  const redis = redisConnection(config.redis);
  try {
    const records = await new RedisIncidentStore(
      redis,
      config.redis.prefix,
      config.redis.incidentRetentionMs,
    ).list(limit);
    if (output !== 'text') {
      print(
        renderData(
          output,
          records.map((r) => ({ ...r, timings: stageTimings(r) })),
        ),
      );
      return 0;
    }
    if (records.length === 0) {
      print('no incidents\n');
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
    const lines = [header, ...rows].map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
    print(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    redis.disconnect();
  }
}
