// Step 4, contain: before anything is written, the incident goes onto the app object (if Redis is
// lost from here on, the detector finds it there and re-runs this job, which completes instead of
// starting over). Then, per policy, the engine is held (Flux suspend, Argo automated sync off) so it
// does not re-apply the bad revision, and on the fast path each Deployment gets its last-good
// template back the way `kubectl rollout undo` does (the controller reuses the old ReplicaSet): the
// cluster recovers at native speed while Git catches up. A bad revision the engine never applied
// (a build or render error) left the workloads alone: their running templates are the last-good
// ones, and there is nothing to roll back natively. It needs no culprit, so it runs before the
// culprit search. Idempotent: a retry writes the same record and patches the same templates again.
import { templateDiff } from '../../cluster/template.ts';
import type { ConditionType } from '../../domain/incident.ts';
import {
  type DurableIncident,
  INCIDENT_ANNOTATION,
  parseDurableIncident,
  writeDurableIncident,
} from '../durable-incident.ts';
import { workloadsOf } from '../app-objects.ts';
import {
  type WorkloadTemplates,
  recordTemplates,
  templatesFromReplicaSets,
  unappliedTemplates,
} from '../verify.ts';
import type { RollbackContext } from './context.ts';

export interface Contained {
  readonly kind: 'contained';
  readonly templates: WorkloadTemplates;
  /** Values that differ between the last-good and bad templates (for the pickaxe), and the diff. */
  readonly changedValues: readonly string[];
  readonly restoredValues: readonly string[];
  readonly changes: readonly string[];
}

/**
 * The last-good and bad templates: recorded already (a retry), rebuilt from the durable incident
 * (Redis lost), the running ones when the engine never applied the bad revision, or from the history.
 */
async function templatesOf(
  ctx: RollbackContext,
  durable: DurableIncident | undefined,
): Promise<{ templates: WorkloadTemplates; unapplied: boolean }> {
  const { deps, rec, app, engine } = ctx;
  const recorded = rec.record.details.templates;
  if (recorded) return { templates: recorded, unapplied: rec.record.details.unapplied === true };
  const deployments = await workloadsOf(deps.cluster, app);
  if (durable?.id === rec.record.id) {
    const rebuilt = await templatesFromReplicaSets(deps.cluster, deployments, durable.lastGood);
    if (rebuilt) return { templates: rebuilt, unapplied: durable.unapplied === true };
  }
  // Read after the Deployments: an engine still on the bad revision now had not changed them then.
  const now = await deps.cluster.get(engine.ref(app));
  const attempted = now ? engine.attemptedRevision(now) : undefined;
  // The engine applies a revision other than the bad one (e.g. a storm's shared revert).
  const revertReached = attempted !== undefined && attempted.sha !== ctx.bad;
  const startedAt = rec.record.failingSince ?? rec.record.conditions[0]!.at;
  const unapplied =
    now && !revertReached
      ? await unappliedTemplates(deps.cluster, app, now, ctx.bad, deployments, startedAt)
      : undefined;
  if (unapplied) return { templates: unapplied, unapplied: true };
  return {
    templates: await recordTemplates(deps.cluster, deployments, startedAt, revertReached),
    unapplied: false,
  };
}

/**
 * `ended`: another worker ended the incident meanwhile (a resumed job overlapping the verifier after
 * Redis was lost); this one stops.
 */
export async function contain(
  ctx: RollbackContext,
): Promise<Contained | { readonly kind: 'ended'; readonly condition: ConditionType }> {
  const { deps, rec, app, engine, object, policy } = ctx;
  const durable = parseDurableIncident(object.metadata?.annotations?.[INCIDENT_ANNOTATION]);
  const { templates, unapplied } = await templatesOf(ctx, durable);
  if (!rec.record.details.templates) await rec.details({ templates, ...(unapplied ? { unapplied } : {}) });
  const changes: string[] = [];
  const changedValues: string[] = [];
  const restoredValues: string[] = [];
  for (const [key, lastGood] of Object.entries(templates.lastGood)) {
    const bad = templates.bad[key];
    if (!bad) continue; // nothing known to compare with (the bad revision never reached it)
    const diff = templateDiff(lastGood.template, bad);
    changes.push(...diff.changes.map((c) => `${key}: ${c}`));
    changedValues.push(...diff.changedValues);
    restoredValues.push(...diff.restoredValues);
  }
  if (!ctx.acting) return { kind: 'contained', templates, changedValues, restoredValues, changes };

  const wantsHold =
    (policy.fastPath || policy.suspendWhilePending) && rec.record.details.revert?.sha === undefined;
  // A hold something else undoes at once (an Argo CD ApplicationSet rewriting the Application) is
  // not placed, nor the native rollback it protects: the revert in Git is then the rollback.
  const refusal =
    wantsHold && !rec.record.details.hold ? await engine.holdRefusal?.(deps.cluster, object) : undefined;
  if (refusal && rec.record.details.holdSkipped !== refusal) {
    await rec.details({
      holdSkipped: refusal,
      warnings: [...(rec.record.details.warnings ?? []), refusal],
    });
    ctx.log.info({ reason: refusal }, 'did not hold the app');
  }
  const holding = wantsHold && !refusal;
  // The hold is planned from the object before it is held, and kept durably first, so a retry
  // after a crash restores what the app had, not the held state.
  const hold = holding ? (rec.record.details.hold ?? durable?.hold ?? engine.planHold(object)) : undefined;
  if (durable?.id !== rec.record.id || (hold && !durable.hold)) {
    const record: DurableIncident = {
      id: rec.record.id,
      app,
      bad: ctx.bad,
      good: rec.record.goodRevision!,
      trigger: rec.record.details.trigger,
      suspendedByRewind: false,
      ...(hold ? { hold } : {}),
      ...(unapplied ? { unapplied } : {}),
      lastGood: Object.fromEntries(
        Object.entries(templates.lastGood).flatMap(([key, value]) =>
          value.rsUid ? [[key, value.rsUid]] : [],
        ),
      ),
    };
    const written = await writeDurableIncident(deps, record);
    if (written.kind === 'ended') return { kind: 'ended', condition: written.condition };
  }
  if (hold) {
    await rec.details({ hold });
    await engine.hold(deps.cluster, app);
    // policy.suspendWhilePending only holds: the engine stops re-trying the bad revision until the
    // revert is in Git, without touching the Deployments; neither does a bad revision never applied.
    const toRestore = policy.fastPath && !unapplied ? Object.entries(templates.lastGood) : [];
    for (const [key, lastGood] of toRestore) {
      const [namespace = '', name = ''] = key.split('/');
      await deps.cluster.setPodTemplate(namespace, name, lastGood.template);
    }
    ctx.log.info(
      { deployments: Object.keys(templates.lastGood) },
      'held the app; fast path rolled back natively',
    );
  }
  return { kind: 'contained', templates, changedValues, restoredValues, changes };
}
