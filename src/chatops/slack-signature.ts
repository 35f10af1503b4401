// Slack's v0 request signature (https://api.slack.com/authentication/verifying-requests-from-slack):
// `v0=` + hex HMAC-SHA256(signing secret, `v0:<X-Slack-Request-Timestamp>:<raw body>`).
// Verified by hand with node:crypto: Slack's official SDK only ships this check inside @slack/bolt
// (a whole app framework with its own HTTP server), and there is no standalone verification package.
// The check runs on the raw bytes before anything is parsed, compares in constant time, and refuses
// stale or future timestamps so a captured request cannot be replayed later.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Slack's own limit: a request older than five minutes is refused. */
export const SLACK_MAX_AGE_SECONDS = 300;
/** A request stamped this far ahead of our clock did not come from Slack now. */
export const SLACK_MAX_FUTURE_SECONDS = 60;

const SIGNATURE = /^v0=[0-9a-f]{64}$/;
const TIMESTAMP = /^[0-9]{1,12}$/;

export type SlackSignatureCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'malformed' | 'stale' | 'future' | 'mismatch' };

export function slackSignatureOf(secret: string, timestamp: string, rawBody: Buffer | string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:`).update(rawBody).digest('hex')}`;
}

export function checkSlackSignature(input: {
  readonly secret: string;
  readonly timestamp: string | undefined;
  readonly signature: string | undefined;
  readonly rawBody: Buffer;
  readonly nowMs: number;
}): SlackSignatureCheck {
  const { timestamp, signature } = input;
  if (timestamp === undefined || signature === undefined) return { ok: false, reason: 'malformed' };
  if (!TIMESTAMP.test(timestamp) || !SIGNATURE.test(signature)) return { ok: false, reason: 'malformed' };
  const age = Math.floor(input.nowMs / 1000) - Number(timestamp);
  if (age > SLACK_MAX_AGE_SECONDS) return { ok: false, reason: 'stale' };
  if (age < -SLACK_MAX_FUTURE_SECONDS) return { ok: false, reason: 'future' };
  const expected = Buffer.from(slackSignatureOf(input.secret, timestamp, input.rawBody), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  // Same length by the pattern above; timingSafeEqual throws otherwise.
  return expected.length === given.length && timingSafeEqual(expected, given)
    ? { ok: true }
    : { ok: false, reason: 'mismatch' };
}
