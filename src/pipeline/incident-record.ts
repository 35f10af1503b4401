// What Rewind remembers about an incident beyond the domain's conditions: the evidence a person
// reads in `rewind status`, in the Kubernetes Event and (with a forge) on the pull request.
import type { AppRef } from '../domain/app-ref.ts';
import type { Incident, IncidentTrigger } from '../domain/incident.ts';
import { cleanText } from '../domain/outbound-text.ts';
import type { AlertEvidence } from './alert-evidence.ts';
import type { WorkloadTemplates } from './verify.ts';

export interface DeploymentVerdictSummary {
  readonly name: string;
  readonly namespace: string;
  readonly state: string;
  readonly reasons: readonly string[];
}

export interface IncidentDetails {
  /** `chatops`: a person asked through a comment or Slack (a manual rollback that counts in the budget). */
  readonly trigger: IncidentTrigger;
  readonly dryRun: boolean;
  /** Who asked for a manual or ChatOps rollback, where and why (sanitised, one line). */
  readonly requestedBy?: string;
  /** An admin asked a ChatOps rollback to skip the budget. */
  readonly budgetOverride?: boolean;
  /** Who cancelled the incident (`/rollback cancel`). */
  readonly cancelledBy?: string;
  /** Health reason and message that made Rewind act. */
  readonly healthReason?: string;
  readonly healthMessage?: string;
  /** Alerts and Flux events that named the app (newest last, bounded, sanitised). */
  readonly alerts?: readonly AlertEvidence[];
  readonly source?: { readonly url: string; readonly branch: string };
  readonly culpritRule?: string;
  readonly confidence?: string;
  readonly culpritSubject?: string;
  readonly rangeCommits?: number;
  readonly templateChanges?: readonly string[];
  readonly revert?: { readonly kind: string; readonly sha?: string; readonly paths?: readonly string[] };
  readonly reconcileToken?: string;
  /** The pull request carrying the revert (forge github). */
  readonly pr?: { readonly number: number; readonly url: string; readonly branch: string };
  /** The commit the merge of that pull request put on the branch (merge, squash or rebased head). */
  readonly merge?: { readonly sha: string; readonly method?: 'merge' | 'squash' | 'rebase' };
  /** How the pull request is to be merged, decided once from the policies of every app it reverts. */
  readonly prPlan?: 'auto-merge' | 'propose' | 'observe';
  /** What Rewind changed to hold the engine (Flux suspend, Argo automated sync off), to undo exactly. */
  readonly hold?: Readonly<Record<string, unknown>>;
  /** Why Rewind did not hold the engine although its policy asked for it (it would not last). */
  readonly holdSkipped?: string;
  readonly verification?: readonly DeploymentVerdictSummary[];
  readonly warnings?: readonly string[];
  /** Last-good and bad pod templates per Deployment, recorded while the bad revision was live. */
  readonly templates?: WorkloadTemplates;
  /**
   * The engine reported the bad revision failed before it was applied (a build or render error) and
   * the workloads still ran what they ran before: `templates` holds those, with no bad template, and
   * verification needs no rollout.
   */
  readonly unapplied?: boolean;
  /**
   * The engine named no commit (an Argo CD render error): the bad revision is the head of its ref
   * when Rewind read it, and only a range holding one change to the app names the culprit for sure.
   */
  readonly badFromRefHead?: boolean;
}

export interface IncidentRecord extends Incident {
  readonly details: IncidentDetails;
  /** Last write, ISO-8601. */
  readonly updatedAt: string;
  /**
   * Opaque, new on every write (set by the store, like Kubernetes' resourceVersion). A write names
   * the version it read, so a writer holding a stale copy cannot overwrite a newer record.
   */
  readonly version?: string;
}

/** Every string of `value` through cleanText (arrays and plain objects followed, the rest kept). */
function cleanDeep<T>(value: T): T {
  if (typeof value === 'string') return cleanText(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => cleanDeep(v)) as T;
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cleanDeep(v)])) as T;
}

/**
 * The record as it may be stored: every condition's reason and message and every free-text detail
 * redacted and printable, whichever writer built it (the detector's Detected record carries the
 * engine's health message as it came). Pod templates and the engine hold are kept exactly: Rewind
 * compares and restores them, and neither is ever sent out.
 */
export function storableRecord(record: IncidentRecord): IncidentRecord {
  const { templates, hold, ...text } = record.details;
  return {
    ...record,
    conditions: record.conditions.map((c) => ({
      ...c,
      reason: cleanText(c.reason),
      message: cleanText(c.message),
    })),
    details: {
      ...cleanDeep(text),
      ...(templates === undefined ? {} : { templates }),
      ...(hold === undefined ? {} : { hold }),
    },
  };
}

/** Outcome of a write: saved (with its new version), or another writer got there first. */
export type SaveOutcome =
  | { readonly kind: 'saved'; readonly record: IncidentRecord }
  | { readonly kind: 'conflict'; readonly current: IncidentRecord };

/** The store for incident records: Redis in production (a cache that can be rebuilt), memory in tests. */
export interface IncidentStore {
  get(id: string): Promise<IncidentRecord | undefined>;
  /**
   * Stores a new record unless one with its id exists (then that one is the `current` of a conflict).
   * Create and save store (and return as saved) the storableRecord of what they are given.
   */
  create(record: IncidentRecord): Promise<SaveOutcome>;
  /**
   * Compare-and-set: writes `record` only while the stored copy is still at `record.version`. A
   * record missing from the store (Redis lost) is written back by whichever writer comes first.
   */
  save(record: IncidentRecord): Promise<SaveOutcome>;
  /** Newest first. */
  list(limit?: number): Promise<IncidentRecord[]>;
  /** One app's incidents, newest first, read through a per-app index. */
  listForApp(app: AppRef, limit?: number): Promise<IncidentRecord[]>;
  /**
   * Whether a record named `sha` as the revert Rewind pushed or the commit the merge of its pull
   * request landed. The detector asks before opening an incident: while the engine rolls a revert
   * out, the revert is its attempted revision and the bad ReplicaSet's Pods still fail for a moment;
   * that is the incident's own recovery, not a new failure. Indexed: the detector asks for every
   * failing app it sees, so reading the recent records instead grew with the square of a storm.
   */
  isOwnCommit(sha: string): Promise<boolean>;
  /**
   * Every such commit within the retention: one of the marks the culprit search uses to never
   * revert Rewind's own work (src/git/own-commit.ts); the others live in Git and survive losing Redis.
   */
  ownCommits(): Promise<ReadonlySet<string>>;
}
