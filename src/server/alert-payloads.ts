// The alert payloads Rewind reads, checked at the edge (422 for a shape it cannot read), and how
// each alert names an app. Alertmanager's webhook (version 4): `alerts[]` with status, labels,
// annotations, startsAt and fingerprint; the config's label templates name the app. Flux's
// notification-controller (generic / generic-hmac provider): one event about one object, which is
// the app when its kind is one Rewind drives. Only what Rewind reads is required; the rest is dropped.
import { z } from 'zod';
import { type AppRef, parseAppRef } from '../domain/app-ref.ts';
import { isRewindError } from '../domain/errors.ts';

const labelMap = z.record(z.string().max(200), z.string().max(10_000));

const alertmanagerAlert = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: labelMap,
  annotations: labelMap.default({}),
  startsAt: z.string().max(64),
  fingerprint: z.string().regex(/^[A-Za-z0-9]{1,64}$/),
});

export const alertmanagerPayload = z.object({
  version: z.literal('4'),
  receiver: z.string().max(1_000),
  status: z.enum(['firing', 'resolved']),
  alerts: z.array(alertmanagerAlert).max(10_000),
});
export type AlertmanagerAlert = z.infer<typeof alertmanagerAlert>;

export const fluxEventPayload = z.object({
  involvedObject: z.object({
    kind: z.string().min(1).max(100),
    namespace: z.string().max(253).default(''),
    name: z.string().min(1).max(253),
    apiVersion: z.string().max(300).optional(),
    uid: z.string().max(100).optional(),
  }),
  severity: z.string().max(20),
  timestamp: z.string().max(64).optional(),
  // notification-controller truncates messages to 39 000 characters.
  message: z.string().max(40_000),
  reason: z.string().max(300),
  metadata: z.record(z.string().max(300), z.string().max(2_000)).optional(),
  reportingController: z.string().max(300),
  reportingInstance: z.string().max(300).optional(),
});
export type FluxEvent = z.infer<typeof fluxEventPayload>;

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** The app a template names with these labels, or undefined when a label is missing or not a name. */
export function appFromTemplate(
  template: string,
  labels: Readonly<Record<string, string>>,
): AppRef | undefined {
  let missing = false;
  const text = template.replace(PLACEHOLDER, (_, label: string) => {
    const value = labels[label];
    if (value === undefined || value === '') missing = true;
    return value ?? '';
  });
  if (missing) return undefined;
  try {
    return parseAppRef(text);
  } catch (error) {
    if (isRewindError(error)) return undefined;
    throw error;
  }
}

/** The app an alert's labels name: the first template that renders to one. */
export function appOfAlert(
  labels: Readonly<Record<string, string>>,
  templates: readonly string[],
): AppRef | undefined {
  for (const template of templates) {
    const app = appFromTemplate(template, labels);
    if (app) return app;
  }
  return undefined;
}

/** The object a Flux event is about, as an app (any engine kind; the caller checks it is driven). */
export function appOfFluxEvent(event: FluxEvent): AppRef | undefined {
  const { kind, namespace, name } = event.involvedObject;
  return appFromTemplate('{kind}/{namespace}/{name}', { kind, namespace, name });
}

/**
 * The revision a Flux event names: `revision` (notification-controller >= v1.5 strips the API group
 * prefix), else the older `<group>/revision` key.
 */
export function revisionOfFluxEvent(event: FluxEvent): string | undefined {
  const metadata = event.metadata ?? {};
  return metadata['revision'] ?? Object.entries(metadata).find(([key]) => key.endsWith('/revision'))?.[1];
}
