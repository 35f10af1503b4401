// Fault injection for the sandbox forge: GitHub's failure answers (5xx, primary and secondary rate
// limits), slowness, and the nastiest one for idempotency: a write that took effect but whose
// answer was lost (a 502 after the PR was created). Deterministic for a given seed and request order.
import { DOCS } from './http.ts';
import type { FaultKind } from './state.ts';

export interface FaultOptions {
  /** Share of requests answered 500/502/503 before doing anything. */
  errorRate?: number;
  /** Share answered 403 with `x-ratelimit-remaining: 0` (primary limit exhausted). */
  rateLimitRate?: number;
  /** Share answered 403 or 429 "You have exceeded a secondary rate limit" with `retry-after: 1`. */
  secondaryRateLimitRate?: number;
  /** Share of successful writes whose answer is replaced by a 502 after the effect happened. */
  afterEffectRate?: number;
  /** Delay before every answer. */
  slowMs?: number;
  seed?: number;
  /**
   * Faults aimed at one operation (Octokit's name, `pulls.create`), on top of the random ones: a
   * test can lose exactly the answer it means to, or break one endpoint for good.
   */
  routes?: Readonly<Record<string, RouteFault>>;
}

export interface RouteFault {
  /** Answer with this status (GitHub's error body) instead of handling the request. */
  readonly status?: number;
  /** Handle the request, then lose its answer (a 502). For writes, like `afterEffectRate`. */
  readonly afterEffect?: boolean;
  /** How many requests to this operation the fault hits (default: every one). */
  readonly times?: number;
}

export interface FaultAnswer {
  readonly kind: FaultKind;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Record<string, unknown>;
}

/** mulberry32: tiny, seedable, good enough to pick faults (and to make fuzz tests reproducible). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FaultRoll {
  /** A fault to answer instead of handling the request, if any. */
  readonly before: FaultAnswer | undefined;
  /** Whether a successful write's answer is to be replaced by `afterEffectAnswer()`. */
  readonly afterEffect: boolean;
}

export class FaultInjector {
  private options: FaultOptions = {};
  private random: () => number = Math.random;
  private readonly routeHits = new Map<string, number>();

  constructor(options: FaultOptions | undefined) {
    this.set(options);
  }

  set(options: FaultOptions | undefined): void {
    this.options = { ...options };
    this.random = mulberry32(options?.seed ?? Math.floor(Math.random() * 2 ** 32));
    this.routeHits.clear();
  }

  get slowMs(): number {
    return Math.max(0, this.options.slowMs ?? 0);
  }

  /**
   * Draws the same three numbers for every request, so one seed gives one sequence of faults; a
   * fault aimed at `route` wins over the random draw.
   */
  roll(isWrite: boolean, now = Date.now(), route?: string): FaultRoll {
    const which = this.random();
    const variant = this.random();
    const after = this.random();
    const {
      rateLimitRate = 0,
      secondaryRateLimitRate = 0,
      errorRate = 0,
      afterEffectRate = 0,
    } = this.options;
    let before: FaultAnswer | undefined;
    if (which < rateLimitRate) before = primaryRateLimit(now);
    else if (which < rateLimitRate + secondaryRateLimitRate)
      before = secondaryRateLimit(variant < 0.5 ? 403 : 429);
    else if (which < rateLimitRate + secondaryRateLimitRate + errorRate) {
      before = serverError(variant < 1 / 3 ? 500 : variant < 2 / 3 ? 502 : 503);
    }
    const aimed = this.aimedAt(route);
    if (aimed?.status !== undefined) before = statusAnswer(aimed.status);
    return {
      before,
      afterEffect:
        isWrite && before === undefined && (aimed?.afterEffect === true || after < afterEffectRate),
    };
  }

  /** The fault aimed at this operation, counted against its `times`. */
  private aimedAt(route: string | undefined): RouteFault | undefined {
    const fault = route === undefined ? undefined : this.options.routes?.[route];
    if (route === undefined || fault === undefined) return undefined;
    const hits = this.routeHits.get(route) ?? 0;
    if (fault.times !== undefined && hits >= fault.times) return undefined;
    this.routeHits.set(route, hits + 1);
    return fault;
  }
}

function statusAnswer(status: number): FaultAnswer {
  if (status === 500 || status === 502 || status === 503) return serverError(status);
  const message = status === 404 ? 'Not Found' : `Sandbox fault ${status}`;
  return { kind: 'error', status, headers: {}, body: { message, status: String(status) } };
}

function primaryRateLimit(now: number): FaultAnswer {
  return {
    kind: 'rate-limit',
    status: 403,
    headers: {
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-used': '5000',
      // The window ends within a second or two, so a throttled client waits briefly.
      'x-ratelimit-reset': String(Math.ceil(now / 1000) + 1),
      'x-ratelimit-resource': 'core',
    },
    body: {
      message: 'API rate limit exceeded for installation ID 1.',
      documentation_url: `${DOCS}/overview/rate-limits-for-the-rest-api`,
      status: '403',
    },
  };
}

function secondaryRateLimit(status: 403 | 429): FaultAnswer {
  return {
    kind: 'secondary-rate-limit',
    status,
    headers: { 'retry-after': '1' },
    body: {
      message:
        'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. ' +
        'If you reach out to GitHub Support for help, please include the request ID sandbox.',
      documentation_url: `${DOCS}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits`,
      status: String(status),
    },
  };
}

function serverError(status: 500 | 502 | 503): FaultAnswer {
  const message =
    status === 502 ? 'Server Error' : status === 503 ? 'Service Unavailable' : 'Internal Server Error';
  return { kind: 'error', status, headers: {}, body: { message, status: String(status) } };
}

/** The answer that replaces a successful write when the effect happened but the response was lost. */
export function afterEffectAnswer(): FaultAnswer {
  return { ...serverError(502), kind: 'after-effect' };
}
