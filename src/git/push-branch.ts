// Pushing a revert to Rewind's own branch (`rewind/<app>/<culprit>`) for a pull request. Check then
// act: after a fetch, a branch whose commits carry `Rewind-Incident: <id>` means a previous attempt
// pushed it: reuse it. Otherwise the revert is built on the current base head and pushed with
// `--force-with-lease` pinned to what the branch was (absent, or an older Rewind commit): only
// Rewind's branch is ever forced, and never over someone else's push.
import { assertValidBranchName } from '../domain/branch.ts';
import type { CommitSha } from '../domain/commit-sha.ts';
import { InvalidInputError } from '../domain/errors.ts';
import type { CandidateCommit } from './culprit.ts';
import { type FixForwardCheck, findIncidentCommit } from './push.ts';
import type { GitRepo } from './repo.ts';
import type { RevertOutcome } from './revert.ts';
import type { GitWorkspace } from './workspace.ts';

export type BranchPushOutcome =
  | { readonly kind: 'pushed'; readonly sha: CommitSha; readonly revert: RevertOutcome }
  | { readonly kind: 'already-pushed'; readonly sha: CommitSha }
  | { readonly kind: 'not-pushed'; readonly revert: RevertOutcome }
  | { readonly kind: 'gave-up'; readonly message: string }
  | { readonly kind: 'superseded'; readonly commits: readonly CandidateCommit[] };

export interface BranchPushInput {
  readonly workspace: GitWorkspace;
  readonly remoteUrl: string;
  /** The branch the GitOps source tracks (the PR's base). */
  readonly base: string;
  /** Rewind's branch for this revert. */
  readonly branch: string;
  readonly incidentId: string;
  readonly buildRevert: (worktree: GitRepo, head: CommitSha) => Promise<RevertOutcome>;
  readonly fixForward?: FixForwardCheck;
  /** A commit the revert comes after (the bad revision): the search for it stops there. */
  readonly since?: CommitSha;
}

export async function pushRevertBranch(input: BranchPushInput): Promise<BranchPushOutcome> {
  const base = assertValidBranchName(input.base);
  const branch = assertValidBranchName(input.branch);
  if (!branch.startsWith('rewind/')) {
    throw new InvalidInputError(
      `Refusing to push to "${branch}": Rewind only forces its own rewind/* branches.`,
    );
  }
  const mirror = await input.workspace.syncMirror(input.remoteUrl, { branches: [base, branch] });
  const baseHead = await mirror.repo.resolveCommit(`refs/heads/${base}`);
  if (baseHead === undefined) {
    throw new InvalidInputError(
      `Branch "${base}" does not exist on the remote; check the GitOps source's branch.`,
    );
  }
  const current = await mirror.repo.resolveCommit(`refs/heads/${branch}`);
  if (current !== undefined) {
    const existing = await findIncidentCommit(mirror.repo, current, input.incidentId, input.since);
    if (existing !== undefined) return { kind: 'already-pushed', sha: current };
  }
  const later = (await input.fixForward?.(mirror.repo, baseHead)) ?? [];
  if (later.length > 0) return { kind: 'superseded', commits: later };
  return input.workspace.withWorktree(mirror, baseHead, async (worktree) => {
    const revert = await input.buildRevert(worktree, baseHead);
    if (!('sha' in revert)) return { kind: 'not-pushed', revert };
    const lease = `--force-with-lease=refs/heads/${branch}:${current ?? ''}`;
    const result = await input.workspace.withMirrorLock(mirror.url, () =>
      mirror.repo.run(['push', '--porcelain', lease, 'origin', `+${revert.sha}:refs/heads/${branch}`], {
        okExitCodes: [1],
      }),
    );
    if (result.exitCode !== 0) {
      return {
        kind: 'gave-up',
        message: `the branch ${branch} changed on the remote while Rewind pushed; retrying later`,
      };
    }
    return { kind: 'pushed', sha: revert.sha, revert };
  });
}
