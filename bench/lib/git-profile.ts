// Where git time goes: Rewind's git processes (from the workspace's observer) grouped by command.
import type { GitProcessEvent } from '../../src/git/repo.ts';

export function byCommand(events: readonly GitProcessEvent[]): Record<string, { count: number; ms: number }> {
  const grouped: Record<string, { count: number; ms: number }> = {};
  for (const e of events) {
    const entry = (grouped[e.command] ??= { count: 0, ms: 0 });
    entry.count++;
    entry.ms = Math.round(entry.ms + e.ms);
  }
  return grouped;
}
