import { InvalidInputError } from './errors.ts';

declare const commitShaBrand: unique symbol;

/** A full, lowercase, 40-hex SHA-1 commit id. Only `parseCommitSha` / `isCommitSha` make one. */
export type CommitSha = string & { readonly [commitShaBrand]: true };

const SHA1 = /^[0-9a-f]{40}$/;

export function isCommitSha(value: unknown): value is CommitSha {
  return typeof value === 'string' && SHA1.test(value);
}

/** Validates (and lower-cases) a full commit SHA; throws InvalidInputError otherwise. */
export function parseCommitSha(value: string, what = 'commit SHA'): CommitSha {
  const candidate = value.trim().toLowerCase();
  if (!isCommitSha(candidate)) {
    throw new InvalidInputError(
      `Invalid ${what} "${value.slice(0, 80)}": expected 40 hexadecimal characters (a full SHA-1 commit id).`,
    );
  }
  return candidate;
}

const SHA_PREFIX = /^[0-9a-f]+$/;

/**
 * A full or abbreviated commit SHA as a person types it (`rewind rollback --to 4bc040b`), to be
 * resolved against the app's repository: 4 to 40 hex characters, 4 being git's shortest abbreviation.
 */
export function parseShaPrefix(value: string, what = 'commit SHA'): string {
  const candidate = value.trim().toLowerCase();
  const shown = `"${value.slice(0, 80)}"`;
  if (!SHA_PREFIX.test(candidate) || candidate.length > 40) {
    throw new InvalidInputError(
      `Invalid ${what} ${shown}: expected a commit SHA (4 to 40 hexadecimal characters).`,
    );
  }
  if (candidate.length < 4) {
    throw new InvalidInputError(
      `Invalid ${what} ${shown}: too short to name one commit; give at least 4 hexadecimal characters (7 or more is safer).`,
    );
  }
  return candidate;
}

export function tryParseCommitSha(value: string): CommitSha | undefined {
  const candidate = value.trim().toLowerCase();
  return isCommitSha(candidate) ? candidate : undefined;
}

/** Seven characters, like `git log --oneline`; enough for humans, never for identity. */
export function shortSha(sha: CommitSha, length = 7): string {
  return sha.slice(0, length);
}
