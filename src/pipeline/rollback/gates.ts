// Step 3, policy gates before acting: the app's rollback budget (per hour, per day, cooldown),
// counted from Redis records and the app's durable ledger, so losing Redis resets nothing. Automatic
// and ChatOps rollbacks count and are gated (a chat command is easy to repeat); `rewind rollback`
// from a shell, and a ChatOps rollback whose admin asked to override (--force), are not gated.
import { appLabel, type AppRef } from '../../domain/app-ref.ts';
import { type RollbackContext, type RollbackDeps, type Step, done, next } from './context.ts';

export async function budgetGate(ctx: RollbackContext): Promise<Step<void>> {
  const { details } = ctx.rec.record;
  const gated = !ctx.manual || (details.trigger === 'chatops' && details.budgetOverride !== true);
  if (!gated || !ctx.acting) return next(undefined);
  const message = await budgetExhausted(
    ctx.deps,
    ctx.rec.record.id,
    ctx.app,
    ctx.policy.budgets,
    ctx.ledger.rollbacks,
  );
  return message ? done(ctx.rec.stop('NeedsHuman', 'BudgetExhausted', message)) : next(undefined);
}

/**
 * A message when the app's automatic-rollback budget is used up, else undefined. Only other
 * incidents count: a retry of this incident (after a crash past the push) must not stop itself.
 */
async function budgetExhausted(
  deps: RollbackDeps,
  incidentId: string,
  app: AppRef,
  budgets: { perHour: number; perDay: number; cooldownMs: number },
  durable: readonly { incident: string; at: string }[],
): Promise<string | undefined> {
  const { perHour, perDay, cooldownMs } = budgets;
  const now = deps.clock.now().getTime();
  const recent = (await deps.incidents.listForApp(app, 500)).filter(
    (r) =>
      r.id !== incidentId &&
      r.app.engine === app.engine &&
      r.app.namespace === app.namespace &&
      r.app.name === app.name &&
      r.details.trigger !== 'manual' &&
      r.conditions.some((c) => c.type === 'Merged'),
  );
  // Redis records and the app's durable ledger, one entry per incident (either may be missing).
  const merged = new Map<string, number>();
  for (const r of recent) merged.set(r.id, Date.parse(r.conditions.find((c) => c.type === 'Merged')!.at));
  for (const r of durable)
    if (r.incident !== incidentId && !merged.has(r.incident)) merged.set(r.incident, Date.parse(r.at));
  const mergedAt = [...merged.values()];
  const lastHour = mergedAt.filter((t) => now - t < 3_600_000).length;
  const lastDay = mergedAt.filter((t) => now - t < 86_400_000).length;
  if (lastHour >= perHour)
    return `${appLabel(app)} already had ${lastHour} automatic rollback(s) in the last hour (policy.budgets.perHour = ${perHour}); a person should look.`;
  if (lastDay >= perDay)
    return `${appLabel(app)} already had ${lastDay} automatic rollback(s) in the last day (policy.budgets.perDay = ${perDay}); a person should look.`;
  const latest = Math.max(0, ...mergedAt);
  if (now - latest < cooldownMs)
    return `${appLabel(app)} was rolled back automatically ${Math.round((now - latest) / 1000)} s ago, within policy.budgets.cooldown; a second automatic rollback this soon needs a person.`;
  return undefined;
}
