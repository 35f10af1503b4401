// What the sandbox forge remembers, kept as plain arrays so tests can read it directly: pull
// requests, comments, reactions, reviews, labels, merges, webhook deliveries and every request it answered.
// Git data (branches, commits) is not here: it lives in the bare repository.

export interface PullRecord {
  readonly number: number;
  title: string;
  body: string;
  state: 'open' | 'closed';
  readonly headRef: string;
  /** Refreshed from the branch while the PR is open; frozen once it closes. */
  headSha: string;
  baseRef: string;
  baseSha: string;
  readonly user: string;
  labels: string[];
  requestedReviewers: string[];
  requestedTeams: string[];
  merged: boolean;
  mergedAt: string | null;
  mergedBy: string | null;
  mergeCommitSha: string | null;
  readonly createdAt: string;
  updatedAt: string;
  closedAt: string | null;
}

/** An issue that is not a pull request (people open them to talk to Rewind, among others). */
export interface IssueRecord {
  readonly number: number;
  title: string;
  body: string;
  state: 'open' | 'closed';
  readonly user: string;
  readonly createdAt: string;
  updatedAt: string;
}

export interface CommentRecord {
  readonly id: number;
  readonly issueNumber: number;
  body: string;
  readonly user: string;
  readonly createdAt: string;
  updatedAt: string;
}

export const REACTIONS = ['+1', '-1', 'laugh', 'confused', 'heart', 'hooray', 'rocket', 'eyes'] as const;
export type ReactionContent = (typeof REACTIONS)[number];

export interface ReactionRecord {
  readonly id: number;
  readonly commentId: number;
  readonly content: ReactionContent;
  readonly user: string;
  readonly createdAt: string;
}

export const REVIEW_EVENTS = {
  APPROVE: 'APPROVED',
  REQUEST_CHANGES: 'CHANGES_REQUESTED',
  COMMENT: 'COMMENTED',
} as const;
export type ReviewState = (typeof REVIEW_EVENTS)[keyof typeof REVIEW_EVENTS] | 'PENDING';

export interface ReviewRecord {
  readonly id: number;
  readonly number: number;
  readonly user: string;
  readonly body: string;
  readonly state: ReviewState;
  /** The head the review was given on. */
  readonly commitId: string;
  /** Null while PENDING (not submitted). */
  readonly submittedAt: string | null;
}

export interface LabelRecord {
  readonly id: number;
  readonly name: string;
  readonly color: string;
}

export interface MergeRecord {
  readonly number: number;
  readonly sha: string;
  readonly method: 'merge' | 'squash' | 'rebase';
  readonly by: string;
  readonly at: string;
}

export interface DeliveryAttempt {
  readonly at: number;
  /** HTTP status from the receiver; absent when the connection failed. */
  readonly status?: number;
  readonly error?: string;
}

export interface DeliveryRecord {
  /** `X-GitHub-Delivery`: a UUID, kept across retries (as on a GitHub redelivery). */
  readonly id: string;
  readonly event: string;
  readonly action: string | undefined;
  readonly payload: Record<string, unknown>;
  readonly attempts: DeliveryAttempt[];
  /** Last status received, if any. */
  status: number | undefined;
  delivered: boolean;
  /** No more attempts will be made. */
  settled: boolean;
}

export type FaultKind = 'error' | 'rate-limit' | 'secondary-rate-limit' | 'after-effect';

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  /** Octokit's name for the operation (`pulls.create`), or undefined for an unknown route. */
  readonly route: string | undefined;
  readonly status: number;
  /** Epoch milliseconds when the request arrived. */
  readonly at: number;
  readonly durationMs: number;
  readonly fault: FaultKind | undefined;
  /** POST/PUT/PATCH/DELETE. */
  readonly write: boolean;
}

export class ForgeState {
  readonly pulls: PullRecord[] = [];
  readonly issues: IssueRecord[] = [];
  readonly comments: CommentRecord[] = [];
  readonly reactions: ReactionRecord[] = [];
  readonly reviews: ReviewRecord[] = [];
  /** The repository's labels (created on first use, as GitHub does when labelling an issue). */
  readonly labels: LabelRecord[] = [];
  readonly merges: MergeRecord[] = [];
  readonly deliveries: DeliveryRecord[] = [];
  readonly requests: RequestRecord[] = [];
  private lastId = 1000;

  /** Comments, reactions and labels share one id sequence, like GitHub's database ids. */
  nextId(): number {
    this.lastId += 1;
    return this.lastId;
  }

  /** Issues and pull requests share one number sequence. */
  nextNumber(): number {
    return this.pulls.length + this.issues.length + 1;
  }

  issue(number: number): IssueRecord | undefined {
    return this.issues.find((i) => i.number === number);
  }

  pull(number: number): PullRecord | undefined {
    return this.pulls.find((p) => p.number === number);
  }

  comment(id: number): CommentRecord | undefined {
    return this.comments.find((c) => c.id === id);
  }

  /** Writes that create content (GitHub's content-creation limit counts these). */
  contentCreatingRequests(): RequestRecord[] {
    return this.requests.filter((r) => r.write && r.route !== undefined && CONTENT_CREATING.has(r.route));
  }

  /** Smallest gap in milliseconds between two consecutive write requests (Infinity with < 2 writes). */
  minGapBetweenWritesMs(): number {
    const writes = this.requests
      .filter((r) => r.write)
      .map((r) => r.at)
      .sort((a, b) => a - b);
    let gap = Infinity;
    for (let i = 1; i < writes.length; i += 1) gap = Math.min(gap, (writes[i] ?? 0) - (writes[i - 1] ?? 0));
    return gap;
  }
}

const CONTENT_CREATING = new Set([
  'issues.create',
  'pulls.create',
  'pulls.merge',
  'issues.createComment',
  'pulls.createReview',
  'reactions.createForIssueComment',
  'git.createRef',
]);
