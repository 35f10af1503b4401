// What the demo prints about an incident: its conditions as they are recorded (seconds after the bad
// push), then the culprit and the rule that found it, the revert, the verification, the pull request
// (with the sandbox forge) and the stage timings. Shared by every engine's scenario.
import { isTerminal, stageTimings } from '../domain/incident.ts';
import type { IncidentRecord } from '../pipeline/incident-record.ts';
import type { SandboxForge } from '../sandbox/forge/server.ts';

export type LogLine = (line: string) => void;

/** Prints each condition of the incident for `badSha` once, until the incident is final or the deadline. */
export async function followIncident(
  incidents: { list(limit?: number): Promise<IncidentRecord[]> },
  badSha: string,
  since: number,
  log: LogLine,
  deadline: number,
): Promise<IncidentRecord | undefined> {
  const printed = new Set<string>();
  while (Date.now() < deadline) {
    const record = (await incidents.list(20)).find((r) => r.badRevision === badSha);
    if (record) {
      for (const c of record.conditions) {
        const key = `${c.type}@${c.at}`;
        if (printed.has(key)) continue;
        printed.add(key);
        const t = ((Date.parse(c.at) - since) / 1000).toFixed(2).padStart(6);
        log(`  ${t}s  ${c.type.padEnd(18)} ${c.message}`);
      }
      if (isTerminal(record.conditions.at(-1)!.type)) return record;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

/** Culprit, revert, verification, pull request and stage timings of a final incident. */
export async function reportIncident(
  record: IncidentRecord,
  log: LogLine,
  sandboxForge?: SandboxForge,
): Promise<void> {
  const d = record.details;
  log(
    `culprit           ${record.culprit?.slice(0, 7) ?? '?'} "${d.culpritSubject ?? ''}" (rule ${d.culpritRule}, ${d.confidence} confidence, ${d.rangeCommits} candidate(s))`,
  );
  for (const change of d.templateChanges ?? []) log(`template change   ${change}`);
  if (d.revert?.sha)
    log(
      `revert            ${d.revert.sha.slice(0, 7)} (${d.revert.kind}: ${(d.revert.paths ?? []).join(', ')})`,
    );
  for (const v of d.verification ?? []) log(`verified          ${v.namespace}/${v.name}: ${v.state}`);
  for (const w of d.warnings ?? []) log(`warning           ${w}`);
  if (d.pr && sandboxForge) {
    const pulls = sandboxForge.state.pulls;
    log(`pull request      #${d.pr.number} ${d.pr.url} (${pulls.length} pull request(s) on the forge)`);
    // The result comment is posted right after the Converged condition is recorded.
    const number = d.pr.number;
    const resultPosted = (): boolean =>
      sandboxForge.state.comments.some((c) => c.issueNumber === number && c.body.includes('rewind:result'));
    for (let i = 0; i < 100 && !resultPosted(); i++) await new Promise((r) => setTimeout(r, 50));
    const comments = sandboxForge.state.comments.filter((c) => c.issueNumber === number);
    for (const c of comments)
      log(`  comment         ${c.body.split('\n').find((l) => l.trim() && !l.startsWith('<!--')) ?? ''}`);
  }
  const timings = stageTimings(record);
  log(
    `stage timings     ${Object.entries(timings)
      .map(([k, ms]) => `${k} ${(ms / 1000).toFixed(2)}s`)
      .join(', ')}`,
  );
}
