import type { AppRef } from './app-ref.ts';
import { type CommitSha, isCommitSha } from './commit-sha.ts';
import { InvalidInputError } from './errors.ts';
import { INCIDENT_ID_PATTERN } from './incident.ts';

/**
 * `git check-ref-format` rules for a branch name (refs/heads/<name>): no control characters, space,
 * `~^:?*[\`, no `..`, no `@{`, not `@`, no component starting with `.` or ending with `.lock`,
 * no leading/trailing/double `/`, no trailing `.`.
 */
export function isValidBranchName(name: string): boolean {
  if (name === '' || name === '@' || name.length > 255) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) return false;
  if (name.includes('..') || name.includes('@{') || name.includes('//')) return false;
  if (name.startsWith('/') || name.endsWith('/') || name.endsWith('.') || name.startsWith('-')) return false;
  return name.split('/').every((c) => c !== '' && !c.startsWith('.') && !c.endsWith('.lock'));
}

export function assertValidBranchName(name: string): string {
  if (!isValidBranchName(name)) {
    throw new InvalidInputError(
      `Invalid branch name "${name.slice(0, 120)}": it breaks git check-ref-format rules.`,
    );
  }
  return name;
}

/**
 * `text` without trailing `.`, `-` and `.lock`, in any mix (`a.lock-` would still end in `.lock`
 * after one pass of each). A loop, not `/[.-]+$/`: a regex tries every start position, and on
 * `.-.-.-…x` each try runs to the end (quadratic in the length).
 */
function withoutRefUnsafeEnding(text: string): string {
  let end = text.length;
  for (;;) {
    if (end > 0 && '.-'.includes(text.charAt(end - 1))) end -= 1;
    else if (end >= 5 && text.startsWith('.lock', end - 5)) end -= 5;
    else return text.slice(0, end);
  }
}

/** Turns arbitrary text into one valid ref component (lowercase, [a-z0-9._-], no leading '.'/'-'). */
export function sanitizeRefComponent(text: string): string {
  const collapsed = text
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/-{2,}/g, '-')
    .replace(/^[.-]+/, '');
  // Again after the cut: the first 100 characters may end in `.lock` or `.`.
  const cleaned = withoutRefUnsafeEnding(withoutRefUnsafeEnding(collapsed).slice(0, 100));
  return cleaned === '' ? 'x' : cleaned;
}

/** `rewind/<namespace>/<name>/<12-char culprit sha>`: the branch name is the identity of a rollback. */
export function revertBranchFor(app: AppRef, culprit: CommitSha): string {
  return assertValidBranchName(
    `rewind/${sanitizeRefComponent(app.namespace)}/${sanitizeRefComponent(app.name)}/${culprit.slice(0, 12)}`,
  );
}

export interface RollbackMarker {
  readonly incident: string;
  readonly culprit: CommitSha;
}

/** Hidden machine-readable marker for PR bodies and comments: `<!-- rewind:incident=... culprit=... -->`. */
export function buildRollbackMarker(marker: RollbackMarker): string {
  if (!INCIDENT_ID_PATTERN.test(marker.incident)) {
    throw new InvalidInputError(`Invalid incident id "${marker.incident}" for a PR marker.`);
  }
  return `<!-- rewind:incident=${marker.incident} culprit=${marker.culprit} -->`;
}

/** GitHub rejects pull request bodies and comments longer than this many characters. */
export const GITHUB_MAX_BODY_CHARS = 65_536;

/**
 * The longest text Rewind scans for markers, in UTF-16 code units: GitHub counts characters, and
 * one character takes at most two code units, so no body GitHub stores is longer than this. Anything
 * longer did not come from GitHub and is not parsed at all (a hint, not a fact: nothing is lost).
 */
export const MAX_MARKED_TEXT_LENGTH = 2 * GITHUB_MAX_BODY_CHARS;

// Incident ids are `inc-<engine>.<namespace ≤63>.<name ≤253>-<12 hex>`, well under this.
const MAX_MARKER_INCIDENT_CHARS = 512;
const MARKER_OPEN = '<!--';
// Matched only where `<!--` starts (sticky), with the incident id limited to the characters and the
// length an id can have. The old `<!--\s*rewind:incident=(\S+)\s+...` let `\S+` run to the end of
// the body from every `<!--` it met: one signed 1 MB body of `<!--rewind:incident=` took 38.7 s.
// Here each token can be scanned from one `<!--` only (`<` is not an id character), so a body costs
// time linear in its length.
const MARKER_AFTER_OPEN = new RegExp(
  `\\s*rewind:incident=([a-z0-9.-]{1,${MAX_MARKER_INCIDENT_CHARS}})\\s+culprit=([0-9a-f]{40})\\s*-->`,
  'y',
);

/**
 * Every valid marker in a body (one PR may carry several incidents of one culprit). Texts longer than
 * `MAX_MARKED_TEXT_LENGTH` carry none.
 */
export function parseRollbackMarkers(body: string): RollbackMarker[] {
  const found: RollbackMarker[] = [];
  if (body.length > MAX_MARKED_TEXT_LENGTH) return found;
  let from = 0;
  for (;;) {
    const open = body.indexOf(MARKER_OPEN, from);
    if (open === -1) return found;
    MARKER_AFTER_OPEN.lastIndex = open + MARKER_OPEN.length;
    const match = MARKER_AFTER_OPEN.exec(body);
    if (match === null) {
      from = open + 1;
      continue;
    }
    const [whole, incident, culprit] = match;
    if (incident !== undefined && INCIDENT_ID_PATTERN.test(incident) && isCommitSha(culprit)) {
      found.push({ incident, culprit });
    }
    from = open + MARKER_OPEN.length + whole.length;
  }
}

export function parseRollbackMarker(body: string): RollbackMarker | undefined {
  return parseRollbackMarkers(body)[0];
}
