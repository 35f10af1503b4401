// The JSON GitHub answers with, trimmed to the fields Octokit users read (and a few that clients
// commonly log). One place renders each object, so REST answers and webhook payloads agree.
import type {
  CommentRecord,
  IssueRecord,
  LabelRecord,
  PullRecord,
  ReactionRecord,
  ReviewRecord,
} from './state.ts';
import type { UserDirectory } from './users.ts';

export class Shapes {
  readonly repoApiUrl: string;
  readonly repoHtmlUrl: string;

  constructor(
    readonly apiUrl: string,
    readonly owner: string,
    readonly repo: string,
    private readonly users: UserDirectory,
    readonly cloneUrl: string,
  ) {
    this.repoApiUrl = `${apiUrl}/repos/${owner}/${repo}`;
    this.repoHtmlUrl = `${apiUrl}/${owner}/${repo}`;
  }

  get fullName(): string {
    return `${this.owner}/${this.repo}`;
  }

  user(login: string): Record<string, unknown> {
    const user = this.users.get(login);
    return {
      login: user.login,
      id: user.id,
      node_id: `U_sandbox${user.id}`,
      type: user.type,
      site_admin: false,
      url: `${this.apiUrl}/users/${encodeURIComponent(user.login)}`,
      html_url: `${this.apiUrl}/${encodeURIComponent(user.login)}`,
      avatar_url: `${this.apiUrl}/avatars/${user.id}`,
    };
  }

  /** GET /users/{login}: the public profile, with the email when configured. */
  profile(login: string): Record<string, unknown> {
    const user = this.users.get(login);
    return { ...this.user(login), name: user.name, email: user.email };
  }

  repository(defaultBranch: string): Record<string, unknown> {
    return {
      id: 1,
      node_id: 'R_sandbox1',
      name: this.repo,
      full_name: this.fullName,
      private: false,
      owner: { login: this.owner, id: 1, type: 'Organization', url: `${this.apiUrl}/users/${this.owner}` },
      html_url: this.repoHtmlUrl,
      url: this.repoApiUrl,
      clone_url: this.cloneUrl,
      default_branch: defaultBranch,
      allow_merge_commit: true,
      allow_squash_merge: true,
      allow_rebase_merge: true,
      delete_branch_on_merge: false,
      archived: false,
      disabled: false,
      permissions: { admin: false, maintain: false, push: true, triage: true, pull: true },
    };
  }

  label(label: LabelRecord): Record<string, unknown> {
    return {
      id: label.id,
      node_id: `LA_sandbox${label.id}`,
      url: `${this.repoApiUrl}/labels/${encodeURIComponent(label.name)}`,
      name: label.name,
      color: label.color,
      default: false,
      description: null,
    };
  }

  private branchSide(ref: string, sha: string): Record<string, unknown> {
    return {
      ref,
      sha,
      label: `${this.owner}:${ref}`,
      user: { login: this.owner, id: 1, type: 'Organization' },
      repo: { id: 1, name: this.repo, full_name: this.fullName, url: this.repoApiUrl },
    };
  }

  pull(
    pr: PullRecord,
    labels: readonly LabelRecord[],
    mergeable?: { mergeable: boolean | null; mergeableState: string },
  ): Record<string, unknown> {
    const url = `${this.repoApiUrl}/pulls/${pr.number}`;
    return {
      id: 500_000 + pr.number,
      node_id: `PR_sandbox${pr.number}`,
      number: pr.number,
      url,
      html_url: `${this.repoHtmlUrl}/pull/${pr.number}`,
      diff_url: `${this.repoHtmlUrl}/pull/${pr.number}.diff`,
      issue_url: `${this.repoApiUrl}/issues/${pr.number}`,
      comments_url: `${this.repoApiUrl}/issues/${pr.number}/comments`,
      state: pr.state,
      locked: false,
      title: pr.title,
      body: pr.body === '' ? null : pr.body,
      user: this.user(pr.user),
      labels: labels.map((l) => this.label(l)),
      requested_reviewers: pr.requestedReviewers.map((login) => this.user(login)),
      requested_teams: pr.requestedTeams.map((slug) => ({ slug, name: slug, id: teamId(slug) })),
      assignees: [],
      draft: false,
      merged: pr.merged,
      merged_at: pr.mergedAt,
      merged_by: pr.mergedBy === null ? null : this.user(pr.mergedBy),
      merge_commit_sha: pr.mergeCommitSha,
      created_at: pr.createdAt,
      updated_at: pr.updatedAt,
      closed_at: pr.closedAt,
      head: this.branchSide(pr.headRef, pr.headSha),
      base: this.branchSide(pr.baseRef, pr.baseSha),
      author_association: 'NONE',
      ...(mergeable === undefined
        ? {}
        : {
            mergeable: mergeable.mergeable,
            mergeable_state: mergeable.mergeableState,
            rebaseable: mergeable.mergeable,
          }),
    };
  }

  /** A pull request seen through the Issues API (as in `issue_comment` payloads). */
  issue(pr: PullRecord, labels: readonly LabelRecord[], commentCount: number): Record<string, unknown> {
    return {
      id: 400_000 + pr.number,
      node_id: `I_sandbox${pr.number}`,
      number: pr.number,
      url: `${this.repoApiUrl}/issues/${pr.number}`,
      html_url: `${this.repoHtmlUrl}/pull/${pr.number}`,
      title: pr.title,
      body: pr.body === '' ? null : pr.body,
      state: pr.state,
      user: this.user(pr.user),
      labels: labels.map((l) => this.label(l)),
      comments: commentCount,
      created_at: pr.createdAt,
      updated_at: pr.updatedAt,
      closed_at: pr.closedAt,
      pull_request: {
        url: `${this.repoApiUrl}/pulls/${pr.number}`,
        html_url: `${this.repoHtmlUrl}/pull/${pr.number}`,
        diff_url: `${this.repoHtmlUrl}/pull/${pr.number}.diff`,
        patch_url: `${this.repoHtmlUrl}/pull/${pr.number}.patch`,
        merged_at: pr.mergedAt,
      },
    };
  }

  /** An issue that is not a pull request (no `pull_request` key, as on GitHub). */
  plainIssue(issue: IssueRecord, commentCount: number): Record<string, unknown> {
    return {
      id: 400_000 + issue.number,
      node_id: `I_sandbox${issue.number}`,
      number: issue.number,
      url: `${this.repoApiUrl}/issues/${issue.number}`,
      html_url: `${this.repoHtmlUrl}/issues/${issue.number}`,
      title: issue.title,
      body: issue.body === '' ? null : issue.body,
      state: issue.state,
      user: this.user(issue.user),
      labels: [],
      comments: commentCount,
      created_at: issue.createdAt,
      updated_at: issue.updatedAt,
      closed_at: null,
    };
  }

  /** `GET .../collaborators/{user}/permission`: the legacy `permission` and the `role_name`. */
  permission(login: string): Record<string, unknown> {
    const role = this.users.get(login).permission;
    const legacy: Record<string, string> = {
      admin: 'admin',
      maintain: 'write',
      write: 'write',
      triage: 'read',
      read: 'read',
      none: 'none',
    };
    return { permission: legacy[role] ?? 'none', role_name: role, user: this.user(login) };
  }

  comment(comment: CommentRecord, onIssue = false): Record<string, unknown> {
    return {
      id: comment.id,
      node_id: `IC_sandbox${comment.id}`,
      url: `${this.repoApiUrl}/issues/comments/${comment.id}`,
      html_url: `${this.repoHtmlUrl}/${onIssue ? 'issues' : 'pull'}/${comment.issueNumber}#issuecomment-${comment.id}`,
      issue_url: `${this.repoApiUrl}/issues/${comment.issueNumber}`,
      body: comment.body,
      user: this.user(comment.user),
      created_at: comment.createdAt,
      updated_at: comment.updatedAt,
      author_association: 'NONE',
    };
  }

  /** GET /pulls/{n}/reviews: `submitted_at` is absent while a review is PENDING, as on GitHub. */
  review(review: ReviewRecord): Record<string, unknown> {
    const pullUrl = `${this.repoApiUrl}/pulls/${review.number}`;
    const htmlUrl = `${this.repoHtmlUrl}/pull/${review.number}#pullrequestreview-${review.id}`;
    return {
      id: review.id,
      node_id: `PRR_sandbox${review.id}`,
      user: this.user(review.user),
      body: review.body,
      state: review.state,
      html_url: htmlUrl,
      pull_request_url: pullUrl,
      author_association: 'COLLABORATOR',
      _links: { html: { href: htmlUrl }, pull_request: { href: pullUrl } },
      ...(review.submittedAt === null ? {} : { submitted_at: review.submittedAt }),
      commit_id: review.commitId,
    };
  }

  reaction(reaction: ReactionRecord): Record<string, unknown> {
    return {
      id: reaction.id,
      node_id: `REA_sandbox${reaction.id}`,
      user: this.user(reaction.user),
      content: reaction.content,
      created_at: reaction.createdAt,
    };
  }
}

function teamId(slug: string): number {
  let hash = 0;
  for (const char of slug) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return 10_000 + (hash % 1_000_000);
}
