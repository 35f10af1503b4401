// The part of an incident that must survive losing Redis, kept as an annotation on the app
// object from just before the push until the incident ends (Argo CD's stance: Redis is a
// cache that can be rebuilt). The detector re-enqueues an incident it finds here without a record.
// Order matters with several writers (after Redis is lost, a resumed rollback job can overlap the
// verifier): the end is saved to the record first, the annotation cleared second; a writer that
// (re)writes the annotation looks at the record afterwards, so one of the two always removes it.
import { z } from 'zod';
import type { AppRef } from '../domain/app-ref.ts';
import { engineFor } from '../engines/registry.ts';
import { type ConditionType, isTerminal } from '../domain/incident.ts';
import { appRefSchema } from '../queue/jobs.ts';
import type { IncidentStore } from './incident-record.ts';
import type { ClusterPort } from './ports.ts';

export const INCIDENT_ANNOTATION = 'rewind.dev/incident';

const sha = z.string().regex(/^[0-9a-f]{40}$/);

export const durableIncidentSchema = z.object({
  id: z.string().regex(/^inc-[a-z0-9.-]+-[0-9a-f]{12}$/),
  app: appRefSchema,
  bad: sha,
  good: sha,
  trigger: z.enum(['engine', 'pods', 'alert', 'manual', 'chatops']),
  /** Written by earlier versions (only ever a suspend); read as a hold. */
  suspendedByRewind: z.boolean().default(false),
  /** What Rewind changed to hold the engine (engine-specific), to be undone exactly. */
  hold: z.record(z.string(), z.unknown()).optional(),
  /** Last-good ReplicaSet uid per Deployment (`namespace/name`). */
  lastGood: z.record(z.string(), z.string()),
  /** The engine never applied the bad revision: the last-good ReplicaSets are the ones that kept running. */
  unapplied: z.boolean().optional(),
});
export type DurableIncident = z.output<typeof durableIncidentSchema>;

export function parseDurableIncident(raw: string | undefined): DurableIncident | undefined {
  if (!raw) return undefined;
  try {
    const parsed = durableIncidentSchema.safeParse(JSON.parse(raw));
    if (!parsed.success) return undefined;
    const { data } = parsed;
    return data.hold === undefined && data.suspendedByRewind
      ? { ...data, hold: { wasSuspended: false } }
      : data;
  } catch {
    return undefined;
  }
}

function appObjectOf(app: AppRef) {
  return engineFor(app).ref(app);
}

/** Removes the annotation if it is this incident's (another incident of the app may own it by now). */
export async function clearDurableIncident(
  cluster: ClusterPort,
  app: AppRef,
  incidentId: string,
): Promise<void> {
  const object = await cluster.get(appObjectOf(app));
  if (parseDurableIncident(object?.metadata?.annotations?.[INCIDENT_ANNOTATION])?.id === incidentId)
    await cluster.annotate(appObjectOf(app), { [INCIDENT_ANNOTATION]: null });
}

/**
 * Writes the incident onto the app object, then reads its record again. `ended`: another worker
 * saved the end meanwhile and may have cleared the annotation before this write; it is removed
 * again (nothing would ever clear it otherwise) and the caller must stop.
 */
export async function writeDurableIncident(
  deps: { readonly cluster: ClusterPort; readonly incidents: IncidentStore },
  durable: DurableIncident,
): Promise<{ kind: 'written' } | { kind: 'ended'; condition: ConditionType }> {
  await deps.cluster.annotate(appObjectOf(durable.app), {
    [INCIDENT_ANNOTATION]: JSON.stringify(durable),
  });
  const last = (await deps.incidents.get(durable.id))?.conditions.at(-1);
  if (!last || !isTerminal(last.type)) return { kind: 'written' };
  await clearDurableIncident(deps.cluster, durable.app, durable.id);
  return { kind: 'ended', condition: last.type };
}
