// The repository as the sandbox forge sees it: GitHub's rules for pull requests, comments, labels,
// reactions and reviewers, on top of the bare Git repository. REST routes and the "human" actions
// both come through here, so they send the same webhooks and hit the same refusals.
import { isValidBranchName } from '../../domain/branch.ts';
import { isCommitSha } from '../../domain/commit-sha.ts';
import type { BareRepo, MergeMethod } from './bare-repo.ts';
import {
  type CommitMessageSettings,
  defaultCommitMessage,
  GITHUB_DEFAULT_COMMIT_MESSAGES,
} from './commit-messages.ts';
import { HttpError, notFound, validationFailed } from './http.ts';
import type { Shapes } from './shapes.ts';
import {
  type CommentRecord,
  type ForgeState,
  type IssueRecord,
  type LabelRecord,
  type PullRecord,
  REACTIONS,
  REVIEW_EVENTS,
  type ReactionContent,
  type ReactionRecord,
  type ReviewRecord,
} from './state.ts';
import type { UserDirectory } from './users.ts';
import type { WebhookSender } from './webhooks.ts';

export interface ProtectionOptions {
  /** Approving reviews needed (the latest review of each person other than the author counts). */
  requiredApprovals?: number;
  /** Behaves like a required status check that never reports. */
  blockMerges?: boolean;
}

export interface CreatePullInput {
  readonly title: string;
  readonly body: string;
  /** `branch` or `owner:branch`. */
  readonly head: string;
  readonly base: string;
}

export interface MergeInput {
  readonly sha?: string;
  readonly method: MergeMethod;
  readonly commitTitle?: string;
  readonly commitMessage?: string;
  /** A repository admin merging past branch protection (humans on the web UI). */
  readonly bypassProtection?: boolean;
}

const NOT_MERGEABLE = 'Pull Request is not mergeable';
const LABEL_COLORS = ['ededed', 'd73a4a', '0075ca', 'a2eeef', '7057ff', 'e4e669'];

export class SandboxRepository {
  protection: ProtectionOptions = {};
  /** Read from the bare repository's HEAD at start and on GET /repos/{o}/{r}. */
  defaultBranch = 'main';
  /** The repository's default merge and squash commit messages (GitHub's defaults unless set). */
  commitMessages: CommitMessageSettings = GITHUB_DEFAULT_COMMIT_MESSAGES;

  constructor(
    readonly git: BareRepo,
    readonly state: ForgeState,
    readonly shapes: Shapes,
    readonly users: UserDirectory,
    private readonly webhooks: WebhookSender,
  ) {}

  // ---- pull requests --------------------------------------------------------------------------

  /** GitHub keeps an open PR's head and base SHAs in step with its branches. */
  async refresh(pr: PullRecord): Promise<PullRecord> {
    if (pr.state !== 'open') return pr;
    const head = await this.git.branchSha(pr.headRef);
    const base = await this.git.branchSha(pr.baseRef);
    if (head !== undefined) pr.headSha = head;
    if (base !== undefined) pr.baseSha = base;
    return pr;
  }

  async pull(number: number): Promise<PullRecord> {
    const pr = this.state.pull(number);
    if (pr === undefined) throw notFound();
    return this.refresh(pr);
  }

  labelsOf(pr: PullRecord): LabelRecord[] {
    return pr.labels.flatMap((name) => this.state.labels.filter((l) => l.name === name));
  }

  renderPull(
    pr: PullRecord,
    mergeable?: { mergeable: boolean | null; mergeableState: string },
  ): Record<string, unknown> {
    return this.shapes.pull(pr, this.labelsOf(pr), mergeable);
  }

  /** `mergeable` as GET /pulls/{n} reports it (GitHub computes it lazily; the sandbox at once). */
  async mergeability(pr: PullRecord): Promise<{ mergeable: boolean | null; mergeableState: string }> {
    if (pr.state !== 'open') return { mergeable: null, mergeableState: 'unknown' };
    if (!isCommitSha(pr.baseSha) || !isCommitSha(pr.headSha))
      return { mergeable: null, mergeableState: 'unknown' };
    const clean = (await this.git.mergeTree(pr.baseSha, pr.headSha)) !== undefined;
    if (!clean) return { mergeable: false, mergeableState: 'dirty' };
    return {
      mergeable: true,
      mergeableState: this.protectionRefusal(pr) === undefined ? 'clean' : 'blocked',
    };
  }

  private headBranchOf(head: string): string {
    const colon = head.indexOf(':');
    if (colon === -1) return head;
    if (head.slice(0, colon).toLowerCase() !== this.shapes.owner.toLowerCase()) {
      // Pull requests from forks are not modelled.
      throw validationFailed([{ resource: 'PullRequest', field: 'head', code: 'invalid' }]);
    }
    return head.slice(colon + 1);
  }

  async createPull(input: CreatePullInput, login: string): Promise<PullRecord> {
    const headRef = this.headBranchOf(input.head);
    if (input.title.trim() === '') {
      throw validationFailed([{ resource: 'PullRequest', field: 'title', code: 'missing_field' }]);
    }
    const headSha = await this.git.branchSha(headRef);
    const baseSha = await this.git.branchSha(input.base);
    const invalid = [
      ...(headSha === undefined ? [{ resource: 'PullRequest', field: 'head', code: 'invalid' }] : []),
      ...(baseSha === undefined ? [{ resource: 'PullRequest', field: 'base', code: 'invalid' }] : []),
    ];
    if (headSha === undefined || baseSha === undefined) throw validationFailed(invalid);
    const existing = this.state.pulls.find(
      (p) => p.state === 'open' && p.headRef === headRef && p.baseRef === input.base,
    );
    if (existing !== undefined) {
      throw validationFailed([
        {
          resource: 'PullRequest',
          code: 'custom',
          message: `A pull request already exists for ${this.shapes.owner}:${headRef}.`,
        },
      ]);
    }
    if ((await this.git.commitsBetween(baseSha, headSha)).length === 0) {
      throw validationFailed([
        {
          resource: 'PullRequest',
          code: 'custom',
          message: `No commits between ${input.base} and ${headRef}`,
        },
      ]);
    }
    const now = new Date().toISOString();
    const pr: PullRecord = {
      number: this.state.nextNumber(),
      title: input.title,
      body: input.body,
      state: 'open',
      headRef,
      headSha,
      baseRef: input.base,
      baseSha,
      user: login,
      labels: [],
      requestedReviewers: [],
      requestedTeams: [],
      merged: false,
      mergedAt: null,
      mergedBy: null,
      mergeCommitSha: null,
      createdAt: now,
      updatedAt: now,
      closedAt: null,
    };
    this.state.pulls.push(pr);
    this.sendPullEvent('opened', pr, login);
    return pr;
  }

  listPulls(filter: {
    state: string;
    head?: string;
    base?: string;
    sort?: string;
    direction?: string;
  }): PullRecord[] {
    let pulls = this.state.pulls.filter((p) => filter.state === 'all' || p.state === filter.state);
    // GitHub silently ignores a `head` filter without the `owner:` prefix (a classic client bug).
    if (filter.head !== undefined && filter.head.includes(':')) {
      const [owner = '', ...rest] = filter.head.split(':');
      const branch = rest.join(':');
      pulls =
        owner.toLowerCase() === this.shapes.owner.toLowerCase()
          ? pulls.filter((p) => p.headRef === branch)
          : [];
    }
    if (filter.base !== undefined) pulls = pulls.filter((p) => p.baseRef === filter.base);
    const key = filter.sort === 'updated' ? (p: PullRecord) => p.updatedAt : (p: PullRecord) => p.createdAt;
    const ascending =
      filter.direction === 'asc' || (filter.direction === undefined && filter.sort === 'popularity');
    return [...pulls].sort((a, b) => {
      const order = key(a).localeCompare(key(b)) || a.number - b.number;
      return ascending ? order : -order;
    });
  }

  async updatePull(
    number: number,
    changes: { title?: string; body?: string; state?: string; base?: string },
    login: string,
  ): Promise<PullRecord> {
    const pr = await this.pull(number);
    if (changes.state !== undefined && changes.state !== 'open' && changes.state !== 'closed') {
      throw validationFailed([{ resource: 'PullRequest', field: 'state', code: 'invalid' }]);
    }
    if (changes.base !== undefined && (await this.git.branchSha(changes.base)) === undefined) {
      throw validationFailed([{ resource: 'PullRequest', field: 'base', code: 'invalid' }]);
    }
    const edited = changes.title !== undefined || changes.body !== undefined || changes.base !== undefined;
    const from = { title: pr.title, body: pr.body, base: pr.baseRef };
    if (changes.title !== undefined) pr.title = changes.title;
    if (changes.body !== undefined) pr.body = changes.body;
    if (changes.base !== undefined) pr.baseRef = changes.base;
    if (edited) {
      pr.updatedAt = new Date().toISOString();
      const changed: Record<string, unknown> = {};
      if (changes.title !== undefined && changes.title !== from.title)
        changed['title'] = { from: from.title };
      if (changes.body !== undefined && changes.body !== from.body) changed['body'] = { from: from.body };
      if (changes.base !== undefined && changes.base !== from.base)
        changed['base'] = { ref: { from: from.base } };
      if (Object.keys(changed).length > 0) this.sendPullEvent('edited', pr, login, { changes: changed });
    }
    if (changes.state === 'closed' && pr.state === 'open') await this.closePull(number, login);
    if (changes.state === 'open' && pr.state === 'closed') await this.reopenPull(pr, login);
    return this.refresh(pr);
  }

  async closePull(number: number, login: string): Promise<PullRecord> {
    const pr = await this.pull(number);
    if (pr.state === 'closed') return pr;
    const now = new Date().toISOString();
    pr.state = 'closed';
    pr.closedAt = now;
    pr.updatedAt = now;
    this.sendPullEvent('closed', pr, login);
    return pr;
  }

  private async reopenPull(pr: PullRecord, login: string): Promise<void> {
    if (pr.merged)
      throw validationFailed([
        { resource: 'PullRequest', code: 'custom', message: 'Cannot reopen a merged pull request' },
      ]);
    if ((await this.git.branchSha(pr.headRef)) === undefined) {
      throw validationFailed([
        {
          resource: 'PullRequest',
          field: 'state',
          code: 'invalid',
          message: 'state cannot be changed. The head branch has been deleted.',
        },
      ]);
    }
    if (
      this.state.pulls.some(
        (p) => p !== pr && p.state === 'open' && p.headRef === pr.headRef && p.baseRef === pr.baseRef,
      )
    ) {
      throw validationFailed([
        {
          resource: 'PullRequest',
          code: 'custom',
          message: `A pull request already exists for ${this.shapes.owner}:${pr.headRef}.`,
        },
      ]);
    }
    pr.state = 'open';
    pr.closedAt = null;
    pr.updatedAt = new Date().toISOString();
    await this.refresh(pr);
    this.sendPullEvent('reopened', pr, login);
  }

  private protectionRefusal(pr: PullRecord): string | undefined {
    if (this.protection.blockMerges === true) return 'Required status check "sandbox/ci" is expected.';
    const approvals = this.protection.requiredApprovals ?? 0;
    if (approvals > this.approvalsOf(pr)) {
      return `Required approving reviews: at least ${approvals} approving review${approvals === 1 ? ' is' : 's are'} required by reviewers with write access.`;
    }
    return undefined;
  }

  /** PUT /pulls/{n}/merge, with GitHub's order of refusals: not open, head moved, protected, conflict. */
  async mergePull(
    number: number,
    input: MergeInput,
    login: string,
  ): Promise<{ sha: string; message: string }> {
    const pr = await this.pull(number);
    if (pr.state !== 'open') throw new HttpError(405, NOT_MERGEABLE);
    if (input.sha !== undefined && input.sha !== pr.headSha) {
      throw new HttpError(409, 'Head branch was modified. Review and try the merge again.');
    }
    const refusal = input.bypassProtection === true ? undefined : this.protectionRefusal(pr);
    if (refusal !== undefined) throw new HttpError(405, refusal);
    const user = this.users.get(login);
    const author = {
      name: user.name ?? user.login,
      email: user.email ?? `${user.id}+${user.login}@users.noreply.github.com`,
    };
    if (!isCommitSha(pr.headSha)) throw new HttpError(405, NOT_MERGEABLE);
    const message = await this.mergeMessage(pr, input);
    const result = await this.git.merge(pr.baseRef, pr.headSha, input.method, message, author);
    if (result.outcome !== 'merged') throw new HttpError(405, NOT_MERGEABLE);
    const now = new Date().toISOString();
    Object.assign(pr, {
      state: 'closed',
      merged: true,
      mergedAt: now,
      mergedBy: login,
      mergeCommitSha: result.sha,
      closedAt: now,
      updatedAt: now,
    } satisfies Partial<PullRecord>);
    this.state.merges.push({ number, sha: result.sha, method: input.method, by: login, at: now });
    this.sendPullEvent('closed', pr, login);
    return { sha: result.sha, message: 'Pull Request successfully merged' };
  }

  /** What GitHub writes when the caller gives no title or message: see commit-messages.ts. */
  private async mergeMessage(pr: PullRecord, input: MergeInput): Promise<string> {
    if (input.method === 'rebase') return ''; // each rebased commit keeps its own message
    const commits =
      isCommitSha(pr.baseSha) && isCommitSha(pr.headSha)
        ? await this.git.commitsBetween(pr.baseSha, pr.headSha)
        : [];
    const commitMessages = await Promise.all(commits.map(async (c) => (await this.git.commit(c)).message));
    return defaultCommitMessage(
      input.method,
      {
        number: pr.number,
        title: pr.title,
        body: pr.body,
        owner: this.shapes.owner,
        headRef: pr.headRef,
        commitMessages,
      },
      this.commitMessages,
      {
        ...(input.commitTitle === undefined ? {} : { title: input.commitTitle }),
        ...(input.commitMessage === undefined ? {} : { message: input.commitMessage }),
      },
    );
  }

  /** Deleting a PR's head branch closes the PR, as on GitHub. */
  async deleteBranch(branch: string, login: string): Promise<boolean> {
    const deleted = await this.git.deleteBranch(branch);
    if (!deleted) return false;
    for (const pr of this.state.pulls.filter((p) => p.state === 'open' && p.headRef === branch)) {
      await this.closePull(pr.number, login);
    }
    return true;
  }

  async requestReviewers(
    number: number,
    reviewers: string[],
    teams: string[],
    login: string,
  ): Promise<PullRecord> {
    const pr = await this.pull(number);
    if (reviewers.some((r) => r.toLowerCase() === pr.user.toLowerCase())) {
      throw validationFailed(
        [
          {
            resource: 'PullRequest',
            code: 'custom',
            message: 'Review cannot be requested from pull request author.',
          },
        ],
        'Review cannot be requested from pull request author.',
      );
    }
    if (reviewers.some((r) => !this.users.isKnown(r))) {
      throw validationFailed(
        [],
        `Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the ${this.shapes.fullName} repository.`,
      );
    }
    for (const reviewer of reviewers) {
      const canonical = this.users.get(reviewer).login;
      if (!pr.requestedReviewers.includes(canonical)) {
        pr.requestedReviewers.push(canonical);
        this.sendPullEvent('review_requested', pr, login, {
          requested_reviewer: this.shapes.user(canonical),
        });
      }
    }
    for (const team of teams) if (!pr.requestedTeams.includes(team)) pr.requestedTeams.push(team);
    pr.updatedAt = new Date().toISOString();
    return pr;
  }

  // ---- reviews ---------------------------------------------------------------------------------

  reviews(number: number): ReviewRecord[] {
    return this.state.reviews.filter((r) => r.number === number);
  }

  /** People whose latest submitted review approves (GitHub's count for required approvals). */
  private approvalsOf(pr: PullRecord): number {
    const latest = new Map<string, ReviewRecord>();
    for (const review of this.reviews(pr.number)) {
      if (review.state !== 'PENDING' && review.state !== 'COMMENTED') latest.set(review.user, review);
    }
    return [...latest.values()].filter((r) => r.state === 'APPROVED').length;
  }

  /**
   * POST /pulls/{n}/reviews: `event` APPROVE, REQUEST_CHANGES or COMMENT submits the review (and
   * takes its author off the requested reviewers); without one it stays PENDING. GitHub's refusals:
   * an author approving or requesting changes on their own pull request, a comment without a body.
   */
  async addReview(
    number: number,
    input: { body?: string; event?: string; commitId?: string },
    login: string,
  ): Promise<ReviewRecord> {
    const pr = await this.pull(number);
    const event = input.event;
    if (event !== undefined && !(event in REVIEW_EVENTS)) {
      throw validationFailed([], `Invalid request.\n\n${JSON.stringify(event)} is not a valid event.`);
    }
    const own = pr.user.toLowerCase() === login.toLowerCase();
    if (own && event === 'APPROVE') {
      throw validationFailed(['Can not approve your own pull request'], 'Unprocessable Entity');
    }
    if (own && event === 'REQUEST_CHANGES') {
      throw validationFailed(['Can not request changes on your own pull request'], 'Unprocessable Entity');
    }
    const body = input.body ?? '';
    if ((event === 'REQUEST_CHANGES' || event === 'COMMENT') && body.trim() === '') {
      throw validationFailed([`Review body is required for a ${event} review.`], 'Unprocessable Entity');
    }
    const user = this.users.get(login).login;
    const review: ReviewRecord = {
      id: this.state.nextId(),
      number,
      user,
      body,
      state: event === undefined ? 'PENDING' : REVIEW_EVENTS[event as keyof typeof REVIEW_EVENTS],
      commitId: input.commitId ?? pr.headSha,
      submittedAt: event === undefined ? null : new Date().toISOString(),
    };
    this.state.reviews.push(review);
    if (review.state !== 'PENDING') {
      pr.requestedReviewers = pr.requestedReviewers.filter((r) => r.toLowerCase() !== user.toLowerCase());
      pr.updatedAt = new Date().toISOString();
      this.webhooks.send('pull_request_review', {
        action: 'submitted',
        review: this.shapes.review(review),
        pull_request: this.renderPull(pr),
        ...this.envelope(login),
      });
    }
    return review;
  }

  // ---- issues: labels, comments, reactions ----------------------------------------------------

  addLabels(pr: PullRecord, names: string[], login: string): LabelRecord[] {
    for (const name of names) {
      if (name.trim() === '')
        throw validationFailed([{ resource: 'Label', field: 'name', code: 'missing_field' }]);
      let label = this.state.labels.find((l) => l.name.toLowerCase() === name.toLowerCase());
      if (label === undefined) {
        label = {
          id: this.state.nextId(),
          name,
          color: LABEL_COLORS[this.state.labels.length % LABEL_COLORS.length] ?? 'ededed',
        };
        this.state.labels.push(label);
      }
      if (!pr.labels.includes(label.name)) {
        pr.labels.push(label.name);
        pr.updatedAt = new Date().toISOString();
        this.sendPullEvent('labeled', pr, login, { label: this.shapes.label(label) });
      }
    }
    return this.labelsOf(pr);
  }

  comments(number: number): CommentRecord[] {
    return this.state.comments.filter((c) => c.issueNumber === number);
  }

  /** An issue or a pull request, by number (they share one sequence). */
  async issueOrPull(number: number): Promise<{ issue: IssueRecord } | { pr: PullRecord }> {
    const issue = this.state.issue(number);
    return issue ? { issue } : { pr: await this.pull(number) };
  }

  /** The issue as the Issues API shows it (a pull request has its `pull_request` key). */
  renderIssue(target: { issue: IssueRecord } | { pr: PullRecord }): Record<string, unknown> {
    return 'issue' in target
      ? this.shapes.plainIssue(target.issue, this.comments(target.issue.number).length)
      : this.shapes.issue(target.pr, this.labelsOf(target.pr), this.comments(target.pr.number).length);
  }

  renderComment(comment: CommentRecord): Record<string, unknown> {
    return this.shapes.comment(comment, this.state.issue(comment.issueNumber) !== undefined);
  }

  createIssue(title: string, body: string, login: string): IssueRecord {
    if (title.trim() === '')
      throw validationFailed([{ resource: 'Issue', field: 'title', code: 'missing_field' }]);
    const now = new Date().toISOString();
    const issue: IssueRecord = {
      number: this.state.nextNumber(),
      title,
      body,
      state: 'open',
      user: login,
      createdAt: now,
      updatedAt: now,
    };
    this.state.issues.push(issue);
    this.webhooks.send('issues', {
      action: 'opened',
      issue: this.renderIssue({ issue }),
      ...this.envelope(login),
    });
    return issue;
  }

  async addComment(number: number, body: string, login: string): Promise<CommentRecord> {
    const pr = await this.issueOrPull(number);
    if (body.trim() === '')
      throw validationFailed([{ resource: 'IssueComment', field: 'body', code: 'missing_field' }]);
    const now = new Date().toISOString();
    const comment: CommentRecord = {
      id: this.state.nextId(),
      issueNumber: number,
      body,
      user: login,
      createdAt: now,
      updatedAt: now,
    };
    this.state.comments.push(comment);
    this.sendCommentEvent('created', pr, comment, login);
    return comment;
  }

  async editComment(id: number, body: string, login: string): Promise<CommentRecord> {
    const comment = this.state.comment(id);
    if (comment === undefined) throw notFound();
    const from = comment.body;
    comment.body = body;
    comment.updatedAt = new Date().toISOString();
    const pr = await this.issueOrPull(comment.issueNumber);
    if (from !== body) this.sendCommentEvent('edited', pr, comment, login, { changes: { body: { from } } });
    return comment;
  }

  addReaction(
    commentId: number,
    content: string,
    login: string,
  ): { reaction: ReactionRecord; created: boolean } {
    if (this.state.comment(commentId) === undefined) throw notFound();
    if (!(REACTIONS as readonly string[]).includes(content)) {
      throw validationFailed([{ resource: 'Reaction', field: 'content', code: 'invalid' }]);
    }
    const existing = this.state.reactions.find(
      (r) => r.commentId === commentId && r.user === login && r.content === content,
    );
    if (existing !== undefined) return { reaction: existing, created: false };
    const reaction: ReactionRecord = {
      id: this.state.nextId(),
      commentId,
      content: content as ReactionContent,
      user: login,
      createdAt: new Date().toISOString(),
    };
    this.state.reactions.push(reaction);
    return { reaction, created: true };
  }

  // ---- refs -----------------------------------------------------------------------------------

  /** `refs/heads/<branch>` (or `heads/<branch>`) to a validated branch name. */
  static branchFromRef(ref: string): string | undefined {
    const stripped = ref.replace(/^refs\//, '');
    if (!stripped.startsWith('heads/')) return undefined;
    const branch = stripped.slice('heads/'.length);
    return isValidBranchName(branch) ? branch : undefined;
  }

  // ---- webhooks -------------------------------------------------------------------------------

  private envelope(login: string): Record<string, unknown> {
    return {
      repository: this.shapes.repository(this.defaultBranch),
      organization: { login: this.shapes.owner, id: 1 },
      sender: this.shapes.user(login),
      installation: { id: 1, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==' },
    };
  }

  private sendPullEvent(
    action: string,
    pr: PullRecord,
    login: string,
    extra: Record<string, unknown> = {},
  ): void {
    this.webhooks.send('pull_request', {
      action,
      number: pr.number,
      pull_request: this.renderPull(pr),
      ...extra,
      ...this.envelope(login),
    });
  }

  private sendCommentEvent(
    action: string,
    target: { issue: IssueRecord } | { pr: PullRecord },
    comment: CommentRecord,
    login: string,
    extra: Record<string, unknown> = {},
  ): void {
    this.webhooks.send('issue_comment', {
      action,
      issue: this.renderIssue(target),
      comment: this.renderComment(comment),
      ...extra,
      ...this.envelope(login),
    });
  }
}
