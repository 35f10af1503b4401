// The rollback job, as named steps (src/pipeline/rollback/): resolve -> recheck -> gates ->
// contain (durable record, hold, fast path) -> locate -> plan -> act (pull request or direct push)
// -> request apply -> hand over to verification. Every step looks at the world before acting (the
// incident record, the pushed revert found by its Rewind-Incident trailer, the app's annotations),
// so a crash and retry anywhere produces no second commit, push, PR or merge. Outcomes are named;
// only unexpected failures throw (and BullMQ retries them with backoff). No step names an engine:
// they ask the app's Engine (src/engines/registry.ts).
import { appLabel } from '../domain/app-ref.ts';
import { isTerminal } from '../domain/incident.ts';
import type { RollbackJob } from '../queue/jobs.ts';
import { withNeedsHuman } from './durable-ledger.ts';
import { incidentRecordFor } from './incident-from-job.ts';
import type { IncidentRecord } from './incident-record.ts';
import { IncidentRecorder, announceTransition } from './incident-recorder.ts';
import { actByDirectPush } from './rollback/act-direct-push.ts';
import { actByPullRequest, followPullRequest, joinStorm } from './rollback/act-pull-request.ts';
import { contain } from './rollback/contain.ts';
import type { RollbackDeps, RollbackResult } from './rollback/context.ts';
import { budgetGate } from './rollback/gates.ts';
import { locate } from './rollback/locate.ts';
import { planRevert } from './rollback/plan.ts';
import { recheck } from './rollback/recheck.ts';
import { updateLedger } from './rollback/request-apply.ts';
import { resolveApp } from './rollback/resolve.ts';

export type { RollbackDeps, RollbackResult } from './rollback/context.ts';

export async function runRollback(job: RollbackJob, deps: RollbackDeps): Promise<RollbackResult> {
  const rec = new IncidentRecorder(await loadOrCreate(job, deps), deps);
  const result = await runSteps(job, deps, rec);
  if (result.kind === 'stopped' && result.condition === 'NeedsHuman' && !job.manual) {
    // The loop guard outlives Redis: the same failure is not acted on again after a restart. From
    // the record in hand, not read back: Redis may already have lost it.
    const record = rec.record;
    const last = record.conditions.at(-1);
    if (last && last.reason !== 'UnknownApp' && last.reason !== 'UnsupportedEngine') {
      await updateLedger(deps, record.app, (ledger) =>
        withNeedsHuman(ledger, record.id, last.reason, last.message, deps.clock.now()),
      );
    }
  }
  return result;
}

async function runSteps(
  job: RollbackJob,
  deps: RollbackDeps,
  rec: IncidentRecorder,
): Promise<RollbackResult> {
  // A merge Rewind was refused may still be done by a person: then the incident carries on.
  const last = rec.record.conditions.at(-1);
  const refusedThenMerged =
    last?.type === 'NeedsHuman' &&
    (last.reason === 'MergeRefused' || last.reason === 'ReviewTimeout') &&
    job.reason === 'PullRequestMerged';
  if (isTerminal(rec.condition) && !refusedThenMerged)
    return { kind: 'already-finished', condition: rec.condition };

  const resolved = await resolveApp(job, deps, rec, { refusedThenMerged });
  if ('done' in resolved) return resolved.done;
  const ctx = resolved.next;

  // A pull request exists: nothing to locate again, only to follow it (merge per policy, or wait;
  // after a crash past the merge, carry on to the apply request and the verification).
  const following = ['PullRequestOpened', 'Merged', 'ReconcileRequested'].includes(rec.condition);
  if (ctx.forge && rec.record.details.pr && (following || refusedThenMerged)) {
    if (ctx.policy.paused && rec.condition === 'PullRequestOpened')
      return { kind: 'waiting-for-merge', pullRequest: rec.record.details.pr.number };
    return followPullRequest(ctx, rec.record.details.prPlan ?? (job.manual ? 'auto-merge' : ctx.policy.mode));
  }

  const rechecked = await recheck(ctx);
  if ('done' in rechecked) return rechecked.done;
  if (!rec.record.goodRevision) {
    return rec.stop(
      'NeedsHuman',
      'NoGoodRevision',
      `No last-good revision is known for ${appLabel(ctx.app)} (the engine has not applied one, and Rewind never saw it healthy). Use "rewind rollback ${ctx.engine.id === 'flux-kustomization' ? '' : `${ctx.engine.id}/`}${ctx.app.namespace}/${ctx.app.name} --to <sha>".`,
    );
  }
  const gated = await budgetGate(ctx);
  if ('done' in gated) return gated.done;
  const contained = await contain(ctx);
  if (contained.kind === 'ended') return { kind: 'already-finished', condition: contained.condition };
  const storm = await joinStorm(ctx);
  if (storm) return storm;
  const located = await locate(ctx, contained);
  if ('done' in located) return located.done;
  if (ctx.forge && !ctx.dryRun) return actByPullRequest(ctx, located.next);
  return actByDirectPush(ctx, await planRevert(ctx, located.next));
}

async function loadOrCreate(job: RollbackJob, deps: RollbackDeps): Promise<IncidentRecord> {
  const existing = await deps.incidents.get(job.incidentId);
  // The detector records an incident when it sees the failure; its Detected notice goes out here
  // (claimed once per transition, so a retry does not announce it twice).
  if (existing?.conditions.length === 1) await announceTransition(existing, deps);
  if (existing) return existing;
  // Another job may have (re)created it since the look above (Redis lost): carry on from that one.
  const created = await deps.incidents.create(incidentRecordFor(job, deps.clock.now()));
  if (created.kind === 'saved') await announceTransition(created.record, deps);
  return created.kind === 'saved' ? created.record : created.current;
}
