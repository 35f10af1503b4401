// HTTP plumbing for the sandbox forge: a tiny router whose patterns read like GitHub's REST docs,
// JSON bodies with GitHub's error shapes, and Link-header pagination that octokit.paginate follows.
import type http from 'node:http';

export const DOCS = 'https://docs.github.com/rest';
const MAX_BODY_BYTES = 5 * 1024 * 1024;

/** A GitHub error answer: `{message, documentation_url, errors?}` with a status and optional headers. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: { errors?: unknown[]; headers?: Record<string, string>; documentationUrl?: string } = {},
  ) {
    super(message);
  }

  toBody(): Record<string, unknown> {
    return {
      message: this.message,
      ...(this.extra.errors === undefined ? {} : { errors: this.extra.errors }),
      documentation_url: this.extra.documentationUrl ?? DOCS,
      status: String(this.status),
    };
  }
}

export const notFound = (): HttpError => new HttpError(404, 'Not Found');

/** 422 the way GitHub words it: "Validation Failed" with one entry per problem. */
export function validationFailed(errors: unknown[], message = 'Validation Failed'): HttpError {
  return new HttpError(422, message, { errors });
}

export interface ForgeRequest {
  readonly method: string;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly body: Record<string, unknown>;
  /** The authenticated caller (the bot for API requests). */
  readonly login: string;
}

export interface ForgeResponse {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export type Handler = (request: ForgeRequest) => Promise<ForgeResponse>;

export interface Route {
  readonly method: string;
  /** Operation name as in Octokit (`pulls.create`), recorded in the request log. */
  readonly name: string;
  readonly pattern: RegExp;
  readonly keys: readonly string[];
  readonly handler: Handler;
}

/**
 * `/repos/:owner/:repo/pulls/:number` — `:x` matches one segment, `*x` the rest of the path (ref and
 * branch names with slashes). Paths are matched decoded, since Octokit sends `heads%2Frewind%2Fx`.
 */
export function route(method: string, template: string, name: string, handler: Handler): Route {
  const keys: string[] = [];
  const source = template
    .split('/')
    .map((segment) => {
      if (segment.startsWith(':')) {
        keys.push(segment.slice(1));
        return '([^/]+)';
      }
      if (segment.startsWith('*')) {
        keys.push(segment.slice(1));
        return '(.+)';
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { method, name, pattern: new RegExp(`^${source}/?$`), keys, handler };
}

export function matchRoute(
  routes: readonly Route[],
  method: string,
  path: string,
): { route: Route; params: Record<string, string> } | 'method-not-allowed' | undefined {
  let pathMatched = false;
  for (const candidate of routes) {
    const match = candidate.pattern.exec(path);
    if (match === null) continue;
    pathMatched = true;
    if (candidate.method !== method) continue;
    const params: Record<string, string> = {};
    candidate.keys.forEach((key, i) => {
      params[key] = match[i + 1] ?? '';
    });
    return { route: candidate, params };
  }
  return pathMatched ? 'method-not-allowed' : undefined;
}

export async function readJsonBody(request: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'Payload too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    const parsed: unknown = JSON.parse(text);
    // Some endpoints (labels) accept a bare array; keep it reachable under `_array`.
    if (Array.isArray(parsed)) return { _array: parsed };
    if (typeof parsed === 'object' && parsed !== null) return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new HttpError(400, 'Problems parsing JSON');
}

/** Slices a list by `per_page` (max 100, default 30) and `page`, with GitHub's Link header. */
export function paginate<T>(items: readonly T[], request: ForgeRequest, baseUrl: string): ForgeResponse {
  const perPage = Math.min(100, Math.max(1, Number(request.query.get('per_page') ?? 30) || 30));
  const page = Math.max(1, Number(request.query.get('page') ?? 1) || 1);
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const pageUrl = (n: number): string => {
    const query = new URLSearchParams(request.query);
    query.set('per_page', String(perPage));
    query.set('page', String(n));
    return `<${baseUrl}${request.path}?${query.toString()}>`;
  };
  const links: string[] = [];
  if (page < last) links.push(`${pageUrl(page + 1)}; rel="next"`, `${pageUrl(last)}; rel="last"`);
  if (page > 1) links.push(`${pageUrl(1)}; rel="first"`, `${pageUrl(page - 1)}; rel="prev"`);
  return {
    status: 200,
    body: items.slice((page - 1) * perPage, page * perPage),
    headers: links.length === 0 ? {} : { link: links.join(', ') },
  };
}

// Input readers: GitHub answers 422 for wrongly typed fields.
export function stringField(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw validationFailed(
      [{ resource: 'Field', field, code: 'invalid' }],
      `Invalid request.\n\nFor '${field}', ${JSON.stringify(value)} is not a string.`,
    );
  }
  return value;
}

export function requiredString(body: Record<string, unknown>, field: string): string {
  const value = stringField(body, field);
  if (value === undefined) {
    throw validationFailed(
      [{ resource: 'Field', field, code: 'missing_field' }],
      `Invalid request.\n\n"${field}" wasn't supplied.`,
    );
  }
  return value;
}

export function stringArrayField(body: Record<string, unknown>, field: string): string[] {
  const value = body[field];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw validationFailed(
      [{ resource: 'Field', field, code: 'invalid' }],
      `Invalid request.\n\nFor '${field}', expected an array of strings.`,
    );
  }
  return value;
}

export function issueNumber(params: Readonly<Record<string, string>>, key = 'number'): number {
  const raw = params[key] ?? '';
  if (!/^\d{1,9}$/.test(raw)) throw notFound();
  return Number(raw);
}
