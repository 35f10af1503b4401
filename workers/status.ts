// `rewind status`: incidents with their state, culprit, revert and stage timings.
import type { RewindConfig } from '../src/config/index.ts';
import { appRefText, parseAppRef } from '../src/domain/app-ref.ts';
import { stageTimings } from '../src/domain/incident.ts';
import { plainLine, redactSecrets } from '../src/domain/outbound-text.ts';
import { assertRedisReachable, redisConnection } from '../src/queue/connection.ts';
import { RedisIncidentStore } from '../src/queue/incident-store.ts';
import { type OutputFormat, renderData } from '../src/output-format.ts';

export interface StatusOptions {
  config: RewindConfig;
  output: OutputFormat;
  limit: number;
  /** Only this app's incidents (`<namespace>/<name>` is a Flux Kustomization, as for `rollback`). */
  app?: string;
  /** For the AGE column; default now. */
  now?: Date;
  /** Receives the whole output, newline-terminated. */
  print: (text: string) => void;
}

/** How long ago, as kubectl prints an AGE: 45s, 12m, 3h, 2d. */
function age(since: string, now: Date): string {
  const seconds = Math.max(0, Math.floor((now.getTime() - Date.parse(since)) / 1000));
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 2 * 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 2 * 86_400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

export async function printStatus(options: StatusOptions): Promise<number> {
  const { config, output, limit, print } = options;
  const app = options.app === undefined ? undefined : parseAppRef(options.app);
  const now = options.now ?? new Date();
  await assertRedisReachable(config.redis);
  const redis = redisConnection(config.redis);
  try {
    const store = new RedisIncidentStore(redis, config.redis.prefix, config.redis.incidentRetentionMs);
    const records = app ? await store.listForApp(app, limit) : await store.list(limit);
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
      // Where it looked: a Rewind run with another config (the kept demo's) keeps its own prefix.
      const where = `in Redis ${redactSecrets(config.redis.url)} under the prefix "${config.redis.prefix}"`;
      print(
        `${app ? `no incidents of ${appRefText(app)}` : 'no incidents'} (${where}; -c names another Rewind's config)\n`,
      );
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
        r.details.dryRun && r.details.revert
          ? 'dry run, not pushed'
          : (r.details.revert?.sha?.slice(0, 7) ?? '-'),
        r.details.pr ? `#${r.details.pr.number}` : '-',
        t.total === undefined ? '-' : `${(t.total / 1000).toFixed(1)}s`,
        age(r.conditions[0]?.at ?? '', now),
      ];
    });
    const header = ['INCIDENT', 'APP', 'STATE', 'REASON', 'CULPRIT', 'REVERT', 'PR', 'TOTAL', 'AGE'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const line = (row: string[]): string =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd();
    // An incident that needs a person says why under its row: the reason alone does not say what to do.
    const lines = [line(header)];
    records.forEach((r, i) => {
      lines.push(line(rows[i]!));
      const last = r.conditions.at(-1);
      if (last?.type === 'NeedsHuman') lines.push(`  needs a human: ${plainLine(last.message, 300)}`);
    });
    print(`${lines.join('\n')}\n`);
    return 0;
  } finally {
    redis.disconnect();
  }
}
