// What the dashboard shows of an incident record: a whitelist of fields, every string redacted and
// bounded. Records carry things a browser must never see (pod templates with their environment, the
// hold state, reconcile tokens), and their text comes from commit messages, PR titles and cluster
// events, so nothing is passed through by default. The page renders these values as text only.
import { redact } from '../../domain/errors.ts';
import { type ConditionType, type StageTimings, isTerminal, stageTimings } from '../../domain/incident.ts';
import type { IncidentRecord } from '../../pipeline/incident-record.ts';

const MAX_TEXT = 2000;
const MAX_ITEMS = 50;

export interface ConditionView {
  readonly type: ConditionType;
  readonly reason: string;
  readonly message: string;
  readonly at: string;
}

export interface IncidentView {
  readonly id: string;
  /** The current condition (the last of the timeline). */
  readonly condition: ConditionType;
  /** True once the incident has ended (Converged or a terminal failure). */
  readonly final: boolean;
  readonly app: { readonly engine: string; readonly namespace: string; readonly name: string };
  readonly badRevision: string;
  readonly goodRevision: string | null;
  readonly trigger: string;
  readonly dryRun: boolean;
  readonly requestedBy: string | null;
  readonly health: { readonly reason: string; readonly message: string } | null;
  /** The Git source, its URL without credentials. */
  readonly source: { readonly url: string; readonly branch: string } | null;
  readonly culprit: {
    readonly sha: string;
    readonly subject: string | null;
    readonly rule: string | null;
    readonly confidence: string | null;
    readonly rangeCommits: number | null;
    readonly url: string | null;
  } | null;
  readonly templateChanges: readonly string[];
  readonly revert: {
    readonly kind: string;
    readonly sha: string | null;
    readonly paths: readonly string[];
    readonly url: string | null;
  } | null;
  readonly pullRequest: {
    readonly number: number;
    readonly url: string | null;
    readonly branch: string;
  } | null;
  readonly merge: {
    readonly sha: string;
    readonly method: string | null;
    readonly url: string | null;
  } | null;
  /** What verify recorded per Deployment. */
  readonly verification: readonly {
    readonly namespace: string;
    readonly name: string;
    readonly state: string;
    readonly reasons: readonly string[];
  }[];
  readonly warnings: readonly string[];
  /** Oldest first. */
  readonly timeline: readonly ConditionView[];
  /** Milliseconds per stage (detect, locate, prepare, pullRequest, merge, reconcileRequest, converge, total). */
  readonly timingsMs: StageTimings;
  readonly updatedAt: string;
}

/** Redacted, bounded, single value: what every string of the view goes through. */
function text(value: string): string {
  const clean = redact(value);
  return clean.length > MAX_TEXT ? `${clean.slice(0, MAX_TEXT)}…` : clean;
}

function optionalText(value: string | undefined): string | null {
  return value === undefined ? null : text(value);
}

function texts(values: readonly string[] | undefined): string[] {
  return (values ?? []).slice(0, MAX_ITEMS).map(text);
}

/**
 * A repository URL for display: redacted by pattern, and over http(s) without any user part (a
 * token given as the user name, `https://<token>@host/...`, has no pattern to recognise it by).
 */
export function displayRepoUrl(url: string): string {
  return text(url.replace(/^(https?:\/\/)[^/@\s]*@/i, '$1[REDACTED]@'));
}

/** Only http(s) links are ever made clickable: a `javascript:` URL in a record stays text. */
function webUrl(url: string | undefined): string | null {
  if (url === undefined || !/^https?:\/\//i.test(url)) return null;
  try {
    const parsed = new URL(url);
    return parsed.username === '' && parsed.password === '' ? parsed.href : null;
  } catch {
    return null;
  }
}

/** GitHub-compatible forges put commits next to pull requests: `.../pull/7` -> `.../commit/<sha>`. */
function commitUrl(prUrl: string | null, sha: string): string | null {
  const base = prUrl?.match(/^(https?:\/\/[^?#]+)\/pull\/\d+$/)?.[1];
  return base === undefined ? null : `${base}/commit/${sha}`;
}

export function incidentView(record: IncidentRecord): IncidentView {
  const d = record.details;
  const current = record.conditions.at(-1);
  const prUrl = webUrl(d.pr?.url);
  const revertSha = d.revert?.sha ?? null;
  return {
    id: record.id,
    condition: current?.type ?? 'Detected',
    final: current !== undefined && isTerminal(current.type),
    app: { engine: record.app.engine, namespace: record.app.namespace, name: record.app.name },
    badRevision: record.badRevision,
    goodRevision: record.goodRevision ?? null,
    trigger: d.trigger,
    dryRun: d.dryRun,
    requestedBy: optionalText(d.requestedBy),
    health:
      d.healthReason === undefined && d.healthMessage === undefined
        ? null
        : { reason: text(d.healthReason ?? ''), message: text(d.healthMessage ?? '') },
    source: d.source ? { url: displayRepoUrl(d.source.url), branch: text(d.source.branch) } : null,
    culprit:
      record.culprit === undefined
        ? null
        : {
            sha: record.culprit,
            subject: optionalText(d.culpritSubject),
            rule: optionalText(d.culpritRule),
            confidence: optionalText(d.confidence),
            rangeCommits: d.rangeCommits ?? null,
            url: commitUrl(prUrl, record.culprit),
          },
    templateChanges: texts(d.templateChanges),
    revert: d.revert
      ? {
          kind: text(d.revert.kind),
          sha: revertSha,
          paths: texts(d.revert.paths),
          url: revertSha === null ? null : commitUrl(prUrl, revertSha),
        }
      : null,
    pullRequest: d.pr ? { number: d.pr.number, url: prUrl, branch: text(d.pr.branch) } : null,
    merge: d.merge
      ? { sha: d.merge.sha, method: d.merge.method ?? null, url: commitUrl(prUrl, d.merge.sha) }
      : null,
    verification: (d.verification ?? []).slice(0, MAX_ITEMS).map((v) => ({
      namespace: text(v.namespace),
      name: text(v.name),
      state: text(v.state),
      reasons: texts(v.reasons),
    })),
    warnings: texts(d.warnings),
    timeline: record.conditions.slice(-MAX_ITEMS).map((c) => ({
      type: c.type,
      reason: text(c.reason),
      message: text(c.message),
      at: c.at,
    })),
    timingsMs: stageTimings(record),
    updatedAt: record.updatedAt,
  };
}
