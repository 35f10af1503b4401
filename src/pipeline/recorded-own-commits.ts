// The commits Rewind recorded as its own on incidents: the revert it pushed and the commit the merge
// of its pull request landed. One of the marks the culprit search uses to never revert Rewind's own
// work (src/git/own-commit.ts); the others live in Git and survive losing Redis.
import type { IncidentStore } from './incident-record.ts';

/** How many recent incidents are looked at; older reverts are known by their marks in Git. */
const RECENT_INCIDENTS = 500;

export async function recordedOwnCommits(incidents: IncidentStore): Promise<ReadonlySet<string>> {
  const shas = new Set<string>();
  for (const record of await incidents.list(RECENT_INCIDENTS)) {
    if (record.details.revert?.sha) shas.add(record.details.revert.sha);
    if (record.details.merge?.sha) shas.add(record.details.merge.sha);
  }
  return shas;
}

/**
 * Whether `sha` is a commit Rewind recorded as its own. The detector asks before opening an
 * incident: while the engine rolls a revert out, the revert is its attempted revision and the bad
 * ReplicaSet's Pods still fail for a moment; that is the incident's own recovery, not a new failure.
 */
export async function isRecordedOwnCommit(incidents: IncidentStore, sha: string): Promise<boolean> {
  return (await recordedOwnCommits(incidents)).has(sha);
}
