// The Forge port over GitHub's REST API (github.com, GitHub Enterprise, or the sandbox forge, which
// speaks the same subset). Every verb looks at GitHub first and then acts, so a retry after a crash
// or a lost answer finds what the first attempt did instead of doing it twice. HTTP failures are
// translated here, at the boundary, into the domain's errors with credentials scrubbed.
import { z } from 'zod';
import {
  NotFoundError,
  type RewindError,
  TerminalError,
  TransientError,
  isRewindError,
} from '../domain/errors.ts';
import { optionalCall } from '../pipeline/optional-call.ts';
import type { Logger } from '../pipeline/ports.ts';
import {
  type AttemptGate,
  type ForgeRequestObserver,
  type GitHubAuth,
  type GitHubClient,
  type RetrySettings,
  type ThrottleSettings,
  createGitHubClient,
} from './github-auth.ts';
import { redactSecrets } from '../domain/outbound-text.ts';
import type {
  CommentOutcome,
  EnsurePullRequestInput,
  EnsurePullRequestOutcome,
  Forge,
  MergeOutcome,
  PullRequest,
} from './port.ts';

export interface GitHubForgeDeps {
  /** Default https://api.github.com; GitHub Enterprise uses https://HOST/api/v3. */
  readonly baseUrl?: string;
  readonly owner: string;
  readonly repo: string;
  readonly auth: GitHubAuth;
  readonly log: Logger;
  readonly userAgent: string;
  readonly throttle?: ThrottleSettings;
  readonly retry?: RetrySettings;
  /**
   * Serialise writes with a gap between them, retries included, and send nothing before a rate
   * limit's `retry-after` has passed (default true): GitHub's secondary limits punish concurrent or
   * rapid content-creating requests.
   */
  readonly pace?: boolean;
  /** Gap between the end of one write attempt and the start of the next (default 1000 ms). */
  readonly minWriteGapMs?: number;
  /** Look-then-create rounds for creates that GitHub does not deduplicate (comments); default 3. */
  readonly createAttempts?: number;
  /** Sees every HTTP request (metrics). */
  readonly onRequest?: ForgeRequestObserver;
}

const pullSchema = z.object({
  number: z.number().int().positive(),
  html_url: z.string().optional(),
  url: z.string().optional(),
  title: z.string(),
  body: z.string().nullish(),
  state: z.enum(['open', 'closed']),
  merged: z.boolean().nullish(),
  merged_at: z.string().nullish(),
  merge_commit_sha: z.string().nullish(),
  head: z.object({
    ref: z.string(),
    sha: z.string(),
    // null when the fork was deleted
    repo: z.object({ full_name: z.string() }).nullish(),
  }),
  base: z.object({ ref: z.string() }),
  labels: z.array(z.object({ name: z.string() })).nullish(),
  user: z.object({ login: z.string() }).nullish(),
});
type PullJson = z.infer<typeof pullSchema>;

const commentSchema = z.object({ id: z.number().int(), body: z.string().nullish() });
const labelsSchema = z.array(z.object({ name: z.string() }));
const mergeSchema = z.object({
  merged: z.boolean().nullish(),
  sha: z.string().nullish(),
  message: z.string().nullish(),
});
const requestedSchema = z.object({
  users: z.array(z.object({ login: z.string() })).nullish(),
  teams: z.array(z.object({ slug: z.string() })).nullish(),
});
const reviewsSchema = z.array(z.object({ user: z.object({ login: z.string() }).nullish() }));
const userSearchSchema = z.object({ items: z.array(z.object({ login: z.string() })) });
const permissionSchema = z.object({ permission: z.string(), role_name: z.string().nullish() });
const membershipSchema = z.object({ state: z.string() });

function parse<T>(schema: z.ZodType<T>, data: unknown, what: string): T {
  const result = schema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new TerminalError(
      `GitHub answered ${what} in an unexpected shape (${issue?.path.join('.') ?? '?'}: ${issue?.message ?? '?'}); ` +
        'check that forge.apiUrl points at a GitHub-compatible REST API.',
    );
  }
  return result.data;
}

interface HttpErrorLike {
  readonly status: number;
  readonly message: string;
  readonly response?: {
    readonly headers?: Record<string, string | number | undefined>;
    readonly data?: unknown;
  };
}

function asHttpError(error: unknown): HttpErrorLike | undefined {
  if (error instanceof Error && typeof (error as Partial<HttpErrorLike>).status === 'number') {
    return error as unknown as HttpErrorLike;
  }
  return undefined;
}

/** GitHub's own words: `message` plus the validation `errors[].message`, scrubbed and capped. */
function githubMessage(error: unknown): string {
  const http = asHttpError(error);
  const data = http?.response?.data as { message?: unknown; errors?: unknown } | undefined;
  const parts: string[] = [];
  if (typeof data?.message === 'string') parts.push(data.message);
  if (Array.isArray(data?.errors)) {
    for (const e of data.errors as unknown[]) {
      const m = typeof e === 'string' ? e : (e as { message?: unknown; code?: unknown } | null)?.message;
      if (typeof m === 'string' && m !== '') parts.push(m);
    }
  }
  if (parts.length === 0) parts.push(error instanceof Error ? error.message : String(error));
  return redactSecrets(parts.join('; ')).slice(0, 500);
}

function isRateLimited(error: HttpErrorLike): boolean {
  const headers = error.response?.headers ?? {};
  return (
    error.status === 429 ||
    String(headers['x-ratelimit-remaining']) === '0' ||
    /rate limit/i.test(githubMessage(error))
  );
}

/** Translates an Octokit failure into the domain taxonomy; the message says what to do next. */
export function toForgeError(error: unknown, what: string): RewindError {
  if (isRewindError(error)) return error;
  const http = asHttpError(error);
  const detail = githubMessage(error);
  if (http === undefined) {
    const hint =
      what === 'authenticate'
        ? ' Check the token, or the App id and the PEM private key (forge.app.appId, forge.app.privateKeyEnv).'
        : '';
    return new TerminalError(`GitHub: could not ${what}: ${detail}.${hint}`, { cause: { what } });
  }
  const status = http.status;
  const cause = { status, what };
  if (status === 401) {
    return new TerminalError(
      `GitHub rejected the credentials (401) trying to ${what}: ${detail}. Check the token (forge.tokenEnv) or the App id and private key.`,
      { cause },
    );
  }
  if ((status === 403 || status === 429) && isRateLimited(http)) {
    const retryAfter = http.response?.headers?.['retry-after'];
    return new TransientError(
      `GitHub rate limit (${status}) trying to ${what}: ${detail}. Rewind backs off and retries${
        retryAfter === undefined ? '' : ` (retry-after ${retryAfter} s)`
      }.`,
      { cause },
    );
  }
  if (status === 403) {
    return new TerminalError(
      `GitHub refused to ${what} (403): ${detail}. Grant the token or App Contents and Pull requests read & write on the repository.`,
      { cause },
    );
  }
  if (status === 404) {
    return new NotFoundError(
      `GitHub: not found (404) trying to ${what}: ${detail}. Check forge.owner / forge.repo and that the credentials can see the repository.`,
      { cause },
    );
  }
  if (status === 408 || status === 409 || status >= 500) {
    return new TransientError(
      `GitHub failed (${status}) trying to ${what}: ${detail}. Rewind retries later.`,
      { cause },
    );
  }
  return new TerminalError(`GitHub refused to ${what} (${status}): ${detail}.`, { cause });
}

function httpStatus(error: unknown): number | undefined {
  return asHttpError(error)?.status;
}

function sameText(a: string, b: string): boolean {
  const norm = (s: string): string => s.replace(/\r\n?/g, '\n').trimEnd();
  return norm(a) === norm(b);
}

function distinct(values: readonly string[]): string[] {
  return [...new Set(values.filter((v) => v.trim() !== ''))];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// GitHub's own noreply addresses name the login: `12345+octocat@users.noreply.github.com`.
const NOREPLY = /^(?:\d+\+)?([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))@users\.noreply\./i;
const PLAIN_EMAIL = /^[^\s@"():]+@[^\s@"():]+\.[^\s@"():]+$/;
// RFC 5321's limit. PLAIN_EMAIL backtracks quadratically on `a@.....x y`, and commit metadata is
// anyone's: longer addresses are not looked up, so that cost stays bounded.
const MAX_EMAIL_LENGTH = 254;

/**
 * Paces every HTTP attempt (it runs inside Octokit's retry and throttling plugins, so their retries
 * pass here too): writes go one at a time, each at least `gapMs` after the previous one ended; and
 * after a rate-limit answer carrying `retry-after` (to a read or a write), nothing is sent before that
 * time has passed (capped at `maxPauseMs`: a longer wait fails the call in the throttling plugin).
 */
class RequestPacer implements AttemptGate {
  private tail: Promise<unknown> = Promise.resolve();
  private lastEnd = 0;
  private pausedUntil = 0;

  constructor(
    private readonly gapMs: number,
    private readonly secondMs: number,
    private readonly maxPauseMs: number,
  ) {}

  attempt<T>(request: { method: string; url: string }, send: () => Promise<T>): Promise<T> {
    // Installation-token minting runs inside a paced write: holding it up would deadlock.
    if (AUTH_REQUEST.test(request.url)) return send();
    const method = request.method.toUpperCase();
    if (method === 'GET' || method === 'HEAD') return this.waitUntil(0).then(() => this.observe(send));
    const result = this.tail.then(async () => {
      await this.waitUntil(this.lastEnd + this.gapMs);
      try {
        return await this.observe(send);
      } finally {
        this.lastEnd = Date.now();
      }
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async waitUntil(notBefore: number): Promise<void> {
    for (;;) {
      const wait = Math.max(notBefore, this.pausedUntil) - Date.now();
      if (wait <= 0) return;
      await sleep(wait);
    }
  }

  private async observe<T>(send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      const http = asHttpError(error);
      const retryAfter = Number(http?.response?.headers?.['retry-after']);
      if ((http?.status === 403 || http?.status === 429) && Number.isFinite(retryAfter) && retryAfter > 0) {
        const until = Date.now() + Math.min(retryAfter * this.secondMs, this.maxPauseMs);
        this.pausedUntil = Math.max(this.pausedUntil, until);
      }
      throw error;
    }
  }
}

// Installation-token minting is not content creation, and it runs inside a paced write: pacing it
// too would deadlock.
const AUTH_REQUEST = /\/app\/installations\/[^/]+\/access_tokens$|\/applications\/[^/]+\/token/;

export class GitHubForge implements Forge {
  private readonly owner: string;
  private readonly repo: string;
  private readonly log: Logger;
  private readonly pacer: RequestPacer | undefined;
  private readonly createAttempts: number;
  /** Merge attempts: as many as plugin-retry would send for any other request. */
  private readonly mergeAttempts: number;
  private readonly backoffMs: number;
  private clientPromise: Promise<GitHubClient> | undefined;

  constructor(private readonly deps: GitHubForgeDeps) {
    this.owner = deps.owner;
    this.repo = deps.repo;
    this.log = deps.log.child({ forge: 'github', repository: `${deps.owner}/${deps.repo}` });
    this.pacer =
      deps.pace === false
        ? undefined
        : new RequestPacer(
            deps.minWriteGapMs ?? 1000,
            deps.throttle?.retryAfterBaseMs ?? 1000,
            (deps.throttle?.maxWaitSeconds ?? 120) * (deps.throttle?.retryAfterBaseMs ?? 1000),
          );
    this.createAttempts = Math.max(1, deps.createAttempts ?? 3);
    this.mergeAttempts = Math.max(1, (deps.retry?.retries ?? 3) + 1);
    this.backoffMs = deps.retry?.baseDelayMs ?? 1000;
  }

  private client(): Promise<GitHubClient> {
    this.clientPromise ??= createGitHubClient({
      baseUrl: this.deps.baseUrl ?? 'https://api.github.com',
      owner: this.owner,
      repo: this.repo,
      auth: this.deps.auth,
      userAgent: this.deps.userAgent,
      log: this.log,
      ...(this.deps.throttle === undefined ? {} : { throttle: this.deps.throttle }),
      ...(this.deps.retry === undefined ? {} : { retry: this.deps.retry }),
      ...(this.pacer === undefined ? {} : { attemptGate: this.pacer }),
      ...(this.deps.onRequest === undefined ? {} : { onRequest: this.deps.onRequest }),
    }).then(
      (client) => client,
      (error: unknown) => {
        this.clientPromise = undefined;
        throw toForgeError(error, 'authenticate');
      },
    );
    return this.clientPromise;
  }

  /** Runs one API call and translates its failure. */
  private async call<T>(what: string, run: (client: GitHubClient) => Promise<T>): Promise<T> {
    const client = await this.client();
    try {
      return await run(client);
    } catch (error) {
      throw toForgeError(error, what);
    }
  }

  private toPullRequest(json: PullJson): PullRequest {
    const merged = json.merged === true || (json.merged_at !== null && json.merged_at !== undefined);
    return {
      number: json.number,
      url: json.html_url ?? json.url ?? `pull/${json.number}`,
      title: json.title,
      body: json.body ?? '',
      state: json.state,
      merged,
      headBranch: json.head.ref,
      headSha: json.head.sha,
      baseBranch: json.base.ref,
      ...(merged && json.merge_commit_sha ? { mergeCommitSha: json.merge_commit_sha } : {}),
      labels: (json.labels ?? []).map((l) => l.name),
    };
  }

  /** Pull requests whose head is `branch` in this repository, newest first. */
  private async pullsFor(branch: string, state: 'open' | 'all'): Promise<PullJson[]> {
    const data = await this.call(
      `list pull requests for ${branch}`,
      async (c) =>
        (
          await c.rest.pulls.list({
            owner: this.owner,
            repo: this.repo,
            head: `${this.owner}:${branch}`,
            state,
            sort: 'created',
            direction: 'desc',
            per_page: 100,
          })
        ).data,
    );
    return parse(z.array(pullSchema), data, 'a pull request list')
      .filter((p) => p.head.ref === branch)
      .sort((a, b) => b.number - a.number);
  }

  async findPullRequest(branch: string): Promise<PullRequest | undefined> {
    const newest = (await this.pullsFor(branch, 'all'))[0];
    return newest === undefined ? undefined : this.toPullRequest(newest);
  }

  async getPullRequest(number: number): Promise<PullRequest> {
    return this.toPullRequest(await this.getPullJson(number));
  }

  private async getPullJson(number: number): Promise<PullJson> {
    const data = await this.call(
      `read pull request #${number}`,
      async (c) => (await c.rest.pulls.get({ owner: this.owner, repo: this.repo, pull_number: number })).data,
    );
    return parse(pullSchema, data, `pull request #${number}`);
  }

  async listOpenRewindPullRequests(): Promise<PullRequest[]> {
    const data = await this.call('list open pull requests', async (c) =>
      c.paginate(c.rest.pulls.list, {
        owner: this.owner,
        repo: this.repo,
        state: 'open',
        sort: 'created',
        direction: 'desc',
        per_page: 100,
      }),
    );
    return (
      parse(z.array(pullSchema), data, 'a pull request list')
        // Only Rewind's branches in this repository: a fork can name its branch rewind/... and write a
        // marker in its body, and must never be taken for Rewind's own pull request.
        .filter(
          (p) =>
            p.head.ref.startsWith('rewind/') &&
            p.head.repo?.full_name.toLowerCase() === `${this.owner}/${this.repo}`.toLowerCase(),
        )
        .sort((a, b) => b.number - a.number)
        .map((p) => this.toPullRequest(p))
    );
  }

  async updatePullRequestBody(number: number, body: string): Promise<void> {
    await this.call(`update the body of pull request #${number}`, async (c) =>
      c.rest.pulls.update({ owner: this.owner, repo: this.repo, pull_number: number, body }),
    );
  }

  async ensurePullRequest(input: EnsurePullRequestInput): Promise<EnsurePullRequestOutcome> {
    const found = (await this.pullsFor(input.branch, 'open'))[0];
    let pull: PullJson;
    let outcome: EnsurePullRequestOutcome['outcome'];
    if (found !== undefined) {
      pull = found;
      outcome = 'already-existed';
    } else {
      const opened = await this.createPull(input);
      pull = opened.pull;
      outcome = opened.created ? 'created' : 'already-existed';
    }
    const log = this.log.child({ pr: pull.number, branch: input.branch });

    // Labels and reviewers help people find and review the revert; the PR is no less a rollback
    // without them, so their failures are logged and never end the incident.
    let labels = (pull.labels ?? []).map((l) => l.name);
    const missingLabels = distinct(input.labels).filter((l) => !labels.includes(l));
    if (missingLabels.length > 0) {
      const added = await optionalCall(log, `label pull request #${pull.number}`, async () => {
        const data = await this.call(
          `label pull request #${pull.number}`,
          async (c) =>
            (
              await c.rest.issues.addLabels({
                owner: this.owner,
                repo: this.repo,
                issue_number: pull.number,
                labels: missingLabels,
              })
            ).data,
        );
        return parse(labelsSchema, data, 'the labels').map((l) => l.name);
      });
      if (added !== undefined) {
        labels = added;
        log.info({ labels: missingLabels }, 'labels added');
      }
    }

    await optionalCall(log, `request reviews on #${pull.number}`, () =>
      this.ensureReviewers(pull, input, outcome === 'created', log),
    );

    let title = pull.title;
    let body = pull.body ?? '';
    if (outcome !== 'created' && (title !== input.title || !sameText(body, input.body))) {
      const data = await this.call(
        `update pull request #${pull.number}`,
        async (c) =>
          (
            await c.rest.pulls.update({
              owner: this.owner,
              repo: this.repo,
              pull_number: pull.number,
              title: input.title,
              body: input.body,
            })
          ).data,
      );
      const updated = parse(pullSchema, data, `pull request #${pull.number}`);
      title = updated.title;
      body = updated.body ?? '';
      outcome = 'updated';
      log.info({}, 'pull request title/body updated');
    }

    const pr = { ...this.toPullRequest(pull), title, body, labels };
    return { outcome, pr };
  }

  /** Creates the PR; a 422 "already exists" (a create whose answer was lost) finds it instead. */
  private async createPull(input: EnsurePullRequestInput): Promise<{ pull: PullJson; created: boolean }> {
    const client = await this.client();
    try {
      const { data } = await client.rest.pulls.create({
        owner: this.owner,
        repo: this.repo,
        head: input.branch,
        base: input.base,
        title: input.title,
        body: input.body,
        maintainer_can_modify: false,
      });
      const pull = parse(pullSchema, data, 'the new pull request');
      this.log.info({ pr: pull.number, branch: input.branch }, 'pull request created');
      return { pull, created: true };
    } catch (error) {
      const failure = toForgeError(error, `open a pull request from ${input.branch} into ${input.base}`);
      // 422 "already exists": an earlier create (maybe a retried one) went through. A transient
      // failure may also hide a create that went through. Either way, look before giving up.
      const mayExist =
        httpStatus(error) === 422 ? /already exists/i.test(githubMessage(error)) : failure.retryable;
      if (mayExist) {
        const existing = (await this.pullsFor(input.branch, 'open'))[0];
        if (existing !== undefined) {
          this.log.info({ pr: existing.number, branch: input.branch }, 'pull request already existed');
          return { pull: existing, created: false };
        }
      }
      throw failure;
    }
  }

  private async ensureReviewers(
    pull: PullJson,
    input: EnsurePullRequestInput,
    fresh: boolean,
    log: Logger,
  ): Promise<void> {
    const author = pull.user?.login.toLowerCase();
    let users = distinct(input.reviewers).filter((r) => r.toLowerCase() !== author);
    let teams = distinct(input.teamReviewers);
    if (users.length === 0 && teams.length === 0) return;

    if (!fresh) {
      const requested = parse(
        requestedSchema,
        await this.call(
          `read reviewers of #${pull.number}`,
          async (c) =>
            (
              await c.rest.pulls.listRequestedReviewers({
                owner: this.owner,
                repo: this.repo,
                pull_number: pull.number,
              })
            ).data,
        ),
        'the requested reviewers',
      );
      const requestedUsers = new Set((requested.users ?? []).map((u) => u.login.toLowerCase()));
      const requestedTeams = new Set((requested.teams ?? []).map((t) => t.slug.toLowerCase()));
      users = users.filter((u) => !requestedUsers.has(u.toLowerCase()));
      teams = teams.filter((t) => !requestedTeams.has(t.toLowerCase()));
      if (users.length > 0) {
        // Someone who already reviewed is not "requested" any more; asking again would re-notify them.
        const reviews = parse(
          reviewsSchema,
          await this.call(`read reviews of #${pull.number}`, async (c) =>
            c.paginate(c.rest.pulls.listReviews, {
              owner: this.owner,
              repo: this.repo,
              pull_number: pull.number,
              per_page: 100,
            }),
          ),
          'the reviews',
        );
        const reviewed = new Set(reviews.map((r) => r.user?.login.toLowerCase()));
        users = users.filter((u) => !reviewed.has(u.toLowerCase()));
      }
      if (users.length === 0 && teams.length === 0) return;
    }

    const request = (reviewers: string[], team_reviewers: string[]): Promise<unknown> =>
      this.call(`request reviews on #${pull.number}`, async (c) =>
        c.rest.pulls.requestReviewers({
          owner: this.owner,
          repo: this.repo,
          pull_number: pull.number,
          reviewers,
          team_reviewers,
        }),
      );
    const cannotReview = (error: unknown): boolean =>
      error instanceof TerminalError && (error.cause as { status?: number } | undefined)?.status === 422;

    try {
      await request(users, teams);
      log.info({ reviewers: users, teamReviewers: teams }, 'reviews requested');
    } catch (error) {
      if (!cannotReview(error)) throw error;
      // One reviewer GitHub will not accept (the author, a non-collaborator) fails the whole batch:
      // ask each one alone and skip those refused.
      for (const [one, team] of [
        ...users.map((u) => [u, false] as const),
        ...teams.map((t) => [t, true] as const),
      ]) {
        try {
          await request(team ? [] : [one], team ? [one] : []);
        } catch (inner) {
          if (!cannotReview(inner)) throw inner;
          log.warn(
            { reviewer: one, team, reason: (inner as Error).message },
            'reviewer cannot be requested; skipped',
          );
        }
      }
    }
  }

  async ensureComment(
    number: number,
    marker: string,
    body: string,
    options: { update?: boolean } = {},
  ): Promise<CommentOutcome> {
    if (marker.trim() === '') throw new TerminalError('ensureComment needs a non-empty marker.');
    const text = body.includes(marker) ? body : `${body}\n\n${marker}\n`;
    // GitHub does not deduplicate comments, so the create itself is never retried blindly: every
    // round looks for the marker first, which finds a comment whose answer was lost.
    for (let attempt = 1; ; attempt++) {
      const existing = await this.findComment(number, marker);
      if (existing !== undefined) {
        if (options.update !== true || sameText(existing.body ?? '', text)) return 'already-existed';
        await this.call(`update comment ${existing.id}`, async (c) =>
          c.rest.issues.updateComment({
            owner: this.owner,
            repo: this.repo,
            comment_id: existing.id,
            body: text,
          }),
        );
        return 'updated';
      }
      try {
        await this.call(`comment on #${number}`, async (c) =>
          c.rest.issues.createComment({
            owner: this.owner,
            repo: this.repo,
            issue_number: number,
            body: text,
            request: { retries: 0 },
          }),
        );
        return 'created';
      } catch (error) {
        if (!(isRewindError(error) && error.retryable) || attempt >= this.createAttempts) throw error;
        this.log.warn(
          { pr: number, attempt, reason: error.message },
          'comment failed; looking again before retrying',
        );
        await sleep(this.backoffMs * attempt * attempt);
      }
    }
  }

  private async findComment(
    number: number,
    marker: string,
  ): Promise<{ id: number; body?: string | null | undefined } | undefined> {
    const comments = await this.call(`list comments of #${number}`, async (c) =>
      c.paginate(c.rest.issues.listComments, {
        owner: this.owner,
        repo: this.repo,
        issue_number: number,
        per_page: 100,
      }),
    );
    return parse(z.array(commentSchema), comments, 'the comments').find((c) =>
      (c.body ?? '').includes(marker),
    );
  }

  /**
   * Merges behind the head-sha guard. Each attempt is sent once (no plugin-retry resend) and a
   * failed one is followed by a look at the pull request: after an answer lost on the way back, the
   * merge has often happened, and GitHub answers a second merge with 405 "not mergeable", which
   * plugin-retry would resend three more times (1 + 4 + 9 s) before anyone looked.
   */
  async mergePullRequest(
    number: number,
    options: { sha: string; method: 'merge' | 'squash' | 'rebase'; title?: string; message?: string },
  ): Promise<MergeOutcome> {
    const client = await this.client();
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= this.mergeAttempts;
      try {
        const { data } = await client.rest.pulls.merge({
          owner: this.owner,
          repo: this.repo,
          pull_number: number,
          sha: options.sha,
          merge_method: options.method,
          ...(options.title === undefined ? {} : { commit_title: options.title }),
          ...(options.message === undefined ? {} : { commit_message: options.message }),
          request: { retries: 0 },
        });
        const merged = parse(mergeSchema, data, 'the merge');
        if (merged.merged === true && merged.sha) {
          this.log.info({ pr: number, sha: merged.sha }, 'pull request merged');
          return { outcome: 'merged', sha: merged.sha };
        }
        return await this.mergedAlready(
          number,
          200,
          merged.message ?? 'GitHub did not merge the pull request',
        );
      } catch (error) {
        const status = httpStatus(error);
        if (status === 405 || status === 409 || status === 422) {
          // 405 can also mean GitHub is still computing mergeability: worth another attempt.
          const retry = status === 405 && !last;
          const outcome = await this.mergedAlready(number, status, githubMessage(error), !retry);
          if (outcome !== undefined) return outcome;
        } else {
          const failure = toForgeError(error, `merge pull request #${number}`);
          if (!failure.retryable) throw failure;
          // The merge may have happened and only its answer been lost.
          const pull = await this.getPullJson(number).catch(() => undefined);
          if (pull !== undefined && this.toPullRequest(pull).merged) return this.alreadyMerged(pull);
          if (last) throw failure;
        }
        this.log.warn({ pr: number, attempt, status }, 'merge failed; looked again, retrying');
        await sleep(this.backoffMs * attempt * attempt);
      }
    }
  }

  /** After a refusal: a PR that is in fact merged (by us earlier, or by a person) is not a refusal. */
  private async mergedAlready(number: number, status: number, message: string): Promise<MergeOutcome>;
  private async mergedAlready(
    number: number,
    status: number,
    message: string,
    final: boolean,
  ): Promise<MergeOutcome | undefined>;
  private async mergedAlready(
    number: number,
    status: number,
    message: string,
    final = true,
  ): Promise<MergeOutcome | undefined> {
    const pull = await this.getPullJson(number);
    if (this.toPullRequest(pull).merged) return this.alreadyMerged(pull);
    if (!final) return undefined;
    this.log.warn({ pr: number, status, reason: message }, 'merge refused');
    return { outcome: 'refused', status, message: redactSecrets(message) };
  }

  private alreadyMerged(pull: PullJson): MergeOutcome {
    this.log.info({ pr: pull.number, sha: pull.merge_commit_sha }, 'pull request already merged');
    return { outcome: 'already-merged', sha: pull.merge_commit_sha ?? '' };
  }

  async loginForEmail(email: string): Promise<string | undefined> {
    const address = email.trim();
    const noreply = NOREPLY.exec(address);
    if (noreply?.[1] !== undefined) return noreply[1];
    // The address comes from commit metadata: anything that is not a plain address could smuggle
    // search qualifiers into the query.
    if (address.length > MAX_EMAIL_LENGTH || !PLAIN_EMAIL.test(address)) return undefined;
    try {
      const client = await this.client();
      const { data } = await client.rest.search.users({ q: `${address} in:email`, per_page: 1 });
      return parse(userSearchSchema, data, 'the user search').items[0]?.login;
    } catch (error) {
      this.log.debug({ reason: toForgeError(error, 'search users').message }, 'no login for a commit email');
      return undefined;
    }
  }

  // ---- ChatOps: who is asking, and acknowledging them -----------------------------------------

  /**
   * The person's role on this repository (`GET .../collaborators/{user}/permission`): GitHub's
   * `role_name` (admin, maintain, write, triage, read) when it sends one, else the legacy
   * `permission` (admin, write, read, none). Someone GitHub does not know has none.
   */
  async permissionOf(login: string): Promise<string> {
    try {
      const data = await this.call(`read the permission of ${login}`, async (c) => {
        const answer = await c.rest.repos.getCollaboratorPermissionLevel({
          owner: this.owner,
          repo: this.repo,
          username: login,
        });
        return answer.data;
      });
      const parsed = parse(permissionSchema, data, 'a collaborator permission');
      return (parsed.role_name ?? parsed.permission).toLowerCase();
    } catch (error) {
      if (error instanceof NotFoundError) return 'none';
      throw error;
    }
  }

  /** Whether `login` is an active member of the team `org/slug` (a 404 means no). */
  async isTeamMember(org: string, slug: string, login: string): Promise<boolean> {
    try {
      const data = await this.call(`read the membership of ${login} in ${org}/${slug}`, async (c) => {
        const answer = await c.rest.teams.getMembershipForUserInOrg({
          org,
          team_slug: slug,
          username: login,
        });
        return answer.data;
      });
      return parse(membershipSchema, data, 'a team membership').state === 'active';
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
  }

  /** Reacts to an issue comment; GitHub answers 200 for a reaction Rewind already made (idempotent). */
  async reactToComment(
    commentId: number,
    content: 'eyes' | '+1' | '-1' | 'confused' | 'rocket',
  ): Promise<void> {
    await this.call(`react to comment ${commentId}`, async (c) =>
      c.rest.reactions.createForIssueComment({
        owner: this.owner,
        repo: this.repo,
        comment_id: commentId,
        content,
      }),
    );
  }
}
