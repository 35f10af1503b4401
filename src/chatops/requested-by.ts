// Who asked for a ChatOps rollback, where and why, as one line that goes into the incident, the
// revert commit message and the pull request body. Built from text people typed, so it is made
// inert here, once: no credentials, no HTML or hidden markers, no @mentions (nobody is pinged from
// a commit or a PR body), no line breaks, bounded.
import { redact } from '../domain/errors.ts';

export const MAX_REQUESTED_BY_CHARS = 600;

/** Free text made inert for commit messages and Markdown alike. */
export function inertText(text: string, maxChars: number): string {
  const cleaned = redact(text)
    // Control characters and line breaks: one line, nothing invisible.
    // eslint-disable-next-line no-control-regex -- removing control characters is the point
    .replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ')
    // No tags or comments (a fake `<!-- rewind:... -->` marker), in Markdown or anywhere else.
    .replace(/[<>]/g, '')
    // `@alice` -> `@\u200dalice`: readable, but GitHub does not notify.
    .replace(/@(?=[A-Za-z0-9])/g, '@\u200d')
    .replace(/\s+/g, ' ')
    .trim();
  return cleaned.length > maxChars ? `${cleaned.slice(0, maxChars - 1)}…` : cleaned;
}

export interface RequestOrigin {
  /** The person, as the channel names them (a GitHub login, a Slack user). */
  readonly who: string;
  /** Where they asked: a comment URL, a Slack channel. */
  readonly where: string;
  readonly why?: string;
}

/** `alice on GitHub (https://.../issues/7#issuecomment-12): the new image crashes` */
export function requestedBy(origin: RequestOrigin): string {
  const who = inertText(origin.who, 100);
  const where = inertText(origin.where, 250);
  const why = origin.why === undefined ? '' : inertText(origin.why, 300);
  return inertText(`${who} (${where})${why === '' ? '' : `: ${why}`}`, MAX_REQUESTED_BY_CHARS);
}
