import { type CommitSha, parseCommitSha } from '../domain/commit-sha.ts';
import { markdownLine } from '../domain/outbound-text.ts';
import { INCIDENT_TRAILER, REVERTS_TRAILER, type CandidateCommit } from './culprit.ts';
import { isCovered } from './path-closure.ts';
import { restoreDiscards, revertExceedsCulprits } from './people-first.ts';
import { EMPTY_TREE, type GitAuthor, type GitRepo, pathspecs } from './repo.ts';

const ZERO_SHA = '0000000000000000000000000000000000000000';

export type RevertOutcome =
  /** The whole commit(s) reverted. */
  | { readonly kind: 'reverted'; readonly sha: CommitSha; readonly paths: readonly string[] }
  /** Only the failing apps' part reverted (the commit also touched healthy apps, or the whole revert conflicted). */
  | { readonly kind: 'scoped'; readonly sha: CommitSha; readonly paths: readonly string[] }
  /** Reverting conflicted: the failing apps' touched files were restored to the last good revision. */
  | { readonly kind: 'restored'; readonly sha: CommitSha; readonly paths: readonly string[] }
  | { readonly kind: 'needs-human'; readonly conflicts: readonly string[]; readonly message: string }
  /** The failing apps' paths already match what a revert would produce (e.g. reverted by someone else). */
  | { readonly kind: 'nothing-to-revert'; readonly message: string };

export interface BuildRevertInput {
  /** Commits to revert, newest first. */
  readonly commits: readonly CandidateCommit[];
  readonly incidentId: string;
  /** Labels of the failing apps, for the commit message (`flux-system/podinfo`). */
  readonly failingApps: readonly string[];
  /** Union of the failing apps' path closures. */
  readonly failingPaths: readonly string[];
  /** Union of the closures of the other known (healthy) apps. */
  readonly otherAppsPaths: readonly string[];
  /** Last good revision, for the restore fallback. */
  readonly good?: CommitSha;
  /** How the culprit was found (`single-commit, high`), for the message. */
  readonly rule?: string;
  /** Who asked for the rollback, where and why (already one sanitised line), for the message. */
  readonly requestedBy?: string;
  /** Rewind's own commit author: its commits are never "somebody's work" a restore would discard. */
  readonly rewindAuthor?: GitAuthor;
}

/**
 * Builds one revert commit on the worktree's HEAD. Strategy: whole revert when every app the
 * commits touch is failing; else (or on conflict) a revert scoped to the failing apps' paths; on
 * conflict again, restore those paths to the last good revision; else needs-human.
 *
 * Built from objects alone, never from a checkout (a monorepo's tree is large, and a partial
 * mirror would have to download every file of it): each step is a three-way `merge-tree` of HEAD
 * with the culprit's parent, on the culprit as merge base, which is what `git revert` does; the
 * commit is written with `commit-tree` and returned by its sha (HEAD stays where it was: the push
 * takes the sha, and a worktree's HEAD is only its starting point).
 */
export async function buildRevert(worktree: GitRepo, input: BuildRevertInput): Promise<RevertOutcome> {
  if (input.commits.length === 0) return { kind: 'nothing-to-revert', message: 'No commit to revert.' };
  const [head, headTree] = (await worktree.lines(['rev-parse', 'HEAD', 'HEAD^{tree}'])) as [
    CommitSha,
    string,
  ];
  const touched = new Set<string>();
  for (const commit of input.commits) for (const f of await worktree.changedFiles(commit.sha)) touched.add(f);
  const touchedFailing = [...touched].filter((f) => isCovered(f, input.failingPaths));
  const touchesHealthyApp = [...touched].some(
    (f) => isCovered(f, input.otherAppsPaths) && !isCovered(f, input.failingPaths),
  );
  if (touchedFailing.length === 0) {
    return { kind: 'nothing-to-revert', message: "The commits do not touch the failing apps' paths." };
  }

  const base = { worktree, input, head, headTree };
  const conflicts = new Set<string>();
  if (!touchesHealthyApp) {
    const whole = await revertedTree(worktree, head, input.commits, undefined, conflicts);
    if (whole !== undefined) return accept(base, whole, 'reverted', [...touched]);
  }
  const scoped = await revertedTree(worktree, head, input.commits, touchedFailing, conflicts);
  if (scoped !== undefined) return accept(base, scoped, 'scoped', touchedFailing);
  if (input.good !== undefined) {
    // Restoring the files to the last good revision is only a revert when nobody else changed them
    // since: otherwise it would silently discard their commits (people come first).
    const discarded = await restoreDiscards(
      worktree,
      input.good,
      head,
      touchedFailing,
      input.commits,
      input.rewindAuthor ?? { name: '', email: '' },
    );
    if (discarded.length > 0) {
      return {
        kind: 'needs-human',
        conflicts: [...conflicts].sort(),
        message: `Reverting ${input.commits.map((c) => c.sha.slice(0, 7)).join(', ')} conflicts in ${[...conflicts].join(', ') || touchedFailing.join(', ')}, and restoring those files to the last good revision would discard ${discarded.length} later commit(s) by other people (${discarded.map((c) => c.sha.slice(0, 7)).join(', ')}); revert by hand.`,
      };
    }
    const restored = await treeWithFilesFrom(worktree, head, input.good, touchedFailing);
    return accept(base, restored, 'restored', touchedFailing);
  }
  return {
    kind: 'needs-human',
    conflicts: [...conflicts].sort(),
    message: `Reverting ${input.commits.map((c) => c.sha.slice(0, 7)).join(', ')} conflicts in ${[...conflicts].join(', ')} and no last good revision is known to restore from; revert by hand.`,
  };
}

/**
 * HEAD's tree with `commits` reverted newest first, each limited to `scope` when given; undefined
 * (and the conflicting files added to `conflicts`) when a step conflicts.
 */
async function revertedTree(
  repo: GitRepo,
  head: CommitSha,
  commits: readonly CandidateCommit[],
  scope: readonly string[] | undefined,
  conflicts: Set<string>,
): Promise<string | undefined> {
  let ours: string = head;
  let tree: string | undefined;
  for (const commit of commits) {
    // Parent 1 is the mainline of a merge; a root commit reverts to the empty tree.
    const parent = commit.parents[0] ?? EMPTY_TREE;
    const theirsTree =
      scope === undefined ? `${parent}^{tree}` : await treeWithFilesFrom(repo, commit.sha, parent, scope);
    // A commit holding the parent's files on top of the culprit: merging it into `ours` takes the
    // culprit as merge base, so the merge undoes exactly the culprit's change.
    const theirs = await commitTree(repo, theirsTree, commit.sha, 'rewind: revert step');
    const merged = await repo.run(
      ['merge-tree', '--write-tree', '--name-only', '--no-messages', ours, theirs],
      {
        okExitCodes: [1],
      },
    );
    const [written = '', ...files] = merged.stdout.split('\n');
    if (merged.exitCode !== 0) {
      for (const f of files) if (f !== '') conflicts.add(f);
      if (conflicts.size === 0) for (const f of scope ?? []) conflicts.add(f);
      return undefined;
    }
    tree = written.trim();
    if (commit !== commits.at(-1)) ours = await commitTree(repo, tree, ours, 'rewind: revert step');
  }
  return tree;
}

/** `base`'s tree with `files` as they are in `source` (deleted where `source` has none of them). */
async function treeWithFilesFrom(
  repo: GitRepo,
  base: string,
  source: string,
  files: readonly string[],
): Promise<string> {
  await repo.run(['read-tree', base]);
  const present = new Map<string, string>();
  for (const entry of (await repo.text(['ls-tree', '-r', '-z', source, '--', ...pathspecs(files)])).split(
    '\0',
  )) {
    const tab = entry.indexOf('\t');
    if (tab > 0) present.set(entry.slice(tab + 1), entry.slice(0, tab));
  }
  // `update-index --index-info` lines: "<mode> <type> <sha>\t<path>"; mode 0 removes the path.
  const lines = files.map((f) => `${present.get(f) ?? `0 blob ${ZERO_SHA}`}\t${f}\0`);
  await repo.run(['update-index', '-z', '--index-info'], { input: lines.join('') });
  return (await repo.text(['write-tree'])).trim();
}

async function commitTree(repo: GitRepo, tree: string, parent: string, message: string): Promise<CommitSha> {
  return parseCommitSha(
    (await repo.text(['commit-tree', tree, '-p', parent, '-m', message])).trim(),
    'commit',
  );
}

interface Attempt {
  readonly worktree: GitRepo;
  readonly input: BuildRevertInput;
  readonly head: CommitSha;
  readonly headTree: string;
}

/**
 * Commits `tree` on HEAD, unless nothing changes; then the last word before a revert commit leaves
 * the builder: it may take back only what the culprits changed. A commit that removes or adds any
 * other line is dropped and the incident needs a person.
 */
async function accept(
  attempt: Attempt,
  tree: string,
  kind: 'reverted' | 'scoped' | 'restored',
  paths: readonly string[],
): Promise<RevertOutcome> {
  const { worktree, input, head } = attempt;
  if (tree === attempt.headTree) {
    return {
      kind: 'nothing-to-revert',
      message: "The failing apps' paths already match the reverted state.",
    };
  }
  const sha = await commitTree(worktree, tree, head, revertMessage(input, kind, paths));
  const exceeding = await revertExceedsCulprits(worktree, sha, input.commits, paths);
  if (exceeding.length > 0) {
    return {
      kind: 'needs-human',
      conflicts: exceeding,
      message: `The ${kind} revert of ${input.commits.map((c) => c.sha.slice(0, 7)).join(', ')} would also undo lines the culprit did not write in ${exceeding.join(', ')} (somebody changed them since); revert by hand.`,
    };
  }
  return { kind, sha, paths: [...paths].sort() };
}

// Untrusted text (commit subjects, who asked and why) is quoted as in a PR body: one plain line
// without credentials, Markdown-inert (GitHub shows commit messages next to pull requests).
const MAX_SUBJECT_CHARS = 500;
const MAX_REQUESTED_BY_CHARS = 600;

export function revertMessage(
  input: BuildRevertInput,
  kind: 'reverted' | 'scoped' | 'restored',
  paths: readonly string[],
): string {
  const [first] = input.commits;
  const subject =
    input.commits.length === 1 && first !== undefined
      ? `Revert "${markdownLine(first.subject, MAX_SUBJECT_CHARS)}"`
      : `Revert ${input.commits.length} commits breaking ${input.failingApps.join(', ')}`;
  const body: string[] = [
    `Rewind reverts ${input.commits.map((c) => `${c.sha} ("${markdownLine(c.subject, MAX_SUBJECT_CHARS)}")`).join(', ')} because ${input.failingApps.join(', ')} ${input.failingApps.length === 1 ? 'fails' : 'fail'} since ${input.commits.length === 1 ? 'it' : 'they'} landed.`,
  ];
  if (input.rule !== undefined) body.push(`Culprit rule: ${input.rule}.`);
  if (input.requestedBy !== undefined)
    body.push(`Requested by ${markdownLine(input.requestedBy, MAX_REQUESTED_BY_CHARS)}`);
  if (kind === 'scoped')
    body.push(`Scope: only the failing apps' files (${paths.join(', ')}); other apps keep the change.`);
  if (kind === 'restored') {
    body.push(
      `Reverting conflicted; restored ${paths.join(', ')} to the last good revision ${input.good ?? ''}.`,
    );
  }
  const trailers = [
    ...input.commits.map((c) => `${REVERTS_TRAILER}: ${c.sha}`),
    `${INCIDENT_TRAILER}: ${input.incidentId}`,
  ];
  return `${subject}\n\n${body.join('\n')}\n\n${trailers.join('\n')}\n`;
}
