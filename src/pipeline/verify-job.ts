// The verify job: checks convergence once; the worker re-runs it later ("check again later" as a
// delayed job) until it converges, fails, or passes its deadline. Ends the incident, records a
// Kubernetes Event on the app object and clears the durable incident annotation.
import { appLabel } from '../domain/app-ref.ts';
import { engineFor } from '../engines/registry.ts';
import { shortSha } from '../domain/commit-sha.ts';
import { isTerminal, stageTimings } from '../domain/incident.ts';
import type { VerifyJob } from '../queue/jobs.ts';
import { clearDurableIncident } from './durable-incident.ts';
import type { IncidentRecord, IncidentStore } from './incident-record.ts';
import { IncidentRecorder } from './incident-recorder.ts';
import type { Clock, ClusterPort, Logger } from './ports.ts';
import { verifyOnce } from './verify.ts';

export interface VerifyDeps {
  readonly cluster: ClusterPort;
  /** Whether commit `descendant` of the incident's source contains `ancestor` (git). */
  readonly contains?: (record: IncidentRecord, ancestor: string, descendant: string) => Promise<boolean>;
  /** Fault injection for crash-safety tests. */
  readonly crashPoint?: (name: 'before-result-comment') => void;
  /** With a forge, the result is posted once on the incident's pull request. */
  readonly postResult?: (record: IncidentRecord, result: VerificationResult) => Promise<void>;
  readonly incidents: IncidentStore;
  readonly clock: Clock;
  readonly log: Logger;
  /** Notifications and outcome Events (see RecorderDeps.onTransition). */
  readonly onTransition?: (record: IncidentRecord) => Promise<void>;
}

export type VerifyJobResult =
  | { kind: 'converged' | 'failed' | 'already-finished' | 'missing' }
  | { kind: 'check-again'; message: string };

export type VerificationResult =
  | { outcome: 'converged'; warnings: readonly string[] }
  | { outcome: 'failed'; reason: string; evidence: readonly string[] };

export function formatTimings(record: IncidentRecord): string {
  const t = stageTimings(record);
  const parts = Object.entries(t).map(([stage, ms]) => `${stage} ${(ms / 1000).toFixed(2)}s`);
  return parts.join(', ');
}

export async function runVerify(job: VerifyJob, deps: VerifyDeps): Promise<VerifyJobResult> {
  const record = await deps.incidents.get(job.incidentId);
  const beforeDeadline = deps.clock.now().getTime() < Date.parse(job.deadline);
  // Without a record (Redis lost while this job survived or was enqueued by a rollback job still in
  // flight) the detector re-runs the rollback job from the durable annotation. That job re-creates
  // the record and hands over to this same job id, which the queue deduplicates: finishing here
  // would leave the incident unverified, so keep checking until the deadline.
  if (!record) {
    return beforeDeadline
      ? { kind: 'check-again', message: 'no incident record yet (Redis lost?); waiting for it to be resumed' }
      : { kind: 'missing' };
  }
  const rec = new IncidentRecorder(record, deps);
  if (isTerminal(rec.condition)) {
    // A crash between recording the end and telling the world: repeat the idempotent part
    // (the result comment is found by its marker, the annotation is cleared only when present).
    const last = rec.record.conditions.at(-1);
    if (
      rec.record.details.pr &&
      (last?.type === 'Converged' || last?.reason === 'VerifyTimeout' || last?.reason === 'RolloutFailed')
    ) {
      await deps.postResult?.(
        rec.record,
        last.type === 'Converged'
          ? { outcome: 'converged', warnings: rec.record.details.warnings ?? [] }
          : { outcome: 'failed', reason: last.message, evidence: [] },
      );
    }
    await clearDurableIncident(deps.cluster, record.app, record.id);
    return { kind: 'already-finished' };
  }
  // A resumed rollback job is rebuilding the record; verification starts once it requested the reconcile.
  if (rec.condition !== 'ReconcileRequested' && beforeDeadline)
    return {
      kind: 'check-again',
      message: `incident is at ${rec.condition}; waiting for the reconcile request`,
    };
  const ref = engineFor(record.app).ref(record.app);
  const outcome = await verifyOnce(
    deps.cluster,
    record,
    job.revertSha,
    record.details.templates ?? { lastGood: {}, bad: {} },
    deps.contains ? (ancestor, descendant) => deps.contains!(record, ancestor, descendant) : undefined,
  );
  const finish = async (
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    result: VerificationResult,
  ): Promise<void> => {
    if (rec.record.details.pr) {
      deps.crashPoint?.('before-result-comment');
      await deps.postResult?.(rec.record, result);
    }
    const object = await deps.cluster.get(ref);
    if (object) await deps.cluster.recordEvent(object, type, reason, message);
    // After the end is saved (see durable-incident.ts), and only this incident's annotation.
    await clearDurableIncident(deps.cluster, record.app, record.id);
  };
  if (outcome.state === 'pending') {
    if (deps.clock.now().getTime() < Date.parse(job.deadline))
      return { kind: 'check-again', message: outcome.message };
    await rec.details({ verification: outcome.deployments });
    await rec.to(
      'Failed',
      'VerifyTimeout',
      `Not converged by the deadline (policy.verifyTimeout): ${outcome.message}`,
    );
    await finish(
      'Warning',
      'RollbackNotConverged',
      `Rewind reverted ${shortSha(rec.record.culprit ?? rec.record.badRevision)} but ${appLabel(record.app)} did not converge: ${outcome.message}`,
      {
        outcome: 'failed',
        reason: 'Not converged by the verification deadline.',
        evidence: [outcome.message],
      },
    );
    return { kind: 'failed' };
  }
  await rec.details({
    verification: outcome.deployments,
    ...(outcome.state === 'converged' ? { warnings: outcome.warnings } : {}),
  });
  if (outcome.state === 'needs-human') {
    await rec.to('NeedsHuman', outcome.reason, outcome.message);
    await finish(
      'Warning',
      'RollbackNeedsHuman',
      `Rewind reverted ${shortSha(rec.record.culprit ?? rec.record.badRevision)} but ${appLabel(record.app)} cannot converge without a person: ${outcome.message}`,
      { outcome: 'failed', reason: 'The rollout after the revert is blocked.', evidence: [outcome.message] },
    );
    return { kind: 'failed' };
  }
  if (outcome.state === 'failed') {
    await rec.to('Failed', 'RolloutFailed', outcome.message);
    await finish(
      'Warning',
      'RollbackFailed',
      `Rollback of ${appLabel(record.app)} failed: ${outcome.message}`,
      { outcome: 'failed', reason: 'The rollout after the revert failed.', evidence: [outcome.message] },
    );
    return { kind: 'failed' };
  }
  const reused =
    outcome.deployments.map((d) => `${d.namespace}/${d.name} ${d.state}`).join(', ') || 'no Deployments';
  // A bad revision the engine never applied left the workloads alone: they only had to stay so.
  await (rec.record.details.unapplied
    ? rec.to(
        'Converged',
        'WorkloadsUnchanged',
        `${appLabel(record.app)} applied ${job.revertSha.slice(0, 7)}; ${shortSha(rec.record.badRevision)} was never applied and the workloads kept their ReplicaSets (${reused}).`,
      )
    : rec.to(
        'Converged',
        'LastGoodReplicaSet',
        `${appLabel(record.app)} runs its last-good ReplicaSet again (${reused}).`,
      ));
  await finish(
    'Normal',
    'RollbackConverged',
    `Rewind reverted ${shortSha(rec.record.culprit ?? rec.record.badRevision)} with ${job.revertSha.slice(0, 7)}; converged (${formatTimings(rec.record)}).`,
    { outcome: 'converged', warnings: outcome.warnings },
  );
  return { kind: 'converged' };
}
