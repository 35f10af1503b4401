// One small, closed error taxonomy. Every error carries a stable `code`, the underlying `cause`
// and a message that tells a person what to do next. Pipelines decide retry vs. give-up from the
// class alone: TerminalError subclasses are never retried, TransientError ones back off.
import { redactSecrets } from './outbound-text.ts';

export type RewindErrorCode =
  | 'CONFIG_INVALID'
  | 'TERMINAL'
  | 'TRANSIENT'
  | 'NOT_FOUND'
  | 'UNKNOWN_APP'
  | 'INVALID_INPUT'
  | 'GIT_FAILED'
  | 'SHA_NOT_IN_HISTORY'
  | 'NOT_AN_ANCESTOR'
  | 'REVERT_CONFLICT'
  | 'ILLEGAL_TRANSITION'
  | 'INCIDENT_CHANGED';

export interface RewindErrorOptions {
  readonly cause?: unknown;
}

export abstract class RewindError extends Error {
  abstract readonly code: RewindErrorCode;
  /** Whether retrying the same operation later can succeed. */
  abstract readonly retryable: boolean;

  constructor(message: string, options: RewindErrorOptions = {}) {
    super(redactSecrets(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

export interface ConfigProblem {
  /** Dotted key path, e.g. `policy.gracePeriod` or `apps[2].name`; `(root)` for the document. */
  readonly path: string;
  readonly message: string;
}

/** Configuration is wrong; lists every problem at once so the user fixes them in one go. */
export class ConfigError extends RewindError {
  readonly code = 'CONFIG_INVALID' as const;
  readonly retryable = false;
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[], options: RewindErrorOptions & { source?: string } = {}) {
    const where = options.source === undefined ? 'configuration' : `configuration (${options.source})`;
    const lines = problems.map((p) => `  - ${p.path}: ${p.message}`);
    super(
      `Invalid ${where}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${lines.join('\n')}\n` +
        'Fix the problems above and run the command again.',
      options,
    );
    this.problems = problems;
  }
}

/** A failure that will not go away by retrying; the incident must end with this reason. */
export class TerminalError extends RewindError {
  readonly code: RewindErrorCode = 'TERMINAL';
  readonly retryable = false;
}

/** A failure that may go away (network, lock, API rate limit): back off and retry. */
export class TransientError extends RewindError {
  readonly code: RewindErrorCode = 'TRANSIENT';
  readonly retryable = true;
}

/** Input (a SHA, a ref, an app name, a path) failed validation before reaching any system. */
export class InvalidInputError extends TerminalError {
  override readonly code = 'INVALID_INPUT' as const;
}

export class NotFoundError extends TerminalError {
  override readonly code: RewindErrorCode = 'NOT_FOUND';
}

export class UnknownAppError extends NotFoundError {
  override readonly code = 'UNKNOWN_APP' as const;
  readonly app: string;

  /** `detail` says what was looked for where, and how to name and list apps. */
  constructor(app: string, detail: string, options: RewindErrorOptions = {}) {
    super(`Unknown app "${app}": ${detail}`, options);
    this.app = app;
  }
}

export interface GitErrorDetails {
  /** The git subcommand that failed (`fetch`, `revert`...), never the full argv (it may hold URLs). */
  readonly command: string;
  readonly stderr?: string;
}

/** A git command failed for a reason not covered by a more specific error; usually transient. */
export class GitError extends TransientError {
  override readonly code: RewindErrorCode = 'GIT_FAILED';
  readonly command: string;

  constructor(message: string, details: GitErrorDetails, options: RewindErrorOptions = {}) {
    const stderr = details.stderr?.trim();
    super(stderr ? `${message} (git ${details.command}: ${stderr.slice(0, 500)})` : message, options);
    this.command = details.command;
  }
}

/** A commit SHA named by the cluster or a user is not in the repository history. */
export class ShaNotInHistoryError extends NotFoundError {
  override readonly code = 'SHA_NOT_IN_HISTORY' as const;
  readonly sha: string;

  constructor(sha: string, role: string, options: RewindErrorOptions = {}) {
    super(
      `SHA not in history: the ${role} revision ${sha} does not exist in the repository after fetching. ` +
        'Check that the GitOps source points at this repository and branch, or that the commit was not force-pushed away.',
      options,
    );
    this.sha = sha;
  }
}

/** The last-good revision is not an ancestor of the bad one (history was rewritten or the branch changed). */
export class NotAncestorError extends TerminalError {
  override readonly code = 'NOT_AN_ANCESTOR' as const;

  constructor(good: string, bad: string, options: RewindErrorOptions = {}) {
    super(
      `The last good revision ${good} is not an ancestor of the bad revision ${bad}; ` +
        'the branch history was rewritten or the source changed branch. Pick the culprit by hand with `rewind rollback <app> --to <sha>`.',
      options,
    );
  }
}

/** A revert could not be applied cleanly by any strategy. */
export class RevertConflictError extends TerminalError {
  override readonly code = 'REVERT_CONFLICT' as const;
  readonly conflicts: readonly string[];

  constructor(sha: string, conflicts: readonly string[], options: RewindErrorOptions = {}) {
    super(
      `Reverting ${sha} conflicts in ${conflicts.join(', ') || 'unknown paths'}; resolve it by hand and push the revert.`,
      options,
    );
    this.conflicts = conflicts;
  }
}

/** An incident was asked to move to a condition its current one does not allow. */
export class IllegalTransitionError extends TerminalError {
  override readonly code = 'ILLEGAL_TRANSITION' as const;
}

/**
 * Another writer saved the incident since this one read it (after Redis was lost, a resumed job,
 * the in-flight one and the verifier can overlap). Retrying re-reads it: an incident that ended
 * meanwhile is then left alone, one still open is carried on from where the other writer left it.
 */
export class IncidentChangedError extends TransientError {
  override readonly code = 'INCIDENT_CHANGED' as const;

  constructor(incidentId: string, condition: string, options: RewindErrorOptions = {}) {
    super(
      `Incident ${incidentId} was updated by another worker (it is now ${condition}); this step is retried from the stored record.`,
      options,
    );
  }
}

export function isRewindError(error: unknown): error is RewindError {
  return error instanceof RewindError;
}

/** The same function as `redactSecrets` (domain/outbound-text.ts), under the name the error taxonomy's users import. */
export { redactSecrets as redact } from './outbound-text.ts';
