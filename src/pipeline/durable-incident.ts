// The part of an incident that must survive losing Redis, kept as an annotation on the app's
// app object from just before the push until the incident ends (Argo CD's stance: Redis is a
// cache that can be rebuilt). The detector re-enqueues an incident it finds here without a record.
import { z } from 'zod';
import { appRefSchema } from '../queue/jobs.ts';

export const INCIDENT_ANNOTATION = 'rewind.dev/incident';

const sha = z.string().regex(/^[0-9a-f]{40}$/);

export const durableIncidentSchema = z.object({
  id: z.string().regex(/^inc-[a-z0-9.-]+-[0-9a-f]{12}$/),
  app: appRefSchema,
  bad: sha,
  good: sha,
  trigger: z.enum(['engine', 'pods', 'manual']),
  /** Written by earlier versions (only ever a suspend); read as a hold. */
  suspendedByRewind: z.boolean().default(false),
  /** What Rewind changed to hold the engine (engine-specific), to be undone exactly. */
  hold: z.record(z.string(), z.unknown()).optional(),
  /** Last-good ReplicaSet uid per Deployment (`namespace/name`). */
  lastGood: z.record(z.string(), z.string()),
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
