import { type CommitSha, isCommitSha } from '../domain/commit-sha.ts';
import { InvalidInputError, NotAncestorError, ShaNotInHistoryError } from '../domain/errors.ts';
import { type LoggedCommit, ownCommitMark } from './own-commit.ts';
import { type GitAuthor, type GitRepo, pathspecs } from './repo.ts';

export { INCIDENT_TRAILER, REVERTS_TRAILER } from './own-commit.ts';

export interface CandidateCommit {
  readonly sha: CommitSha;
  readonly parents: readonly CommitSha[];
  readonly subject: string;
  readonly authorName: string;
  readonly authorEmail: string;
  /** ISO-8601 committer date. */
  readonly committedAt: string;
  /** For merges: revert against parent 1 (the branch the merge landed on). */
  readonly mainline?: 1;
}

export type CulpritRule = 'single-commit' | 'pickaxe' | 'range';
export type Confidence = 'high' | 'medium' | 'low';

export type CulpritOutcome =
  | {
      readonly kind: 'found';
      readonly rule: CulpritRule;
      readonly confidence: Confidence;
      /** Commits to revert, newest first (one except for the range fallback or several pickaxe hits). */
      readonly commits: readonly CandidateCommit[];
      /** Every candidate in the range touching the closure, newest first. */
      readonly candidates: readonly CandidateCommit[];
      readonly explanation: string;
    }
  | {
      readonly kind: 'no-candidate';
      readonly explanation: string;
      /** Commits in range touching the closure that were skipped because Rewind made them. */
      readonly skippedOwn: readonly CandidateCommit[];
    };

export interface FindCulpritInput {
  readonly good: CommitSha;
  readonly bad: CommitSha;
  /** The app's path closure; empty means nothing can be attributed. */
  readonly paths: readonly string[];
  /** Values that differ between the last-good and the bad pod templates (as in the bad one), e.g. images. */
  readonly changedValues?: readonly string[];
  /**
   * Values of the last-good template (image tags) that reverting the culprits must bring back: a
   * pickaxe hit whose parent does not have them is a later commit on top of an earlier bad one
   * (stacked failures), and the whole range is reverted instead.
   */
  readonly restoredValues?: readonly string[];
  /** Rewind's own commits are never candidates (src/git/own-commit.ts): by this author, among others. */
  readonly rewindAuthor: GitAuthor;
  /** Commits Rewind recorded on its incidents (reverts, merges of its pull requests). */
  readonly recordedShas?: ReadonlySet<string>;
}

const FIELD = '%x1f';
const RECORD = '%x1e';
const LOG_FORMAT = ['%H', '%P', '%an', '%ae', '%cI', '%s', '%B'].join(FIELD) + RECORD;

/** Checks both SHAs exist and that good is an ancestor of bad; throws the domain's clear errors. */
export async function validateRange(repo: GitRepo, good: CommitSha, bad: CommitSha): Promise<void> {
  const roles = [
    [bad, 'bad'],
    [good, 'last good'],
  ] as const;
  for (const [sha, role] of roles)
    if (!isCommitSha(sha))
      throw new InvalidInputError(`The ${role} revision "${String(sha)}" is not a full commit SHA.`);
  // One process answers the usual case (both there, in order); only a failure asks which one.
  const ordered = await repo.run(['merge-base', '--is-ancestor', good, bad], { okExitCodes: [1, 128] });
  if (ordered.exitCode === 0) return;
  for (const [sha, role] of roles)
    if ((await repo.resolveCommit(sha)) === undefined) throw new ShaNotInHistoryError(sha, role);
  if (!(await repo.isAncestor(good, bad))) throw new NotAncestorError(good, bad);
}

/**
 * Commits in `good..bad` along the first-parent chain (what landed on the branch) that touch the
 * closure, newest first. First-parent keeps a merged branch as one merge commit, reverted with -m 1.
 */
export async function commitsTouching(
  repo: GitRepo,
  good: CommitSha,
  bad: CommitSha,
  paths: readonly string[],
  extraArgs: readonly string[] = [],
): Promise<LoggedCommit[]> {
  if (paths.length === 0 || good === bad) return [];
  const out = await repo.text([
    'log',
    '--first-parent',
    `--format=${LOG_FORMAT}`,
    ...extraArgs,
    `${good}..${bad}`,
    '--',
    ...pathspecs(paths),
  ]);
  return out
    .split('\x1e')
    .map((r) => r.replace(/^\n+/, ''))
    .filter((r) => r.trim() !== '')
    .map((record) => {
      const [
        sha = '',
        parents = '',
        authorName = '',
        authorEmail = '',
        committedAt = '',
        subject = '',
        ...message
      ] = record.split('\x1f');
      const parentShas = parents.split(' ').filter(isCommitSha);
      if (!isCommitSha(sha))
        throw new InvalidInputError(`git log returned an unexpected record: ${record.slice(0, 80)}`);
      const commit: CandidateCommit = {
        sha,
        parents: parentShas,
        subject,
        authorName,
        authorEmail,
        committedAt,
        ...(parentShas.length > 1 ? { mainline: 1 as const } : {}),
      };
      return { commit, message: message.join('\x1f') };
    });
}

export async function findCulprit(repo: GitRepo, input: FindCulpritInput): Promise<CulpritOutcome> {
  await validateRange(repo, input.good, input.bad);
  const all = await commitsTouching(repo, input.good, input.bad, input.paths);
  const context = {
    rewindAuthor: input.rewindAuthor,
    ...(input.recordedShas === undefined ? {} : { recordedShas: input.recordedShas }),
  };
  const marks = await Promise.all(all.map((e) => ownCommitMark(repo, e, context)));
  const own = all.filter((_, i) => marks[i] !== undefined).map((e) => e.commit);
  const candidates = all.filter((_, i) => marks[i] === undefined).map((e) => e.commit);

  if (candidates.length === 0) {
    return {
      kind: 'no-candidate',
      skippedOwn: own,
      explanation:
        own.length > 0
          ? `The only commits in ${short(input.good)}..${short(input.bad)} touching the app are Rewind's own (${own.map((c) => short(c.sha)).join(', ')}); Rewind never reverts its own commits. Look at the cluster or revert by hand.`
          : `No commit in ${short(input.good)}..${short(input.bad)} touches the app's paths (${input.paths.join(', ') || 'none'}); the failure is likely not caused by Git. Check the cluster (quotas, nodes, registries).`,
    };
  }
  const [only] = candidates;
  if (candidates.length === 1 && only !== undefined) {
    return {
      kind: 'found',
      rule: 'single-commit',
      confidence: 'high',
      commits: [only],
      candidates,
      explanation: `${short(only.sha)} is the only commit in ${short(input.good)}..${short(input.bad)} touching the app.`,
    };
  }

  const values = (input.changedValues ?? []).filter((v) => v.trim() !== '');
  if (values.length > 0) {
    const bySha = new Map(candidates.map((c) => [c.sha, c]));
    const hits = new Map<CommitSha, string[]>();
    for (const value of values) {
      if (/[\n\0]/.test(value))
        throw new InvalidInputError('A changed value for the pickaxe search contains a newline or NUL.');
      // -S<value> is one argv element: the value can never be read as an option.
      const matches = await commitsTouching(repo, input.good, input.bad, input.paths, [`-S${value}`]);
      for (const { commit } of matches) {
        if (!bySha.has(commit.sha)) continue; // Rewind's own commits stay excluded
        hits.set(commit.sha, [...(hits.get(commit.sha) ?? []), value]);
      }
    }
    const commits = candidates.filter((c) => hits.has(c.sha));
    const missing = await valuesMissingBefore(repo, commits.at(-1), input.paths, input.restoredValues ?? []);
    if (hits.size > 0 && missing.length === 0) {
      const allValuesInOne =
        commits.length === 1 && (hits.get(commits[0]?.sha as CommitSha)?.length ?? 0) === values.length;
      return {
        kind: 'found',
        rule: 'pickaxe',
        confidence: allValuesInOne ? 'high' : 'medium',
        commits,
        candidates,
        explanation: commits
          .map((c) => `${short(c.sha)} changed ${(hits.get(c.sha) ?? []).map((v) => `"${v}"`).join(', ')}`)
          .join('; ')
          .concat(` (git log -S among ${candidates.length} commits touching the app).`),
      };
    }
  }
  return {
    kind: 'found',
    rule: 'range',
    confidence: 'low',
    commits: candidates,
    candidates,
    explanation: `${candidates.length} commits touch the app and none could be singled out${values.length > 0 ? ' by the changed values' : ''}; reverting the whole range newest first.`,
  };
}

/**
 * The last-good values not present in the app's files just before `oldest` (the oldest commit to
 * revert): reverting from there would not restore them, because an earlier commit changed them too.
 */
async function valuesMissingBefore(
  repo: GitRepo,
  oldest: CandidateCommit | undefined,
  paths: readonly string[],
  values: readonly string[],
): Promise<string[]> {
  const parent = oldest?.parents[0];
  if (parent === undefined || values.length === 0 || paths.length === 0) return [];
  const missing: string[] = [];
  for (const value of values) {
    if (/[\n\0]/.test(value)) continue;
    // -e keeps the value from being read as an option; -F takes it literally.
    const found = await repo.run(['grep', '-q', '-F', '-e', value, parent, '--', ...pathspecs(paths)], {
      okExitCodes: [1],
    });
    if (found.exitCode !== 0) missing.push(value);
  }
  return missing;
}

function short(sha: string): string {
  return sha.slice(0, 7);
}
