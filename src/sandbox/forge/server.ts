// The sandbox forge: a GitHub-compatible REST subset over a bare Git repository. Octokit talks to it
// unchanged through `baseUrl`; pull requests really merge into the bare repository; comments,
// labels, reactions, reviewers and reviews are kept in memory (ForgeState); signed webhooks go to the bot.
// Faults (5xx, rate limits, slow answers, lost answers after a write) make retries and idempotency
// testable. Everything a test may want to check is in `state`.
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BareRepo, type MergeMethod } from './bare-repo.ts';
import { type CommitMessageSettings, GITHUB_DEFAULT_COMMIT_MESSAGES } from './commit-messages.ts';
import { type FaultAnswer, FaultInjector, type FaultOptions, afterEffectAnswer } from './faults.ts';
import { type ForgeResponse, HttpError, DOCS, matchRoute, readJsonBody } from './http.ts';
import { type ProtectionOptions, SandboxRepository } from './repository.ts';
import { gitRoutes } from './routes-git.ts';
import { issueRoutes } from './routes-issues.ts';
import { pullRoutes } from './routes-pulls.ts';
import { userRoutes } from './routes-users.ts';
import { Shapes } from './shapes.ts';
import { ForgeState, type FaultKind } from './state.ts';
import { BOT_LOGIN, type ForgeUserInput, UserDirectory } from './users.ts';
import { WebhookSender } from './webhooks.ts';

export { ForgeState } from './state.ts';
export type {
  CommentRecord,
  DeliveryRecord,
  FaultKind,
  LabelRecord,
  MergeRecord,
  PullRecord,
  ReactionRecord,
  RequestRecord,
  ReviewRecord,
} from './state.ts';
export type { FaultOptions, RouteFault } from './faults.ts';
export type { ProtectionOptions } from './repository.ts';
export type { CommitMessageSettings } from './commit-messages.ts';
export { BOT_LOGIN } from './users.ts';

/** A person at the merge button: the method they pick, and the title/message if they edit them. */
export interface HumanMergeOptions {
  readonly method?: MergeMethod;
  readonly commitTitle?: string;
  readonly commitMessage?: string;
}

export interface SandboxForgeOptions {
  /** Path of a bare git repository (the sandbox fleet's remote). */
  repoDir: string;
  owner: string;
  repo: string;
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** When set, requests must carry `Authorization: token <t>` or `Bearer <t>`; 401 otherwise. */
  token?: string;
  users?: ForgeUserInput[];
  webhook?: { url: string; secret: string };
  /** Merges are refused with 405 while set. */
  protection?: ProtectionOptions;
  /** Default merge/squash commit messages (repository settings); GitHub's defaults otherwise. */
  commitMessages?: Partial<CommitMessageSettings>;
  faults?: FaultOptions;
}

export interface SandboxForge {
  /** Octokit `baseUrl`, e.g. http://127.0.0.1:4567 */
  readonly url: string;
  readonly state: ForgeState;
  setFaults(f: SandboxForgeOptions['faults']): void;
  setProtection(p: SandboxForgeOptions['protection']): void;
  /** Changes the repository's default merge/squash commit messages (GitHub's defaults + these). */
  setCommitMessages(settings: Partial<CommitMessageSettings>): void;
  /** Acts as a human on the forge (sends the same webhooks). A human admin merges past protection. */
  humanMerge(number: number, login?: string, options?: HumanMergeOptions): Promise<void>;
  humanClose(number: number, login?: string): Promise<void>;
  humanComment(number: number, body: string, login?: string): Promise<void>;
  /** A person submits a review: `APPROVE`, `REQUEST_CHANGES` or `COMMENT`. */
  humanReview(number: number, event: string, body?: string, login?: string): Promise<void>;
  /** Resolves once every webhook queued so far was delivered or gave up. */
  webhooksIdle(): Promise<void>;
  stop(): Promise<void>;
}

const CORE_LIMIT = 5000;

/** GitHub's primary quota, counted per hour, reported in `x-ratelimit-*` headers. */
class Quota {
  private used = 0;
  private resetAt = 0;

  private window(now: number): void {
    if (now >= this.resetAt * 1000) {
      this.used = 0;
      this.resetAt = Math.ceil(now / 1000) + 3600;
    }
  }

  spend(now = Date.now()): void {
    this.window(now);
    this.used = Math.min(CORE_LIMIT, this.used + 1);
  }

  core(now = Date.now()): { limit: number; remaining: number; reset: number; used: number } {
    this.window(now);
    return { limit: CORE_LIMIT, remaining: CORE_LIMIT - this.used, reset: this.resetAt, used: this.used };
  }

  headers(): Record<string, string> {
    const core = this.core();
    return {
      'x-ratelimit-limit': String(core.limit),
      'x-ratelimit-remaining': String(core.remaining),
      'x-ratelimit-reset': String(core.reset),
      'x-ratelimit-used': String(core.used),
      'x-ratelimit-resource': 'core',
    };
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs writes one at a time (a PR create checks for duplicates, then creates; a merge moves a ref). */
class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export async function startSandboxForge(options: SandboxForgeOptions): Promise<SandboxForge> {
  const git = new BareRepo(options.repoDir);
  const defaultBranch = await git.defaultBranch();
  const state = new ForgeState();
  const users = new UserDirectory(options.users ?? []);
  const faults = new FaultInjector(options.faults);
  const quota = new Quota();
  const writes = new SerialQueue();
  const webhooks = new WebhookSender(options.webhook, state.deliveries);
  const defaultHuman = options.users?.[0]?.login ?? 'octocat';

  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  const shapes = new Shapes(url, options.owner, options.repo, users, pathToFileURL(options.repoDir).href);
  const repository = new SandboxRepository(git, state, shapes, users, webhooks);
  repository.defaultBranch = defaultBranch;
  repository.protection = { ...options.protection };
  repository.commitMessages = { ...GITHUB_DEFAULT_COMMIT_MESSAGES, ...options.commitMessages };
  const routes = [
    ...gitRoutes(repository),
    ...pullRoutes(repository),
    ...issueRoutes(repository),
    ...userRoutes(users, shapes, quota),
  ];

  /** Who is calling: the bot (the forge token), a person (their own token), or a 401. */
  const authenticate = (header: string | undefined): HttpError | string => {
    const match = header === undefined ? null : /^(?:token|bearer)\s+(\S+)$/i.exec(header.trim());
    const presented = match?.[1];
    const person = presented === undefined ? undefined : users.byToken(presented);
    if (person !== undefined) return person.login;
    if (options.token === undefined) return BOT_LOGIN;
    if (header === undefined) return new HttpError(401, 'Requires authentication');
    return presented === options.token ? BOT_LOGIN : new HttpError(401, 'Bad credentials');
  };

  interface Answer {
    readonly response: ForgeResponse;
    readonly fault: FaultKind | undefined;
  }
  const plain = (response: ForgeResponse): Answer => ({ response, fault: undefined });
  const failed = (error: unknown): Answer => plain(errorResponse(error));

  /** Order as on GitHub: authentication, then limits and faults, then the route itself. */
  const answer = async (
    req: http.IncomingMessage,
    method: string,
    pathname: string,
    query: URLSearchParams,
    matched: ReturnType<typeof matchRoute>,
    isWrite: boolean,
  ): Promise<Answer> => {
    const caller = authenticate(req.headers.authorization);
    if (caller instanceof HttpError) return failed(caller);
    const roll = faults.roll(
      isWrite,
      Date.now(),
      typeof matched === 'object' ? matched.route.name : undefined,
    );
    if (faults.slowMs > 0) await sleep(faults.slowMs);
    if (roll.before !== undefined) return { response: faultResponse(roll.before), fault: roll.before.kind };
    if (typeof matched !== 'object') return failed(new HttpError(404, 'Not Found'));
    const { params, route } = matched;
    const otherRepository =
      params['owner'] !== undefined &&
      (params['owner'].toLowerCase() !== options.owner.toLowerCase() ||
        (params['repo'] ?? '').toLowerCase() !== options.repo.toLowerCase());
    if (otherRepository) return failed(new HttpError(404, 'Not Found'));
    let response: ForgeResponse;
    try {
      // The body is read before queueing, so a slow client never holds up other writes.
      const body = isWrite ? await readJsonBody(req) : {};
      const handle = () => route.handler({ method, path: pathname, params, query, body, login: caller });
      response = isWrite ? await writes.run(handle) : await handle();
    } catch (error) {
      return failed(error);
    }
    // The effect stays; only the answer is lost (a retry must meet GitHub's 422/405 paths).
    if (roll.afterEffect && response.status < 300)
      return { response: faultResponse(afterEffectAnswer()), fault: 'after-effect' };
    return plain(response);
  };

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const at = Date.now();
    const method = (req.method ?? 'GET').toUpperCase();
    const parsed = new URL(req.url ?? '/', 'http://sandbox');
    let pathname: string;
    try {
      pathname = decodeURIComponent(parsed.pathname);
    } catch {
      pathname = parsed.pathname;
    }
    const matched = matchRoute(routes, method, pathname);
    const routeName = typeof matched === 'object' ? matched.route.name : undefined;
    const isWrite = !['GET', 'HEAD', 'OPTIONS'].includes(method);
    void answer(req, method, pathname, parsed.searchParams, matched, isWrite)
      .catch(failed)
      .then(({ response, fault }) => {
        if (routeName !== 'rateLimit.get') quota.spend();
        state.requests.push({
          method,
          path: pathname,
          query: parsed.search,
          route: routeName,
          status: response.status,
          at,
          durationMs: Date.now() - at,
          fault,
          write: isWrite,
        });
        const headers: Record<string, string> = {
          'content-type': 'application/json; charset=utf-8',
          'x-github-media-type': 'github.v3; format=json',
          'x-github-request-id': randomUUID(),
          ...quota.headers(),
          ...response.headers,
        };
        req.resume();
        if (response.status === 204 || response.body === undefined) {
          res.writeHead(response.status, headers).end();
        } else {
          res.writeHead(response.status, headers).end(JSON.stringify(response.body));
        }
      });
  });

  const human = (login: string | undefined) => users.get(login ?? defaultHuman).login;

  return {
    url,
    state,
    setFaults: (f) => faults.set(f),
    setCommitMessages: (settings) => {
      repository.commitMessages = { ...GITHUB_DEFAULT_COMMIT_MESSAGES, ...settings };
    },
    setProtection: (p) => {
      repository.protection = { ...p };
    },
    humanMerge: (number, login, merge = {}) =>
      writes.run(async () => {
        await repository.mergePull(
          number,
          { method: 'merge', ...merge, bypassProtection: true },
          human(login),
        );
      }),
    humanClose: (number, login) =>
      writes.run(async () => {
        await repository.closePull(number, human(login));
      }),
    humanComment: (number, body, login) =>
      writes.run(async () => {
        await repository.addComment(number, body, human(login));
      }),
    humanReview: (number, event, body, login) =>
      writes.run(async () => {
        await repository.addReview(number, { event, ...(body === undefined ? {} : { body }) }, human(login));
      }),
    webhooksIdle: () => webhooks.idle(),
    async stop() {
      await webhooks.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function errorResponse(error: unknown): ForgeResponse {
  if (error instanceof HttpError) {
    return {
      status: error.status,
      body: error.toBody(),
      ...(error.extra.headers === undefined ? {} : { headers: error.extra.headers }),
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    status: 500,
    body: { message: `Sandbox forge failure: ${message}`, documentation_url: DOCS, status: '500' },
  };
}

function faultResponse(fault: FaultAnswer): ForgeResponse {
  return { status: fault.status, body: fault.body, headers: fault.headers };
}
