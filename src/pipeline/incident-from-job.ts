// The incident record a rollback job stands for, as first recorded (condition Detected). Built in
// one place because two writers may create it: the detector, at the moment it sees the failure (so
// the incident is visible, listed by `/rollback status` and cancellable, during its grace period),
// and the rollback job itself when it finds no record (a manual or ChatOps rollback, Redis lost).
import { parseCommitSha } from '../domain/commit-sha.ts';
import { newIncident } from '../domain/incident.ts';
import type { RollbackJob } from '../queue/jobs.ts';
import type { IncidentRecord } from './incident-record.ts';

export function incidentRecordFor(job: RollbackJob, now: Date): IncidentRecord {
  const incident = newIncident({
    app: job.app,
    badRevision: parseCommitSha(job.badRevision),
    ...(job.goodRevision ? { goodRevision: parseCommitSha(job.goodRevision) } : {}),
    ...(job.failingSince ? { failingSince: job.failingSince } : {}),
    reason: job.reason || 'Detected',
    message: job.message || 'failure detected',
    at: new Date(job.detectedAt),
  });
  return {
    ...incident,
    // The job names the incident (manual rollbacks have their own ids); the domain derives the default.
    id: job.incidentId,
    details: {
      trigger: job.trigger,
      dryRun: job.dryRun,
      ...(job.requestedBy ? { requestedBy: job.requestedBy } : {}),
      ...(job.overrideBudget ? { budgetOverride: true } : {}),
      ...(job.badFromRefHead ? { badFromRefHead: true } : {}),
      healthReason: job.reason,
      healthMessage: job.message,
    },
    updatedAt: now.toISOString(),
  };
}
