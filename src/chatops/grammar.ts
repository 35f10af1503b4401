// One command grammar for every ChatOps channel (GitHub comments, Slack): text in, a typed command
// or an error that says what was wrong and how it is written. Linear in the input (bounded first,
// then split on whitespace; no backtracking patterns), so a hostile comment cannot stall it. In a
// GitHub comment the command is found the way GitHub renders it (CommonMark): only text people see
// as written is a command, never code, quotes or hidden HTML.
import { type AppRef, parseAppRef } from '../domain/app-ref.ts';
import { isRewindError } from '../domain/errors.ts';
import { INCIDENT_ID_PATTERN } from '../domain/incident.ts';
import MarkdownIt, { type Token } from 'markdown-it';

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

/** The app a command names, if any (a cancel names an incident; its app is the incident's). */
export function namedApp(command: ChatCommand): AppRef | undefined {
  return 'app' in command ? command.app : undefined;
}

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

/** Longer comments are not read at all (GitHub's own limit is 65,536 characters). */
export const MAX_COMMENT_CHARS = 65_536 * 2;

// CommonMark as GitHub reads it (raw HTML recognised as HTML, `~~struck~~` text), so that what is
// code, quoted or hidden here is what GitHub shows as code, quoted or hidden. markdown-it parses in
// time linear in the input and caps nesting (content nested deeper is dropped: never a command).
const markdown = new MarkdownIt('commonmark').enable('strikethrough');

// Elements that have no content, so an open tag does not start a region.
const VOID_ELEMENTS = new Set(
  'area base br col embed hr img input keygen link meta param source track wbr'.split(' '),
);

/**
 * How many raw HTML elements are open after `html` (a tag, or an HTML block), starting from `depth`.
 * Comments are skipped; a tag left unfinished ends the scan. One pass, no backtracking.
 */
function openElementsAfter(html: string, depth: number): number {
  let open = depth;
  let at = 0;
  for (;;) {
    const lt = html.indexOf('<', at);
    if (lt < 0) return open;
    if (html.startsWith('<!--', lt)) {
      const end = html.indexOf('-->', lt + 4);
      if (end < 0) return open;
      at = end + 3;
      continue;
    }
    const closing = html[lt + 1] === '/';
    let nameEnd = lt + (closing ? 2 : 1);
    while (nameEnd < html.length && /[A-Za-z0-9-]/.test(html[nameEnd]!)) nameEnd += 1;
    const name = html.slice(lt + (closing ? 2 : 1), nameEnd).toLowerCase();
    if (!/^[a-z]/.test(name)) {
      at = lt + 1;
      continue;
    }
    const gt = html.indexOf('>', nameEnd);
    if (gt < 0) return open;
    if (!VOID_ELEMENTS.has(name) && html[gt - 1] !== '/') open = closing ? Math.max(0, open - 1) : open + 1;
    at = gt + 1;
  }
}

function startsCommand(text: string): boolean {
  return (
    text === COMMAND_PREFIX || text.startsWith(`${COMMAND_PREFIX} `) || text.startsWith(`${COMMAND_PREFIX}\t`)
  );
}

/** The line that starts at `children[from]`, as written (emphasis marks, code spans, tags), up to its end. */
function lineFrom(children: readonly Token[], from: number): string {
  let line = '';
  for (let i = from; i < children.length && line.length <= MAX_COMMAND_CHARS; i += 1) {
    const child = children[i]!;
    if (child.type === 'softbreak' || child.type === 'hardbreak') break;
    if (child.type === 'code_inline') line += `${child.markup}${child.content}${child.markup}`;
    else if (child.type === 'html_inline') {
      const end = child.content.indexOf('\n');
      line += end < 0 ? child.content : child.content.slice(0, end);
      if (end >= 0) break;
    } else if (child.type === 'text' || child.type === 'image') line += child.content;
    else if (child.nesting !== 0 && !child.type.startsWith('link_')) line += child.markup;
  }
  return line.trim().slice(0, MAX_COMMAND_CHARS + 1);
}

/**
 * The command in a comment: the first line of rendered text that starts with `/rollback`, read with
 * CommonMark's block and inline rules. A command is a line of a paragraph at the top level of the
 * comment or in a list item (text everyone sees as written). Never a command: code (indented or
 * fenced, inline code spans), block quotes (someone else's words, lazy continuation lines
 * included), HTML blocks and inline HTML (comments, `<pre>`, ...) and anything inside a raw HTML
 * element left open (a collapsed `<details>`), headings, table cells, and text inside emphasis,
 * strikethrough or links. Undefined when there is none, or when the comment is longer than
 * MAX_COMMENT_CHARS.
 */
export function findCommandLine(body: string): string | undefined {
  if (body.length > MAX_COMMENT_CHARS) return undefined;
  const tokens = markdown.parse(body, {});
  let quoted = 0;
  let openElements = 0;
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i]!;
    if (token.type === 'blockquote_open') quoted += 1;
    else if (token.type === 'blockquote_close') quoted -= 1;
    // HTML inside a quote ends with the quote (and nothing quoted is a command anyway).
    else if (token.type === 'html_block' && quoted === 0)
      openElements = openElementsAfter(token.content, openElements);
    else if (token.type === 'inline') {
      const paragraph = tokens[i - 1]?.type === 'paragraph_open';
      const children = token.children ?? [];
      let lineStart = true;
      for (let j = 0; j < children.length; j += 1) {
        const child = children[j]!;
        if (child.type === 'softbreak' || child.type === 'hardbreak') {
          lineStart = true;
          continue;
        }
        if (
          lineStart &&
          paragraph &&
          quoted === 0 &&
          openElements === 0 &&
          child.type === 'text' &&
          child.level === 0 &&
          startsCommand(child.content)
        )
          return lineFrom(children, j);
        lineStart = false;
        if (child.type === 'html_inline' && quoted === 0)
          openElements = openElementsAfter(child.content, openElements);
      }
    }
  }
  return undefined;
}
