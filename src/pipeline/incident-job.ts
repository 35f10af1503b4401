// The boundary of every incident job: a queue worker's rollback or verify job, or a `rewind rollback`
// run in a terminal. Whatever a step throws, the incident must not be left in a middle condition
// (`Located` forever in `rewind status`). This is the one place that turns an error into the end of
// the incident; the steps themselves only throw.
import { type RewindError, isRewindError, redact } from '../domain/errors.ts';
import { isTerminal } from '../domain/incident.ts';
import { IncidentRecorder, type RecorderDeps } from './incident-recorder.ts';

export interface IncidentJobOptions {
  /**
   * Whether something runs this job again after a retryable error (a queue with attempts left). A
   * run nobody retries (`rewind rollback`) ends the incident on any error.
   */
  readonly retried: boolean;
}

/** An error that the same job cannot get past by trying again. */
export function isFatal(error: unknown): error is RewindError {
  return isRewindError(error) && !error.retryable;
}

/** `CONFIG_INVALID` -> `ConfigInvalid`: conditions carry CamelCase reasons. */
function reasonOf(error: RewindError): string {
  return error.code
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

/**
 * Runs one job of `incidentId`. An error retrying cannot fix (a non-retryable RewindError: a config
 * error, invalid input, a terminal forge answer) ends the incident at once, `NeedsHuman` with the
 * error's own message, which says what to fix. Any other error ends it `Failed` when nothing will
 * retry the job. The error is rethrown either way (the caller reports it or fails the queue job).
 */
export async function runIncidentJob<T>(
  incidentId: string,
  deps: RecorderDeps,
  options: IncidentJobOptions,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isFatal(error) || !options.retried) await endIncident(incidentId, deps, error);
    throw error;
  }
}

async function endIncident(incidentId: string, deps: RecorderDeps, error: unknown): Promise<void> {
  try {
    const record = await deps.incidents.get(incidentId);
    if (!record) return;
    const rec = new IncidentRecorder(record, deps);
    if (isTerminal(rec.condition)) return;
    if (isFatal(error)) {
      await rec.to('NeedsHuman', reasonOf(error), error.message);
      return;
    }
    const { namespace, name } = record.app;
    await rec.to(
      'Failed',
      isRewindError(error) ? reasonOf(error) : 'JobFailed',
      `${redact(error instanceof Error ? error.message : String(error))} Nothing retries this run: fix the cause, then run "rewind rollback ${namespace}/${name}" again or revert by hand.`,
    );
  } catch (recordError) {
    // The job's own error is the one to report; this one only explains why the record lags.
    deps.log.error(
      { incident: incidentId, err: redact(String(recordError)) },
      'could not record the end of the incident',
    );
  }
}
