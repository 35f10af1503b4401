import { type CommitSha, isCommitSha } from '../domain/commit-sha.ts';
import { InvalidInputError } from '../domain/errors.ts';
import { assertValidBranchName } from '../domain/branch.ts';
import { INCIDENT_ID_PATTERN } from '../domain/incident.ts';
import { type CandidateCommit, INCIDENT_TRAILER } from './culprit.ts';
import type { GitRepo } from './repo.ts';
import type { RevertOutcome } from './revert.ts';
import type { GitWorkspace, Mirror } from './workspace.ts';

export type PushOutcome =
  | {
      readonly kind: 'pushed';
      readonly sha: CommitSha;
      readonly revert: RevertOutcome;
      readonly attempts: number;
    }
  | { readonly kind: 'already-pushed'; readonly sha: CommitSha }
  /** The revert builder decided not to produce a commit (needs-human, nothing-to-revert). */
  | { readonly kind: 'not-pushed'; readonly revert: RevertOutcome }
  /** Someone kept moving the branch; a later retry of the job can try again. */
  | { readonly kind: 'gave-up'; readonly attempts: number; readonly message: string }
  /** Someone pushed a change to the app after the bad revision: they are fixing forward. */
  | { readonly kind: 'superseded'; readonly commits: readonly CandidateCommit[] };

/** People's commits on the branch after the bad revision that touch the app (empty: go ahead). */
export type FixForwardCheck = (repo: GitRepo, head: CommitSha) => Promise<readonly CandidateCommit[]>;

export interface DirectPushInput {
  readonly workspace: GitWorkspace;
  readonly remoteUrl: string;
  /** The branch the GitOps source tracks. */
  readonly branch: string;
  readonly incidentId: string;
  /** Builds the revert commit in a worktree checked out at the current branch head. */
  readonly buildRevert: (worktree: GitRepo, head: CommitSha) => Promise<RevertOutcome>;
  /** Asked on every fetched head right before building and pushing. */
  readonly fixForward?: FixForwardCheck;
  readonly maxAttempts?: number;
  /** A commit the revert comes after (the bad revision): the search for it stops there. */
  readonly since?: CommitSha;
  /** The first attempt may use a fetch started this recently (the push is fast-forward only). */
  readonly reuseFetchWithinMs?: number;
}

/**
 * Direct-push forge: check-then-act. After a fetch, a commit on the branch carrying
 * `Rewind-Incident: <id>` means the job already ran (crash after push): return it. Otherwise build
 * the revert on the current head and push fast-forward only; when someone else pushed in between,
 * refetch and rebuild on the new head (bounded). Never forces.
 */
export async function pushRevertDirect(input: DirectPushInput): Promise<PushOutcome> {
  const branch = assertValidBranchName(input.branch);
  if (!INCIDENT_ID_PATTERN.test(input.incidentId)) {
    throw new InvalidInputError(`Invalid incident id "${input.incidentId}".`);
  }
  const maxAttempts = input.maxAttempts ?? 3;
  let lastMessage = '';
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const reuse = attempt === 1 && input.reuseFetchWithinMs !== undefined;
    const mirror = await input.workspace.syncMirror(input.remoteUrl, {
      branches: [branch],
      ...(reuse ? { reuseWithinMs: input.reuseFetchWithinMs } : {}),
    });
    const head = await mirror.repo.resolveCommit(`refs/heads/${branch}`);
    if (head === undefined) {
      throw new InvalidInputError(
        `Branch "${branch}" does not exist on the remote; check the GitOps source's branch.`,
      );
    }
    const existing = await findIncidentCommit(mirror.repo, head, input.incidentId, input.since);
    if (existing !== undefined) return { kind: 'already-pushed', sha: existing };
    // A push that races this one fails the fast-forward and comes back here with the new head.
    const later = (await input.fixForward?.(mirror.repo, head)) ?? [];
    if (later.length > 0) return { kind: 'superseded', commits: later };

    const revert = await input.workspace.withWorktree(mirror, head, async (worktree) => {
      const outcome = await input.buildRevert(worktree, head);
      if (!('sha' in outcome)) return { outcome, pushed: false, message: '' };
      const pushed = await pushFastForward(input.workspace, mirror, outcome.sha, branch);
      return { outcome, ...pushed };
    });
    if (!('sha' in revert.outcome)) return { kind: 'not-pushed', revert: revert.outcome };
    if (revert.pushed)
      return { kind: 'pushed', sha: revert.outcome.sha, revert: revert.outcome, attempts: attempt };
    lastMessage = revert.message;
  }
  return {
    kind: 'gave-up',
    attempts: maxAttempts,
    message: `The branch ${branch} moved during each of ${maxAttempts} attempts (${lastMessage}); retry later.`,
  };
}

/**
 * The newest commit reachable from `head` whose `Rewind-Incident` trailer equals `incidentId`.
 * `since`: a commit that existed before the incident (its bad revision); the revert can only come
 * after it, so the history behind it is not searched (the whole history of a big repository costs
 * seconds).
 */
export async function findIncidentCommit(
  repo: GitRepo,
  head: CommitSha,
  incidentId: string,
  since?: CommitSha,
): Promise<CommitSha | undefined> {
  const out = await repo.text([
    'log',
    '--fixed-strings',
    `--grep=${INCIDENT_TRAILER}: ${incidentId}`,
    `--format=%H%x1f%(trailers:key=${INCIDENT_TRAILER},valueonly,separator=%x2C)%x1e`,
    head,
    // --ignore-missing: a bad revision force-pushed away (not in the mirror) means no bound.
    ...(since === undefined ? [] : ['--ignore-missing', `^${since}`]),
    '--',
  ]);
  for (const record of out.split('\x1e')) {
    const [sha = '', trailers = ''] = record.trim().split('\x1f');
    if (
      isCommitSha(sha) &&
      trailers
        .split(',')
        .map((t) => t.trim())
        .includes(incidentId)
    )
      return sha;
  }
  return undefined;
}

async function pushFastForward(
  workspace: GitWorkspace,
  mirror: Mirror,
  sha: CommitSha,
  branch: string,
): Promise<{ pushed: boolean; message: string }> {
  return workspace.withMirrorLock(mirror.url, async () => {
    // No '+' in the refspec: the remote refuses anything but a fast-forward. --porcelain always
    // prints, so simple-git settles without waiting (repo.ts).
    const result = await mirror.repo.run(['push', '--porcelain', 'origin', `${sha}:refs/heads/${branch}`], {
      okExitCodes: [1],
    });
    if (result.exitCode === 0) return { pushed: true, message: '' };
    return { pushed: false, message: 'rejected as non-fast-forward' };
  });
}
