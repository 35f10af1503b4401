// What an alert (Alertmanager) or a Flux event that named an app leaves on the incident: evidence a
// person reads next to the engine's own reason. It comes from outside, so it is bounded (few labels,
// short values, few entries per incident) and sanitised (one line, secrets redacted) before it is kept.
import { redact } from '../domain/errors.ts';
import type { AppRef } from '../domain/app-ref.ts';

export interface AlertEvidence {
  readonly source: 'alertmanager' | 'flux';
  /** Alertmanager's `alertname`, or the Flux event's reason. */
  readonly name: string;
  /** Alertmanager's `status` (only `firing` acts), or the Flux event's severity. */
  readonly status: string;
  readonly summary?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly startsAt?: string;
  readonly fingerprint?: string;
  /** The revision the Flux event names (it may be older than the app's current one). */
  readonly revision?: string;
  readonly receivedAt: string;
}

/** What happened to one alert: it opened or joined an incident, or why it did not. */
export type AlertOutcome =
  | { readonly kind: 'opened' | 'joined'; readonly incidentId: string; readonly message: string }
  | { readonly kind: 'ignored'; readonly reason: string; readonly message: string };

/** The port the webhooks hand an alert to (workers/alert-trigger.ts implements it). */
export type RaiseAlert = (app: AppRef, evidence: AlertEvidence) => Promise<AlertOutcome>;

const MAX_LABELS = 20;
const MAX_KEY = 100;
const MAX_VALUE = 200;
const MAX_SUMMARY = 500;
/** Entries kept per incident (an alert that keeps firing, several alerts for one app). */
export const MAX_ALERTS_PER_INCIDENT = 10;

/** One line, no control characters, secrets redacted, at most `max` characters. */
export function cleanText(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const line = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  const bounded = line.length > max ? `${line.slice(0, max - 1)}…` : line;
  return redact(bounded);
}

/** Evidence as it may be stored: bounded and sanitised, whatever the sender put in it. */
export function boundedEvidence(evidence: AlertEvidence): AlertEvidence {
  const labels = Object.entries(evidence.labels ?? {})
    .slice(0, MAX_LABELS)
    .map(([k, v]) => [cleanText(k, MAX_KEY), cleanText(v, MAX_VALUE)] as const);
  const optional = (key: 'summary' | 'startsAt' | 'fingerprint' | 'revision', max: number) => {
    const value = evidence[key];
    return value === undefined ? {} : { [key]: cleanText(value, max) };
  };
  return {
    source: evidence.source,
    name: cleanText(evidence.name, MAX_KEY),
    status: cleanText(evidence.status, 20),
    ...optional('summary', MAX_SUMMARY),
    ...(labels.length > 0 ? { labels: Object.fromEntries(labels) } : {}),
    ...optional('startsAt', 40),
    ...optional('fingerprint', 64),
    ...optional('revision', 120),
    receivedAt: evidence.receivedAt,
  };
}

/** The incident's evidence with `evidence` added (newest last, oldest dropped past the bound). */
export function withAlertEvidence(
  kept: readonly AlertEvidence[] | undefined,
  evidence: AlertEvidence,
): readonly AlertEvidence[] {
  return [...(kept ?? []), boundedEvidence(evidence)].slice(-MAX_ALERTS_PER_INCIDENT);
}
