// One command grammar for every ChatOps channel (GitHub comments, Slack): text in, a typed command
// or an error that says what was wrong and how it is written. Linear in the input (bounded first,
// then split on whitespace; no backtracking patterns), so a hostile comment cannot stall it.
import { type AppRef, parseAppRef } from '../domain/app-ref.ts';
import { isRewindError } from '../domain/errors.ts';
import { INCIDENT_ID_PATTERN } from '../domain/incident.ts';

export const COMMAND_PREFIX = '/rollback';
/** Longer command lines are refused before they are parsed. */
export const MAX_COMMAND_CHARS = 1000;
const MAX_REASON_CHARS = 300;
const SHA_PREFIX = /^[0-9a-f]{7,40}$/;

export type ChatCommand =
  /** Revert the app's latest change (no commit), or the named commit (a full or short SHA). */
  | {
      readonly kind: 'rollback';
      readonly app: AppRef;
      readonly commit?: string;
      readonly reason?: string;
      /** `--force`: skip the rollback budget (admins only; refused for anyone else). */
      readonly force?: boolean;
    }
  | { readonly kind: 'status'; readonly app?: AppRef }
  | { readonly kind: 'pause'; readonly app?: AppRef; readonly reason?: string }
  | { readonly kind: 'resume'; readonly app?: AppRef }
  | { readonly kind: 'cancel'; readonly incident: string }
  | { readonly kind: 'help' };

export type ParseResult =
  { readonly ok: true; readonly command: ChatCommand } | { readonly ok: false; readonly error: string };

export const USAGE = [
  "`/rollback <app> [<sha>] [--force] [-- <why>]`: revert the app's latest change, or roll it back to just before that commit (`--force`: admins skip the budget)",
  '`/rollback status [<app>]`: open incidents (of one app)',
  '`/rollback pause [<app>] [-- <why>]` / `/rollback resume [<app>]`: stop or restart automatic rollbacks (all apps, or one)',
  '`/rollback cancel <incident>`: stop an incident that has not pushed its revert yet',
  '`/rollback help`: this text',
  'Apps: `<namespace>/<name>` (a Flux Kustomization), `ks/<ns>/<name>`, `app/<ns>/<name>` (Argo CD).',
].join('\n');

const SUBCOMMANDS = new Set(['status', 'pause', 'resume', 'cancel', 'help']);

function fail(error: string): ParseResult {
  return { ok: false, error: `${error}\n\nUsage:\n${USAGE}` };
}

function app(text: string): AppRef | string {
  try {
    return parseAppRef(text);
  } catch (error) {
    return isRewindError(error) ? error.message : 'not an app reference';
  }
}

/** Parses one command line (`/rollback ...`). */
export function parseCommand(input: string): ParseResult {
  if (input.length > MAX_COMMAND_CHARS)
    return fail(`The command is longer than ${MAX_COMMAND_CHARS} characters.`);
  const line = input.trim();
  const [head, reasonText] = splitReason(line);
  const words = head.split(/\s+/).filter((w) => w !== '');
  if (words[0] !== COMMAND_PREFIX) return fail(`Commands start with ${COMMAND_PREFIX}.`);
  const [, first, second, ...rest] = words;
  const reason = reasonText?.slice(0, MAX_REASON_CHARS);
  const withReason = reason ? { reason } : {};
  if (first === undefined) return fail('Name an app, or a subcommand.');
  if (SUBCOMMANDS.has(first)) {
    if (rest.length > 0) return fail(`Unexpected "${rest.join(' ').slice(0, 80)}" after ${first}.`);
    const target = second === undefined ? undefined : app(second);
    if (typeof target === 'string') return fail(target);
    switch (first) {
      case 'help':
        return second === undefined ? { ok: true, command: { kind: 'help' } } : fail('help takes nothing.');
      case 'status':
        return { ok: true, command: { kind: 'status', ...(target ? { app: target } : {}) } };
      case 'pause':
        return { ok: true, command: { kind: 'pause', ...(target ? { app: target } : {}), ...withReason } };
      case 'resume':
        return { ok: true, command: { kind: 'resume', ...(target ? { app: target } : {}) } };
      default: {
        if (second === undefined || !INCIDENT_ID_PATTERN.test(second))
          return fail('cancel needs an incident id (as `/rollback status` shows it).');
        return { ok: true, command: { kind: 'cancel', incident: second } };
      }
    }
  }
  const after = [second, ...rest].filter((w): w is string => w !== undefined);
  const force = after.includes('--force');
  const [sha, ...extra] = after.filter((w) => w !== '--force');
  if (extra.length > 0) return fail(`Unexpected "${extra.join(' ').slice(0, 80)}"; put the reason after --.`);
  const target = app(first);
  if (typeof target === 'string') return fail(target);
  if (sha !== undefined && !SHA_PREFIX.test(sha.toLowerCase()))
    return fail(`"${sha.slice(0, 80)}" is not a commit SHA (7 to 40 hex characters).`);
  return {
    ok: true,
    command: {
      kind: 'rollback',
      app: target,
      ...(sha ? { commit: sha.toLowerCase() } : {}),
      ...withReason,
      ...(force ? { force: true } : {}),
    },
  };
}

/** `... -- why` -> [`...`, `why`]: the reason is free text, never parsed as words. */
function splitReason(line: string): [string, string | undefined] {
  const at = line.indexOf(' -- ');
  if (at < 0) return [line.endsWith(' --') ? line.slice(0, -3) : line, undefined];
  const reason = line.slice(at + 4).trim();
  return [line.slice(0, at), reason === '' ? undefined : reason];
}

/**
 * The command in a comment: the first line that starts with `/rollback` (quoted lines, `> ...`, and
 * code blocks are not commands). Undefined when there is none.
 */
export function findCommandLine(body: string): string | undefined {
  let inFence = false;
  let start = 0;
  const limit = Math.min(body.length, 65_536 * 2);
  while (start < limit) {
    const end = body.indexOf('\n', start);
    const line = body.slice(start, end < 0 || end > limit ? limit : end).replace(/\r$/, '');
    start = end < 0 ? limit : end + 1;
    const trimmed = line.trimStart();
    if (trimmed.startsWith('```') || trimmed.startsWith('~~~')) inFence = !inFence;
    else if (!inFence && (trimmed === COMMAND_PREFIX || trimmed.startsWith(`${COMMAND_PREFIX} `)))
      return trimmed.slice(0, MAX_COMMAND_CHARS + 1);
  }
  return undefined;
}
