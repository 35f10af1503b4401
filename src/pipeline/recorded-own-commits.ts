// The commits Rewind recorded as its own on incidents: the revert it pushed and the commit the merge
// of its pull request landed. One of the marks the culprit search uses to never revert Rewind's own
// work (src/git/own-commit.ts); the others live in Git and survive losing Redis. The store keeps them
// in an index of their own: the detector asks for every failing app it sees, so reading the recent
// records instead grew with the square of an incident storm.
import type { IncidentStore } from './incident-record.ts';

export function recordedOwnCommits(incidents: IncidentStore): Promise<ReadonlySet<string>> {
  return incidents.ownCommits();
}

/**
 * Whether `sha` is a commit Rewind recorded as its own. The detector asks before opening an
 * incident: while the engine rolls a revert out, the revert is its attempted revision and the bad
 * ReplicaSet's Pods still fail for a moment; that is the incident's own recovery, not a new failure.
 */
export function isRecordedOwnCommit(incidents: IncidentStore, sha: string): Promise<boolean> {
  return incidents.isOwnCommit(sha);
}
