// Calls an incident does not depend on: labels, reviewers, reviews, informative comments. Their
// failure (a 404 from an endpoint a GitHub Enterprise lacks, a 5xx that outlasts the retries, a
// permission the token was not given) must never end an incident or hold back the revert: it is
// logged, redacted, and the flow goes on.
import { isRewindError, redact } from '../domain/errors.ts';
import type { Logger } from './ports.ts';

/** Runs `run`; on failure logs `what` failed (redacted) and returns undefined. */
export async function optionalCall<T>(
  log: Logger,
  what: string,
  run: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await run();
  } catch (error) {
    log.warn(
      {
        call: what,
        ...(isRewindError(error) ? { code: error.code } : {}),
        reason: redact(error instanceof Error ? error.message : String(error)),
      },
      'an optional call failed; carrying on without it',
    );
    return undefined;
  }
}
