import { type AppRef, appKey } from './app-ref.ts';
import type { CommitSha } from './commit-sha.ts';
import { IllegalTransitionError } from './errors.ts';

export const PROGRESS_CONDITIONS = [
  'Detected',
  'Located',
  'RevertPrepared',
  'PullRequestOpened',
  'Merged',
  'ReconcileRequested',
  'Converged',
] as const;
export const TERMINAL_FAILURE_CONDITIONS = ['Failed', 'NeedsHuman', 'Superseded', 'Ignored'] as const;

export type ProgressCondition = (typeof PROGRESS_CONDITIONS)[number];
export type TerminalFailureCondition = (typeof TERMINAL_FAILURE_CONDITIONS)[number];
export type ConditionType = ProgressCondition | TerminalFailureCondition;

/** One recorded step of an incident: what happened, a machine reason, a human message, when. */
export interface IncidentCondition {
  readonly type: ConditionType;
  /** CamelCase machine reason, e.g. `SingleCommit`, `BudgetExhausted`, `RevertConflict`. */
  readonly reason: string;
  /** What happened and, for failures, what a person should do next. */
  readonly message: string;
  /** ISO-8601 timestamp. */
  readonly at: string;
}

export interface Incident {
  readonly id: string;
  readonly app: AppRef;
  readonly badRevision: CommitSha;
  readonly goodRevision?: CommitSha;
  readonly culprit?: CommitSha;
  /** When the failure started, if the signal says so (for the detect timing). */
  readonly failingSince?: string;
  /** Oldest first; the last one is the current condition. */
  readonly conditions: readonly IncidentCondition[];
}

/** `inc-ks.flux-system.podinfo-0123456789ab`: deterministic, so a retried detection finds the same incident. */
export function incidentIdFor(app: AppRef, badRevision: CommitSha): string {
  return `inc-${appKey(app)}-${badRevision.slice(0, 12)}`.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
}

export const INCIDENT_ID_PATTERN = /^inc-[a-z0-9.-]+-[0-9a-f]{12}$/;

/**
 * The id of the n-th occurrence (n >= 2) of the same failure: the app failing again on the same
 * revision after an earlier incident let it go because it recovered during the grace period
 * (flapping). A new id, because the earlier incident and its job are final.
 */
export function recurrenceIdFor(app: AppRef, badRevision: CommitSha, n: number): string {
  return `inc-${appKey(app)}.r${n}-${badRevision.slice(0, 12)}`.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
}

export function isTerminal(type: ConditionType): boolean {
  return type === 'Converged' || (TERMINAL_FAILURE_CONDITIONS as readonly string[]).includes(type);
}

// Forward moves only; a direct push skips the pull request (RevertPrepared -> Merged).
const NEXT: Readonly<Record<ProgressCondition, readonly ProgressCondition[]>> = {
  Detected: ['Located'],
  Located: ['RevertPrepared'],
  RevertPrepared: ['PullRequestOpened', 'Merged'],
  PullRequestOpened: ['Merged'],
  Merged: ['ReconcileRequested'],
  ReconcileRequested: ['Converged'],
  Converged: [],
};

export function canTransition(from: ConditionType, to: ConditionType): boolean {
  // The one way out of a final condition: Rewind was refused the merge (NeedsHuman), then a person
  // merged the pull request; the incident carries on to reconcile and verify.
  if (from === 'NeedsHuman' && to === 'Merged') return true;
  if (isTerminal(from)) return false;
  const current = from as ProgressCondition;
  if (to === 'Ignored') {
    // Policy may decline to act up to the point a change is made visible; after that we own it,
    // except that a person may still close the pull request without merging it.
    return (
      current === 'Detected' ||
      current === 'Located' ||
      current === 'RevertPrepared' ||
      current === 'PullRequestOpened'
    );
  }
  if ((TERMINAL_FAILURE_CONDITIONS as readonly string[]).includes(to)) return true;
  return NEXT[current].includes(to as ProgressCondition);
}

export function currentCondition(incident: Incident): IncidentCondition {
  const last = incident.conditions[incident.conditions.length - 1];
  if (last === undefined)
    throw new IllegalTransitionError(`Incident ${incident.id} has no condition recorded.`);
  return last;
}

export interface NewIncidentInput {
  readonly app: AppRef;
  readonly badRevision: CommitSha;
  readonly goodRevision?: CommitSha;
  readonly failingSince?: string;
  readonly reason: string;
  readonly message: string;
  readonly at: Date;
}

export function newIncident(input: NewIncidentInput): Incident {
  return {
    id: incidentIdFor(input.app, input.badRevision),
    app: input.app,
    badRevision: input.badRevision,
    ...(input.goodRevision === undefined ? {} : { goodRevision: input.goodRevision }),
    ...(input.failingSince === undefined ? {} : { failingSince: input.failingSince }),
    conditions: [
      { type: 'Detected', reason: input.reason, message: input.message, at: input.at.toISOString() },
    ],
  };
}

export interface TransitionInput {
  readonly type: ConditionType;
  readonly reason: string;
  readonly message: string;
  readonly at: Date;
  /** Set when the step that leads to `Located` found the culprit. */
  readonly culprit?: CommitSha;
}

export type TransitionResult =
  | { readonly ok: true; readonly incident: Incident; readonly changed: boolean }
  | { readonly ok: false; readonly error: IllegalTransitionError };

/**
 * Records a new condition if the move is legal. Re-recording the current condition is a no-op
 * (`changed: false`) so retried steps are idempotent.
 */
export function transition(incident: Incident, input: TransitionInput): TransitionResult {
  const from = currentCondition(incident).type;
  if (from === input.type) return { ok: true, incident, changed: false };
  if (!canTransition(from, input.type)) {
    return {
      ok: false,
      error: new IllegalTransitionError(
        `Incident ${incident.id} cannot move from ${from} to ${input.type}` +
          (isTerminal(from) ? ` (${from} is final).` : '.'),
      ),
    };
  }
  const condition: IncidentCondition = {
    type: input.type,
    reason: input.reason,
    message: input.message,
    at: input.at.toISOString(),
  };
  return {
    ok: true,
    changed: true,
    incident: {
      ...incident,
      ...(input.culprit === undefined ? {} : { culprit: input.culprit }),
      conditions: [...incident.conditions, condition],
    },
  };
}

/** Milliseconds spent reaching each stage, measured from the previous one; absent stages are omitted. */
export interface StageTimings {
  readonly detect?: number;
  readonly locate?: number;
  readonly prepare?: number;
  readonly pullRequest?: number;
  readonly merge?: number;
  readonly reconcileRequest?: number;
  readonly converge?: number;
  /** From failure start (or detection) to the final condition. */
  readonly total?: number;
}

const TIMING_KEYS: readonly [ProgressCondition, keyof StageTimings][] = [
  ['Located', 'locate'],
  ['RevertPrepared', 'prepare'],
  ['PullRequestOpened', 'pullRequest'],
  ['Merged', 'merge'],
  ['ReconcileRequested', 'reconcileRequest'],
  ['Converged', 'converge'],
];

export function stageTimings(incident: Incident): StageTimings {
  const at = (type: ConditionType): number | undefined => {
    const found = incident.conditions.find((c) => c.type === type);
    return found === undefined ? undefined : Date.parse(found.at);
  };
  const timings: Partial<Record<keyof StageTimings, number>> = {};
  const detected = at('Detected');
  const since = incident.failingSince === undefined ? undefined : Date.parse(incident.failingSince);
  if (detected !== undefined && since !== undefined && !Number.isNaN(since))
    timings.detect = detected - since;
  let previous = detected;
  for (const [type, key] of TIMING_KEYS) {
    const t = at(type);
    if (t === undefined) continue;
    if (previous !== undefined) timings[key] = t - previous;
    previous = t;
  }
  const start = since !== undefined && !Number.isNaN(since) ? since : detected;
  const last = incident.conditions[incident.conditions.length - 1];
  if (start !== undefined && last !== undefined) timings.total = Date.parse(last.at) - start;
  return timings;
}

/** What opened an incident: Rewind seeing the app fail, or a person asking. */
export type IncidentTrigger = 'engine' | 'pods' | 'alert' | 'manual' | 'chatops';

/**
 * The incident in `records` (one app's) that Rewind opened because it saw `revision` failing: the
 * proof that a later change to the app is a fix forward, not a change to revert.
 */
export function seenFailing<
  T extends { readonly badRevision: string; readonly details: { readonly trigger: IncidentTrigger } },
>(records: readonly T[], revision: string): T | undefined {
  return records.find(
    (r) => r.badRevision === revision && r.details.trigger !== 'manual' && r.details.trigger !== 'chatops',
  );
}
