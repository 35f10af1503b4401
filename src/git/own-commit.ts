// "Is this commit Rewind's own?" — decided here, once, for the culprit search: Rewind never reverts
// its own reverts, whichever way they landed on the branch:
//
// - pushed directly, or rebase-merged: the revert commit itself, with its trailers and Rewind's author;
// - merged with a merge commit: the merge brings in a commit with the trailers, and GitHub's title
//   is "Merge pull request #N from <owner>/rewind/..." (Rewind writes the same title when it merges);
// - squash-merged: Rewind sets the squash message (trailers included) when it merges; a person at the
//   merge button gets GitHub's default, which per the repository's settings is the commit's own title
//   and body (trailers kept), the PR title plus the commits' messages (trailers kept, maybe not in
//   the last paragraph), or the PR title "Revert "..." (rewind: <app>) (#N)" with the PR body or
//   nothing at all — no trailer, and the merger's (noreply) author;
// - any of them, by the SHA Rewind recorded for the merge on the incident (when Redis still has it).
//
// Forged marks: a title is free text anyone can write, and a commit taken for Rewind's is never a
// candidate, so a harmful commit titled "... (rewind: x) (#1)" must not become invisible. The title
// alone therefore never counts: it must come with the structure of what Rewind produces, i.e. the
// commit is a pure revert of an earlier commit on the branch (its diff is exactly the reverse of
// that commit's diff on the files it touches). Such a commit can only undo something that was
// there before; if a person wrote it, skipping it ends the incident NeedsHuman ("only Rewind's own
// commits"), it does not re-break anything. Trailers and the merge-of-a-rewind/-branch title are
// structural already (a person would have to forge Rewind's trailer or push to Rewind's branch).
// Not recognised without trailers: a squashed "restore" revert (the conflict fallback is no pure
// revert) and a squash of a multi-commit revert; Rewind's own merges of those carry the trailers.
import { INCIDENT_ID_PATTERN } from '../domain/incident.ts';
import { type CommitSha, isCommitSha } from '../domain/commit-sha.ts';
import type { CandidateCommit } from './culprit.ts';
import { type GitAuthor, type GitRepo, pathspecs } from './repo.ts';

export const INCIDENT_TRAILER = 'Rewind-Incident';
export const REVERTS_TRAILER = 'Reverts';

export type OwnMark =
  'trailer' | 'author' | 'recorded-sha' | 'merged-rewind-branch' | 'squashed-rewind-revert';

export interface OwnCommitContext {
  readonly rewindAuthor: GitAuthor;
  /** Commits Rewind recorded as its own on incidents (revert and merge SHAs). */
  readonly recordedShas?: ReadonlySet<string>;
}

export interface LoggedCommit {
  readonly commit: CandidateCommit;
  /** The full commit message. */
  readonly message: string;
}

const INCIDENT_LINE = new RegExp(`^\\s*${INCIDENT_TRAILER}:\\s*(\\S+)\\s*$`);
const MERGE_OF_REWIND_BRANCH = /^Merge pull request #\d+ from (?:[^\s/]+\/)?rewind\/\S+/;
// GitHub's squash titles: "<PR title> (#N)" with Rewind's PR title, or "<commit title> (#N)" with
// the revert commit's title (then the body carries the trailers anyway).
const SQUASHED_REVERT_TITLE = /^Revert .+ \(#\d+\)$/;
// How many earlier commits on the same files are compared with a squash-titled commit.
const REVERTED_SEARCH_DEPTH = 200;

/** A `Rewind-Incident: <id>` line anywhere in the message: squashes list the commits' messages. */
export function incidentTrailerIn(message: string): string | undefined {
  for (const line of message.split('\n')) {
    const match = INCIDENT_LINE.exec(line);
    if (match?.[1] !== undefined && INCIDENT_ID_PATTERN.test(match[1])) return match[1];
  }
  return undefined;
}

/** The mark that makes `entry` Rewind's own commit, or undefined when it is not. */
export async function ownCommitMark(
  repo: GitRepo,
  entry: LoggedCommit,
  context: OwnCommitContext,
): Promise<OwnMark | undefined> {
  const { commit, message } = entry;
  if (incidentTrailerIn(message) !== undefined) return 'trailer';
  if (commit.authorEmail.toLowerCase() === context.rewindAuthor.email.toLowerCase()) return 'author';
  if (context.recordedShas?.has(commit.sha) === true) return 'recorded-sha';
  const [first] = commit.parents;
  if (first === undefined) return undefined;
  if (commit.parents.length > 1) {
    if (MERGE_OF_REWIND_BRANCH.test(commit.subject)) return 'merged-rewind-branch';
    const merged = await repo.text(['log', '--format=%B%x00', `${first}..${commit.sha}`, '--']);
    return merged.split('\0').some((m) => incidentTrailerIn(m) !== undefined)
      ? 'merged-rewind-branch'
      : undefined;
  }
  if (SQUASHED_REVERT_TITLE.test(commit.subject) && (await isPureRevert(repo, commit.sha, first)))
    return 'squashed-rewind-revert';
  return undefined;
}

/** The diff as a comparable text: no hunk line numbers, no blob ids, no context lines. */
async function diffText(repo: GitRepo, from: string, to: string, files: readonly string[]): Promise<string> {
  const out = await repo.text([
    'diff',
    '--no-color',
    '--no-ext-diff',
    '--unified=0',
    from,
    to,
    '--',
    ...pathspecs(files),
  ]);
  return out
    .split('\n')
    .filter((l) => !l.startsWith('@@') && !l.startsWith('index '))
    .join('\n')
    .trim();
}

/** True when `sha`'s change is exactly the reverse of an earlier first-parent commit's change. */
async function isPureRevert(repo: GitRepo, sha: CommitSha, parent: CommitSha): Promise<boolean> {
  const files = await repo.changedFiles(sha);
  if (files.length === 0) return false;
  const change = await diffText(repo, parent, sha, files);
  if (change === '') return false;
  const earlier = await repo.lines([
    'log',
    '--first-parent',
    '--format=%H %P',
    `--max-count=${REVERTED_SEARCH_DEPTH}`,
    parent,
    '--',
    ...pathspecs(files),
  ]);
  for (const line of earlier) {
    const [candidate, candidateParent] = line.split(' ');
    if (!isCommitSha(candidate) || !isCommitSha(candidateParent)) continue;
    const touched = new Set(await repo.changedFiles(candidate));
    if (!files.every((f) => touched.has(f))) continue;
    if ((await diffText(repo, candidate, candidateParent, files)) === change) return true;
  }
  return false;
}
