// What a restart must not forget about an app, kept beside the durable incident on the app's own
// object (Redis is a cache): the automatic rollbacks of the last day (budgets and cooldown), the
// incidents that ended needing a person (the loop guard: the same failure is not acted on again),
// and a per-app pause switch a person can set with kubectl:
//   kubectl annotate kustomization podinfo -n flux-system rewind.dev/paused=true
import { z } from 'zod';

export const LEDGER_ANNOTATION = 'rewind.dev/ledger';
export const PAUSED_ANNOTATION = 'rewind.dev/paused';

const DAY_MS = 86_400_000;
/** Bounds, so the annotation stays small whatever happens (annotations share a 256 KiB budget). */
const MAX_ROLLBACKS = 50;
const MAX_ENDED = 20;

const incidentId = z.string().regex(/^inc-[a-z0-9.-]+-[0-9a-f]{12}$/);

export const ledgerSchema = z.object({
  /** Automatic rollbacks that reached Merged (a revert in Git), newest last. */
  rollbacks: z.array(z.object({ incident: incidentId, at: z.string() })).default([]),
  /** Incidents that ended NeedsHuman: their id (app + bad revision) is not acted on again. */
  needsHuman: z
    .array(
      z.object({
        incident: incidentId,
        reason: z.string().max(100),
        message: z.string().max(1000),
        at: z.string(),
      }),
    )
    .default([]),
});
export type Ledger = z.output<typeof ledgerSchema>;

export function parseLedger(raw: string | undefined): Ledger {
  const empty: Ledger = { rollbacks: [], needsHuman: [] };
  if (!raw) return empty;
  try {
    const parsed = ledgerSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : empty;
  } catch {
    return empty;
  }
}

/** Adds a rollback (idempotent by incident), keeping only the last day's. */
export function withRollback(ledger: Ledger, incident: string, at: Date): Ledger {
  const since = at.getTime() - DAY_MS;
  const kept = ledger.rollbacks.filter((r) => r.incident !== incident && Date.parse(r.at) > since);
  return { ...ledger, rollbacks: [...kept, { incident, at: at.toISOString() }].slice(-MAX_ROLLBACKS) };
}

/** Records an incident that needs a person (idempotent by incident), keeping the newest few. */
export function withNeedsHuman(
  ledger: Ledger,
  incident: string,
  reason: string,
  message: string,
  at: Date,
): Ledger {
  const kept = ledger.needsHuman.filter((r) => r.incident !== incident);
  const entry = {
    incident,
    reason: reason.slice(0, 100),
    message: message.slice(0, 1000),
    at: at.toISOString(),
  };
  return { ...ledger, needsHuman: [...kept, entry].slice(-MAX_ENDED) };
}

export function isPausedByAnnotation(annotations: Record<string, string> | undefined): boolean {
  return ['true', 'yes', '1'].includes((annotations?.[PAUSED_ANNOTATION] ?? '').trim().toLowerCase());
}
