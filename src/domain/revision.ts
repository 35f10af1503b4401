import { type CommitSha, tryParseCommitSha } from './commit-sha.ts';
import { InvalidInputError } from './errors.ts';

/**
 * A GitOps source revision as Flux and Argo CD report it. Formats accepted (Flux RFC-0005 and legacy):
 * `main@sha1:<sha>`, `refs/heads/main@sha1:<sha>`, `sha1:<sha>`, `main/<sha>`, `HEAD/<sha>`, `<sha>`.
 */
export interface Revision {
  /** Branch, tag or absolute ref the revision was resolved from, when the engine reports it. */
  readonly ref?: string;
  readonly sha: CommitSha;
  /** The string as received, for messages. */
  readonly raw: string;
}

/**
 * Flux's rule (fluxcd/pkg git/utils.go): named pointer = text before the last '@', else before the
 * last '/'; hash = text after the last ':', else after the last '/'. `HEAD` is not a named pointer.
 */
export function tryParseRevision(raw: string): Revision | undefined {
  const text = raw.trim();
  if (text === '') return undefined;

  let pointer: string | undefined;
  let hashPart: string;
  const at = text.lastIndexOf('@');
  if (at >= 0) {
    pointer = text.slice(0, at);
    hashPart = text.slice(at + 1);
  } else {
    hashPart = text;
  }
  const colon = hashPart.lastIndexOf(':');
  if (colon >= 0) {
    const algo = hashPart.slice(0, colon);
    if (algo !== 'sha1') return undefined; // sha256 OCI digests and bucket checksums are not commits
    hashPart = hashPart.slice(colon + 1);
  } else if (at < 0) {
    const slash = hashPart.lastIndexOf('/');
    if (slash >= 0) {
      pointer = hashPart.slice(0, slash);
      hashPart = hashPart.slice(slash + 1);
    }
  }
  const sha = tryParseCommitSha(hashPart);
  if (sha === undefined) return undefined;
  if (pointer === '' || pointer === 'HEAD') pointer = undefined;
  return pointer === undefined ? { sha, raw: text } : { ref: pointer, sha, raw: text };
}

export function parseRevision(raw: string): Revision {
  const revision = tryParseRevision(raw);
  if (revision === undefined) {
    throw new InvalidInputError(
      `Cannot read a Git commit from revision "${raw.slice(0, 120)}": expected "<branch>@sha1:<40 hex>", ` +
        '"<branch>/<40 hex>" or a bare 40-hex SHA. OCI, Bucket and Helm chart revisions are not Git commits.',
    );
  }
  return revision;
}

/** The branch short name of a revision's pointer (`refs/heads/main` -> `main`), if it names a branch. */
export function branchOf(revision: Revision): string | undefined {
  const ref = revision.ref;
  if (ref === undefined) return undefined;
  if (ref.startsWith('refs/heads/')) return ref.slice('refs/heads/'.length);
  if (ref.startsWith('refs/')) return undefined;
  return ref;
}

/** Formats a revision the way current Flux does, `<ref>@sha1:<sha>` or `sha1:<sha>`. */
export function formatRevision(revision: Pick<Revision, 'ref' | 'sha'>): string {
  return revision.ref === undefined ? `sha1:${revision.sha}` : `${revision.ref}@sha1:${revision.sha}`;
}

export function sameCommit(a: Revision | undefined, b: Revision | undefined): boolean {
  return a !== undefined && b !== undefined && a.sha === b.sha;
}
