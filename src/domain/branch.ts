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

/** Turns arbitrary text into one valid ref component (lowercase, [a-z0-9._-], no leading '.'/'-'). */
export function sanitizeRefComponent(text: string): string {
  const cleaned = text
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/-{2,}/g, '-')
    .replace(/^[.-]+/, '')
    .replace(/(\.lock)+$/, '')
    .replace(/[.-]+$/, '')
    .slice(0, 100)
    .replace(/[.-]+$/, '');
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

const MARKER = /<!--\s*rewind:incident=(\S+)\s+culprit=([0-9a-f]{40})\s*-->/g;

/** Every valid marker in a body (one PR may carry several incidents of one culprit). */
export function parseRollbackMarkers(body: string): RollbackMarker[] {
  const found: RollbackMarker[] = [];
  for (const match of body.matchAll(MARKER)) {
    const [, incident, culprit] = match;
    if (incident !== undefined && INCIDENT_ID_PATTERN.test(incident) && isCommitSha(culprit)) {
      found.push({ incident, culprit });
    }
  }
  return found;
}

export function parseRollbackMarker(body: string): RollbackMarker | undefined {
  return parseRollbackMarkers(body)[0];
}
