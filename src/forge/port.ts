// The Forge port: what Rewind asks of a code host (GitHub, or the sandbox forge that speaks GitHub's
// REST subset). Every verb is idempotent and reports a named outcome instead of throwing for the
// expected cases (Renovate's findPr / ensurePr / ensureComment habit).

export interface PullRequest {
  readonly number: number;
  readonly url: string;
  readonly title: string;
  readonly body: string;
  readonly state: 'open' | 'closed';
  readonly merged: boolean;
  readonly headBranch: string;
  readonly headSha: string;
  readonly baseBranch: string;
  readonly mergeCommitSha?: string;
  readonly labels: readonly string[];
}

export interface EnsurePullRequestInput {
  readonly branch: string;
  readonly base: string;
  readonly title: string;
  readonly body: string;
  readonly labels: readonly string[];
  /** Logins to request reviews from (e.g. the culprit's author). */
  readonly reviewers: readonly string[];
  /** Team slugs to request reviews from. */
  readonly teamReviewers: readonly string[];
}

export type EnsurePullRequestOutcome =
  | { readonly outcome: 'created'; readonly pr: PullRequest }
  | { readonly outcome: 'already-existed'; readonly pr: PullRequest }
  | { readonly outcome: 'updated'; readonly pr: PullRequest };

export type MergeOutcome =
  | { readonly outcome: 'merged'; readonly sha: string }
  | { readonly outcome: 'already-merged'; readonly sha: string }
  /** Branch protection, failing checks, a head that moved (409), not mergeable (405/422). */
  | { readonly outcome: 'refused'; readonly status: number; readonly message: string };

export type CommentOutcome = 'created' | 'already-existed' | 'updated';

export interface Forge {
  /** The newest pull request (open or closed) whose head is this branch. */
  findPullRequest(branch: string): Promise<PullRequest | undefined>;
  getPullRequest(number: number): Promise<PullRequest>;
  /** Open pull requests whose head branch starts with `rewind/` (Rewind's own), newest first. */
  listOpenRewindPullRequests(): Promise<PullRequest[]>;
  /** Replaces a pull request's body (e.g. a second failing app joins the PR of the same culprit). */
  updatePullRequestBody(number: number, body: string): Promise<void>;
  /** Finds the PR for `branch` or creates it; adds missing labels and reviewers; updates a changed body. */
  ensurePullRequest(input: EnsurePullRequestInput): Promise<EnsurePullRequestOutcome>;
  /**
   * Posts a comment carrying the hidden `marker` once: an existing comment with the marker is left
   * alone (or updated when `update` is set and the body differs).
   */
  ensureComment(
    number: number,
    marker: string,
    body: string,
    options?: { update?: boolean },
  ): Promise<CommentOutcome>;
  /**
   * Merges only if the head is still `sha` (GitHub's guard). `title`/`message` become the merge or
   * squash commit's message (GitHub ignores them for rebase).
   */
  mergePullRequest(
    number: number,
    options: { sha: string; method: 'merge' | 'squash' | 'rebase'; title?: string; message?: string },
  ): Promise<MergeOutcome>;
  /** The forge login of a commit author, when the forge knows the email. */
  loginForEmail(email: string): Promise<string | undefined>;
}
