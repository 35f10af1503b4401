// Who asked for a ChatOps rollback, where and why, as one line that goes into the incident, the
// revert commit message and the pull request body. Built from text people typed, it is stored
// plain (credentials redacted, nothing unprintable, one line, bounded); each medium escapes it when
// it writes it out (Markdown on GitHub, mrkdwn on Slack, the commit message).
import { plainLine } from '../domain/outbound-text.ts';

export const MAX_REQUESTED_BY_CHARS = 600;

export interface RequestOrigin {
  /** The person, as the channel names them (a GitHub login, a Slack user). */
  readonly who: string;
  /** Where they asked: a comment URL, a Slack channel. */
  readonly where: string;
  readonly why?: string;
}

/** `alice on GitHub (https://.../issues/7#issuecomment-12): the new image crashes` */
export function requestedBy(origin: RequestOrigin): string {
  const who = plainLine(origin.who, 100);
  const where = plainLine(origin.where, 250);
  const why = origin.why === undefined ? '' : plainLine(origin.why, 300);
  return plainLine(`${who} (${where})${why === '' ? '' : `: ${why}`}`, MAX_REQUESTED_BY_CHARS);
}
