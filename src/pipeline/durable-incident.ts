// The part of an incident that must survive losing Redis, kept as an annotation on the app's
// Kustomization from just before the push until the incident ends (Argo CD's stance: Redis is a
// cache that can be rebuilt). The detector re-enqueues an incident it finds here without a record.
// Order matters with several writers (after Redis is lost, a resumed rollback job can overlap the
// verifier): the end is saved to the record first, the annotation cleared second; a writer that
// (re)writes the annotation looks at the record afterwards, so one of the two always removes it.
import { z } from 'zod';
import { FLUX_KUSTOMIZATION } from '../cluster/kube.ts';
import type { AppRef } from '../domain/app-ref.ts';
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
  trigger: z.enum(['engine', 'pods', 'manual']),
  /** Rewind suspended the Kustomization (fast path) and must resume it. */
  suspendedByRewind: z.boolean().default(false),
  /** Last-good ReplicaSet uid per Deployment (`namespace/name`). */
  lastGood: z.record(z.string(), z.string()),
});
export type DurableIncident = z.output<typeof durableIncidentSchema>;

export function parseDurableIncident(raw: string | undefined): DurableIncident | undefined {
  if (!raw) return undefined;
  try {
    const parsed = durableIncidentSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function kustomizationOf(app: AppRef) {
  return { ...FLUX_KUSTOMIZATION, namespace: app.namespace, name: app.name };
}

/** Removes the annotation if it is this incident's (another incident of the app may own it by now). */
export async function clearDurableIncident(
  cluster: ClusterPort,
  app: AppRef,
  incidentId: string,
): Promise<void> {
  const kustomization = await cluster.get(kustomizationOf(app));
  if (parseDurableIncident(kustomization?.metadata?.annotations?.[INCIDENT_ANNOTATION])?.id === incidentId)
    await cluster.annotate(kustomizationOf(app), { [INCIDENT_ANNOTATION]: null });
}

/**
 * Writes the incident onto the Kustomization, then reads its record again. `ended`: another worker
 * saved the end meanwhile and may have cleared the annotation before this write; it is removed
 * again (nothing would ever clear it otherwise) and the caller must stop.
 */
export async function writeDurableIncident(
  deps: { readonly cluster: ClusterPort; readonly incidents: IncidentStore },
  durable: DurableIncident,
): Promise<{ kind: 'written' } | { kind: 'ended'; condition: ConditionType }> {
  await deps.cluster.annotate(kustomizationOf(durable.app), {
    [INCIDENT_ANNOTATION]: JSON.stringify(durable),
  });
  const last = (await deps.incidents.get(durable.id))?.conditions.at(-1);
  if (!last || !isTerminal(last.type)) return { kind: 'written' };
  await clearDurableIncident(deps.cluster, durable.app, durable.id);
  return { kind: 'ended', condition: last.type };
}
