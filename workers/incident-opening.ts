// Opening an incident, the one way every trigger does it (the cluster detector, an Alertmanager
// alert, a Flux event): which occurrence of the failure it is, its record (visible and cancellable
// at once) and its rollback job (job id = incident id, so a second trigger for the same failure
// adds nothing).
import type { Queue } from 'bullmq';
import { recurrenceIdFor } from '../src/domain/incident.ts';
import { cleanText } from '../src/domain/outbound-text.ts';
import type { FailureSignal } from '../src/pipeline/detect.ts';
import { incidentRecordFor } from '../src/pipeline/incident-from-job.ts';
import type { IncidentDetails, IncidentStore } from '../src/pipeline/incident-record.ts';
import type { Logger } from '../src/pipeline/ports.ts';
import { QUEUE_NAMES, type RollbackJob, jobOptions, rollbackJobId } from '../src/queue/jobs.ts';

/** How many times one failure (app + revision) may recover and fail again before Rewind stops opening incidents. */
const MAX_OCCURRENCES = 5;

/**
 * The incident a failure belongs to: its own id, unless an incident with that id already ended
 * because the app recovered during the grace period (flapping) and it fails again now: then the
 * next occurrence (`.r2`, `.r3`...), which gets its own grace period. Past the last one, flapping
 * this often is left alone (and logged): a person should look.
 */
export async function openIncidentId(
  incidents: IncidentStore | undefined,
  signal: FailureSignal,
  log: Logger,
): Promise<string | undefined> {
  if (!incidents) return signal.incidentId;
  let id = signal.incidentId;
  for (let n = 2; n <= MAX_OCCURRENCES + 1; n++) {
    const last = (await incidents.get(id))?.conditions.at(-1);
    if (!(last?.type === 'Ignored' && last.reason === 'Recovered')) return id;
    if (n > MAX_OCCURRENCES) break;
    id = recurrenceIdFor(signal.app, signal.badRevision, n);
  }
  log.warn(
    { incident: signal.incidentId, occurrences: MAX_OCCURRENCES },
    'the app keeps failing and recovering on the same revision; not opening another incident',
  );
  return undefined;
}

/**
 * Records the incident (an existing record, a re-offer, is left as it is) and enqueues its rollback
 * job after `delayMs`. Recorded now, not when the delay ends: a person sees it (`/rollback status`)
 * and can cancel it while Rewind waits.
 */
export async function enqueueIncident(
  deps: { readonly incidents?: IncidentStore; readonly rollbackQueue: Queue<RollbackJob> },
  job: RollbackJob,
  delayMs: number,
  now: Date,
  details: Partial<IncidentDetails> = {},
): Promise<void> {
  const record = incidentRecordFor(job, now);
  await deps.incidents?.create({ ...record, details: { ...record.details, ...details } });
  // The job waits in Redis too: the cluster's message goes there as the record keeps it.
  const stored = { ...job, message: cleanText(job.message) };
  await deps.rollbackQueue.add(
    QUEUE_NAMES.rollback,
    stored,
    jobOptions(rollbackJobId(job.incidentId), delayMs),
  );
}
