// Builds the Octokit client the GitHub forge adapter talks through: retry (5xx, network) and
// throttling (primary and secondary rate limits, honouring `retry-after`) from the official plugins,
// token or GitHub App authentication, and a log bridge that never forwards request options (they
// can carry the Authorization header).
import { createAppAuth } from '@octokit/auth-app';
import { retry } from '@octokit/plugin-retry';
import { type ThrottlingOptions, throttling } from '@octokit/plugin-throttling';
import { Octokit } from '@octokit/rest';
import { TerminalError } from '../domain/errors.ts';
import { redactSecrets } from '../domain/outbound-text.ts';
import type { Logger } from '../pipeline/ports.ts';

export type GitHubAuth =
  | { readonly type: 'token'; readonly token: string }
  | {
      readonly type: 'app';
      readonly appId: number | string;
      /** PEM (PKCS#1 or PKCS#8). */
      readonly privateKey: string;
      /** Looked up from the repository (`GET /repos/{owner}/{repo}/installation`) when absent. */
      readonly installationId?: number;
    };

/** What a rate-limit handler sees: never the request options themselves. */
export interface RateLimitEvent {
  readonly method: string;
  readonly url: string;
  readonly retryAfterSeconds: number;
  readonly retryCount: number;
  readonly kind: 'primary' | 'secondary';
}

export interface ThrottleSettings {
  /** Retries per request after a rate limit (default 3); then the call fails with a TransientError. */
  readonly maxRetries?: number;
  /** Never wait longer than this for one retry (default 120 s); a longer reset fails the call instead. */
  readonly maxWaitSeconds?: number;
  /** Milliseconds per second of `retry-after` (default 1000; tests make it small). */
  readonly retryAfterBaseMs?: number;
  /** Return false to give up at once; the default policy applies when it returns undefined. */
  readonly onRateLimit?: (event: RateLimitEvent) => boolean | undefined;
}

export interface RetrySettings {
  /** Retries of 5xx / network failures (default 3, quadratic backoff). */
  readonly retries?: number;
  /** Milliseconds per backoff unit (default 1000; tests make it small). */
  readonly baseDelayMs?: number;
}

/**
 * Sees every HTTP attempt of the client, the plugins' retries included: it runs inside the retry and
 * throttling plugins (github.ts paces writes and honours rate-limit pauses here).
 */
export interface AttemptGate {
  attempt<T>(request: { readonly method: string; readonly url: string }, send: () => Promise<T>): Promise<T>;
}

/** Sees every HTTP request of the client (metrics): its route template, never the expanded URL. */
export type ForgeRequestObserver = (request: {
  readonly method: string;
  /** Octokit's route template, e.g. `/repos/{owner}/{repo}/pulls`. */
  readonly url: string;
  /** HTTP status; 0 when no answer came. */
  readonly status: number;
  readonly seconds: number;
}) => void;

export interface GitHubClientOptions {
  readonly baseUrl: string;
  readonly owner: string;
  readonly repo: string;
  readonly auth: GitHubAuth;
  readonly userAgent: string;
  readonly log: Logger;
  readonly throttle?: ThrottleSettings;
  readonly retry?: RetrySettings;
  readonly attemptGate?: AttemptGate;
  readonly onRequest?: ForgeRequestObserver;
}

/**
 * Registered before the retry and throttling plugins, so its hook is inside theirs: a retried
 * request passes the gate again instead of going out right after the failed attempt.
 */
function attemptGatePlugin(octokit: Pick<Octokit, 'hook'>, options: Record<string, unknown>): void {
  const gate = options['attemptGate'] as AttemptGate | undefined;
  if (gate === undefined) return;
  octokit.hook.wrap('request', (request, endpoint) =>
    gate.attempt({ method: String(endpoint.method), url: String(endpoint.url) }, async () =>
      request(endpoint),
    ),
  );
}

/**
 * Registered first, so its hook is the innermost: it times each HTTP attempt (retries count
 * separately) without the gate's pacing waits. `endpoint.url` is still the route template here.
 */
function requestObserverPlugin(octokit: Pick<Octokit, 'hook'>, options: Record<string, unknown>): void {
  const observe = options['onRequest'] as ForgeRequestObserver | undefined;
  if (observe === undefined) return;
  octokit.hook.wrap('request', async (request, endpoint) => {
    const started = performance.now();
    const seen = (status: number): void =>
      observe({
        method: String(endpoint.method),
        url: String(endpoint.url),
        status,
        seconds: (performance.now() - started) / 1000,
      });
    try {
      const response = await request(endpoint);
      seen(response.status);
      return response;
    } catch (error) {
      const status = (error as { status?: unknown }).status;
      seen(typeof status === 'number' ? status : 0);
      throw error;
    }
  });
}

export const RewindOctokit = Octokit.plugin(requestObserverPlugin, attemptGatePlugin, retry, throttling);
export type GitHubClient = InstanceType<typeof RewindOctokit>;

type LimitHandler = (
  retryAfter: number,
  options: { method: string; url: string },
  octokit: unknown,
  retryCount: number,
) => boolean;

function limitHandler(kind: RateLimitEvent['kind'], settings: ThrottleSettings, log: Logger): LimitHandler {
  const maxRetries = settings.maxRetries ?? 3;
  const maxWaitSeconds = settings.maxWaitSeconds ?? 120;
  return (retryAfter, options, _octokit, retryCount) => {
    const event: RateLimitEvent = {
      method: options.method,
      url: options.url,
      retryAfterSeconds: retryAfter,
      retryCount,
      kind,
    };
    const wanted = settings.onRateLimit?.(event) ?? (retryCount < maxRetries && retryAfter <= maxWaitSeconds);
    log.warn({ ...event, retrying: wanted }, `GitHub ${kind} rate limit`);
    return wanted;
  };
}

/** Octokit's log calls pass request options as extra arguments; only the message string survives. */
function octokitLog(log: Logger): {
  debug: (m: string) => void;
  info: (m: string) => void;
  warn: (m: string) => void;
  error: (m: string) => void;
} {
  const text = (message: unknown): string => redactSecrets(String(message)).slice(0, 500);
  return {
    debug: (message) => log.debug({ octokit: text(message) }, 'octokit'),
    // Octokit logs every request at info; that is debug detail for Rewind.
    info: (message) => log.debug({ octokit: text(message) }, 'octokit'),
    warn: (message) => log.warn({ octokit: text(message) }, 'octokit'),
    error: (message) => log.debug({ octokit: text(message) }, 'octokit'),
  };
}

type LimiterGroup = NonNullable<ThrottlingOptions['write']>;

// plugin-throttling spaces writes (1 s) and notification-triggering writes (3 s) through Bottleneck
// groups shared by every Octokit in the process. The adapter paces its own writes instead (one at a
// time per instance, with a configurable gap, see github.ts), so these groups only pass through.
const PASS_THROUGH = {
  key: () => ({
    schedule: (_options: unknown, task: (...args: unknown[]) => unknown, ...args: unknown[]) =>
      Promise.resolve(task(...args)),
  }),
} as unknown as LimiterGroup;

function build(
  options: GitHubClientOptions,
  auth: { authStrategy?: typeof createAppAuth; auth: unknown },
): GitHubClient {
  const throttle = options.throttle ?? {};
  return new RewindOctokit({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    userAgent: options.userAgent,
    log: octokitLog(options.log),
    ...auth,
    ...(options.attemptGate === undefined ? {} : { attemptGate: options.attemptGate }),
    ...(options.onRequest === undefined ? {} : { onRequest: options.onRequest }),
    retry: {
      retries: options.retry?.retries ?? 3,
      retryAfterBaseValue: options.retry?.baseDelayMs ?? 1000,
      // Not 429: plugin-retry would resend it after its own backoff, ignoring `retry-after`; the
      // throttling plugin retries rate limits after the time GitHub asked for.
      doNotRetry: [400, 401, 403, 404, 410, 422, 429, 451],
    },
    throttle: {
      onRateLimit: limitHandler('primary', throttle, options.log),
      onSecondaryRateLimit: limitHandler('secondary', throttle, options.log),
      retryAfterBaseValue: throttle.retryAfterBaseMs ?? 1000,
      fallbackSecondaryRateRetryAfter: 60,
      write: PASS_THROUGH,
      notifications: PASS_THROUGH,
    },
  });
}

/**
 * An authenticated client. For a GitHub App without an installation id, the id is looked up from
 * the repository first (as the app, with a JWT), then every request runs as that installation
 * (auth-app mints and refreshes the 1 h installation tokens).
 */
export async function createGitHubClient(options: GitHubClientOptions): Promise<GitHubClient> {
  const auth = options.auth;
  if (auth.type === 'token') {
    if (auth.token.trim() === '')
      throw new TerminalError('The GitHub token is empty; set the variable named by forge.tokenEnv.');
    return build(options, { auth: auth.token });
  }
  const app = { appId: auth.appId, privateKey: auth.privateKey };
  let installationId = auth.installationId;
  if (installationId === undefined) {
    const asApp = build(options, { authStrategy: createAppAuth, auth: app });
    const { data } = await asApp.rest.apps.getRepoInstallation({ owner: options.owner, repo: options.repo });
    installationId = data.id;
    options.log.info(
      { installationId, owner: options.owner, repo: options.repo },
      'GitHub App installation found',
    );
  }
  return build(options, { authStrategy: createAppAuth, auth: { ...app, installationId } });
}
