// "People come first" (docs/concepts.md): Rewind never overwrites a person's work.
// Three checks, each a plain question to git:
//  - laterChanges: has anyone pushed a change to the app after the bad revision? Then someone is
//    fixing forward and the incident is Superseded (asked before acting and again before pushing).
//  - restoreDiscards: would "restore the app's files to the last good revision" throw away a commit
//    that is not the culprit? Then the restore fallback is not allowed.
//  - revertExceedsCulprits: does the revert commit remove or add any line that the culprits did not
//    add or remove? Then it undoes more than the culprit's own change and a person must decide.
import type { CommitSha } from '../domain/commit-sha.ts';
import { type CandidateCommit, commitsTouching } from './culprit.ts';
import { type OwnCommitContext, ownCommitMark } from './own-commit.ts';
import { EMPTY_TREE, type GitAuthor, type GitRepo, pathspecs } from './repo.ts';

/** Commits on the branch after `bad` (first parent, newest first) touching `paths`, not made by Rewind. */
export async function laterChanges(
  repo: GitRepo,
  bad: CommitSha,
  head: CommitSha,
  paths: readonly string[],
  rewindAuthor: GitAuthor,
): Promise<CandidateCommit[]> {
  if (bad === head || paths.length === 0) return [];
  // A head that does not contain bad (history rewritten) is not "after" it: every commit on it that
  // touches the app but not in bad's history counts, so a force-pushed fix is respected too.
  const entries = await commitsTouching(repo, bad, head, paths);
  const context: OwnCommitContext = { rewindAuthor };
  const marks = await Promise.all(entries.map((e) => ownCommitMark(repo, e, context)));
  return entries.filter((_, i) => marks[i] === undefined).map((e) => e.commit);
}

/**
 * The commits in `good..head` touching `files` that are not among `culprits` (nor Rewind's own):
 * restoring those files to `good` would discard them. Empty means the restore undoes only the
 * culprits.
 */
export async function restoreDiscards(
  repo: GitRepo,
  good: CommitSha,
  head: CommitSha,
  files: readonly string[],
  culprits: readonly CandidateCommit[],
  rewindAuthor: GitAuthor,
): Promise<CandidateCommit[]> {
  const culpritShas = new Set(culprits.map((c) => c.sha));
  // Every path, not only the first-parent chain: a commit of a merged branch is somebody's work too.
  const out = await repo.text(['rev-list', `${good}..${head}`, '--', ...pathspecs(files)]);
  const touching = new Set(out.split('\n').filter((l) => l.trim() !== ''));
  const firstParent = await commitsTouching(repo, good, head, files);
  const context: OwnCommitContext = { rewindAuthor };
  const marks = await Promise.all(firstParent.map((e) => ownCommitMark(repo, e, context)));
  const own = new Set(firstParent.filter((_, i) => marks[i] !== undefined).map((e) => e.commit.sha));
  const mergedIntoCulprit = new Set<string>();
  for (const culprit of culprits) {
    // A culprit merge commit brings its branch's commits with it: those are part of the culprit.
    const [first] = culprit.parents;
    if (culprit.parents.length > 1 && first !== undefined) {
      for (const sha of (await repo.text(['rev-list', `${first}..${culprit.sha}`])).split('\n'))
        if (sha.trim() !== '') mergedIntoCulprit.add(sha.trim());
    }
  }
  const discarded = [...touching].filter(
    (sha) => !culpritShas.has(sha as CommitSha) && !own.has(sha as CommitSha) && !mergedIntoCulprit.has(sha),
  );
  const bySha = new Map(firstParent.map((e) => [e.commit.sha as string, e.commit]));
  return discarded.map(
    (sha) =>
      bySha.get(sha) ?? {
        sha: sha as CommitSha,
        parents: [],
        subject: '',
        authorName: '',
        authorEmail: '',
        committedAt: '',
      },
  );
}

/**
 * Files in which the revert commit (against its parent) removes a line the culprits did not add, or
 * adds a line the culprits did not remove (compared as multisets of lines, so moved context and
 * line numbers do not matter). A clean `git revert` never does; a restore that discards someone's
 * later change, or a 3-way merge that resolved against somebody's edit, does.
 */
export async function revertExceedsCulprits(
  repo: GitRepo,
  revert: CommitSha,
  culprits: readonly CandidateCommit[],
  files: readonly string[],
): Promise<string[]> {
  const exceeding: string[] = [];
  for (const file of files) {
    const revertDiff = await lineChanges(repo, `${revert}^`, revert, file);
    const culpritAdded = new Map<string, number>();
    const culpritRemoved = new Map<string, number>();
    for (const culprit of culprits) {
      const change = await lineChanges(repo, culprit.parents[0] ?? EMPTY_TREE, culprit.sha, file);
      addAll(culpritAdded, change.added);
      addAll(culpritRemoved, change.removed);
    }
    if (revertDiff.binary) {
      // No lines to compare: the revert must put back exactly the culprits' parent's content.
      const oldest = culprits.at(-1);
      const before = await blobAt(repo, oldest?.parents[0], file);
      const after = await blobAt(repo, revert, file);
      if (before !== after) exceeding.push(file);
      continue;
    }
    if (!within(revertDiff.removed, culpritAdded) || !within(revertDiff.added, culpritRemoved))
      exceeding.push(file);
  }
  return exceeding;
}

interface LineChange {
  readonly added: string[];
  readonly removed: string[];
  readonly binary: boolean;
}

async function lineChanges(repo: GitRepo, from: string, to: string, file: string): Promise<LineChange> {
  const out = await repo.text([
    'diff',
    '-U0',
    '--no-color',
    '--no-ext-diff',
    from,
    to,
    '--',
    ...pathspecs([file]),
  ]);
  const added: string[] = [];
  const removed: string[] = [];
  let binary = false;
  for (const line of out.split('\n')) {
    if (line.startsWith('+++') || line.startsWith('---')) continue;
    if (line.startsWith('Binary files')) binary = true;
    else if (line.startsWith('+')) added.push(line.slice(1));
    else if (line.startsWith('-')) removed.push(line.slice(1));
  }
  return { added, removed, binary };
}

async function blobAt(repo: GitRepo, commit: string | undefined, file: string): Promise<string | undefined> {
  if (commit === undefined) return undefined;
  const result = await repo.run(['rev-parse', '--verify', '--quiet', `${commit}:${file}`], {
    okExitCodes: [1],
  });
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

function addAll(counts: Map<string, number>, lines: readonly string[]): void {
  for (const line of lines) counts.set(line, (counts.get(line) ?? 0) + 1);
}

/** Every line of `lines` is available in `budget` (as a multiset). */
function within(lines: readonly string[], budget: ReadonlyMap<string, number>): boolean {
  const left = new Map(budget);
  for (const line of lines) {
    const n = left.get(line) ?? 0;
    if (n === 0) return false;
    left.set(line, n - 1);
  }
  return true;
}
