// Step 8, request apply: the revert is in Git; the rollback is counted on the app (budgets outlive
// Redis), the engine is asked to apply it now (releasing any hold once its source has the revert),
// and verification is handed to its own job.
import { INCIDENT_ANNOTATION, parseDurableIncident } from '../durable-incident.ts';
import { LEDGER_ANNOTATION, type Ledger, parseLedger, withRollback } from '../durable-ledger.ts';
import type { AppRef } from '../../domain/app-ref.ts';
import { engineFor } from '../../engines/registry.ts';
import type { RollbackContext, RollbackDeps, RollbackResult } from './context.ts';

/** How long to wait for the engine's source to fetch the revert before releasing the hold anyway. */
const FETCH_TIMEOUT_MS = 30_000;

export async function requestApply(ctx: RollbackContext, revertSha: string): Promise<RollbackResult> {
  const { deps, rec, app, engine } = ctx;
  if (rec.record.details.trigger !== 'manual') {
    const mergedAt = rec.record.conditions.find((c) => c.type === 'Merged')?.at;
    await updateLedger(deps, app, (ledger) =>
      withRollback(ledger, rec.record.id, mergedAt ? new Date(mergedAt) : deps.clock.now()),
    );
  }
  const object = await deps.cluster.get(engine.ref(app));
  const durable = parseDurableIncident(object?.metadata?.annotations?.[INCIDENT_ANNOTATION]);
  const hold = rec.record.details.hold ?? (durable?.id === rec.record.id ? durable.hold : undefined);
  deps.crashPoint?.('before-reconcile');
  const token = `${rec.record.id}-${deps.clock.now().getTime()}`;
  const { fetched } = await engine.applyNow(deps.cluster, {
    app,
    revision: revertSha,
    token,
    ...(hold ? { release: hold } : {}),
    fetchTimeoutMs: FETCH_TIMEOUT_MS,
  });
  if (hold) {
    if (!fetched)
      ctx.log.warn({ revertSha }, 'the source did not fetch the revert in time; released the hold anyway');
    const { hold: _released, ...details } = rec.record.details;
    rec.record = { ...rec.record, details };
  }
  await rec.details({ reconcileToken: token });
  await rec.to(
    'ReconcileRequested',
    'RequestedAt',
    `Asked the ${engine.noun} ${app.namespace}/${app.name} to apply ${revertSha.slice(0, 12)} now (${token}).`,
  );

  const deadline = new Date(deps.clock.now().getTime() + ctx.policy.verifyTimeoutMs).toISOString();
  await deps.enqueueVerify({ incidentId: rec.record.id, revertSha, deadline });
  ctx.log.debug({ revertSha }, 'verification enqueued');
  return { kind: 'handed-to-verifier', revertSha };
}

/** Read-modify-write of the app's durable ledger (a missing app has none to keep). */
export async function updateLedger(
  deps: RollbackDeps,
  app: AppRef,
  change: (ledger: Ledger) => Ledger,
): Promise<void> {
  const engine = engineFor(app);
  const object = await deps.cluster.get(engine.ref(app));
  if (!object) return;
  const next = change(parseLedger(object.metadata?.annotations?.[LEDGER_ANNOTATION]));
  await deps.cluster.annotate(engine.ref(app), { [LEDGER_ANNOTATION]: JSON.stringify(next) });
}
