// What Rewind tells the outside world when an incident is Detected, needs a person, converged or
// failed: one documented JSON shape (the generic webhook's body, docs/notifications.md) and the
// text a chat message shows. Built from the incident record only (redacted when written); its free
// text is redacted and made printable again here, as every outbound text is, and the chat text
// escapes it for Slack (a commit subject cannot carry `<!channel>` or a disguised link).
import { appLabel, type AppRef } from '../domain/app-ref.ts';
import { type ConditionType, stageTimings } from '../domain/incident.ts';
import { cleanText, codeSpan, slackLine } from '../domain/outbound-text.ts';
import type { IncidentRecord } from '../pipeline/incident-record.ts';

/** The conditions announced; the other terminal ones (Superseded, Ignored) only get an Event. */
export const ANNOUNCED_CONDITIONS = ['Detected', 'NeedsHuman', 'Converged', 'Failed'] as const;
export type AnnouncedCondition = (typeof ANNOUNCED_CONDITIONS)[number];

export function isAnnounced(type: ConditionType): type is AnnouncedCondition {
  return (ANNOUNCED_CONDITIONS as readonly string[]).includes(type);
}

export interface IncidentNotice {
  readonly type: 'rewind.incident';
  readonly version: 1;
  /** `<incident>:<condition>:<index>`: the same transition always has the same key (deduplicate on it). */
  readonly key: string;
  readonly incident: string;
  readonly condition: AnnouncedCondition;
  readonly reason: string;
  readonly message: string;
  /** ISO-8601, when the condition was recorded. */
  readonly at: string;
  readonly app: AppRef;
  readonly badRevision: string;
  readonly culprit: string | null;
  readonly culpritSubject: string | null;
  readonly revert: string | null;
  readonly pullRequest: { readonly number: number; readonly url: string } | null;
  /** Seconds per stage (detect, locate, prepare, pullRequest, merge, reconcileRequest, converge, total). */
  readonly timingsSeconds: Readonly<Record<string, number>>;
  readonly trigger: string;
  readonly dryRun: boolean;
}

/** The notice for the record's current condition, or undefined when that one is not announced. */
export function noticeFor(record: IncidentRecord): IncidentNotice | undefined {
  const index = record.conditions.length - 1;
  const last = record.conditions[index];
  if (!last || !isAnnounced(last.type)) return undefined;
  const timings = Object.fromEntries(
    Object.entries(stageTimings(record)).map(([stage, ms]) => [stage, Math.round(ms) / 1000]),
  );
  const d = record.details;
  return {
    type: 'rewind.incident',
    version: 1,
    key: `${record.id}:${last.type}:${index}`,
    incident: record.id,
    condition: last.type,
    reason: cleanText(last.reason),
    message: cleanText(last.message),
    at: last.at,
    app: { engine: record.app.engine, namespace: record.app.namespace, name: record.app.name },
    badRevision: record.badRevision,
    culprit: record.culprit ?? null,
    culpritSubject: d.culpritSubject === undefined ? null : cleanText(d.culpritSubject),
    revert: d.revert?.sha ?? d.merge?.sha ?? null,
    pullRequest: d.pr ? { number: d.pr.number, url: d.pr.url } : null,
    timingsSeconds: timings,
    trigger: d.trigger,
    dryRun: d.dryRun,
  };
}

const HEADLINE: Readonly<Record<AnnouncedCondition, string>> = {
  Detected: ':warning: Rewind detected a failing change',
  NeedsHuman: ':raising_hand: Rewind needs a person',
  Converged: ':white_check_mark: Rewind rolled back and the app converged',
  Failed: ':x: Rewind could not finish a rollback',
};

/** Slack mrkdwn: headline, app, culprit, PR or revert, why, stage timings. */
export function noticeText(notice: IncidentNotice): string {
  // Every value from the record is untrusted (quoted with slackLine); the pull request link is Rewind's own.
  const lines = [
    `${HEADLINE[notice.condition]}: *${slackLine(appLabel(notice.app), 300)}* (${slackLine(notice.app.engine, 50)})`,
  ];
  const culprit = notice.culprit ?? notice.badRevision;
  lines.push(
    `Culprit: ${codeSpan(culprit.slice(0, 7), 7)}${notice.culpritSubject ? ` ${slackLine(notice.culpritSubject, 120)}` : ''}`,
  );
  if (notice.pullRequest)
    lines.push(`Pull request: <${notice.pullRequest.url}|#${notice.pullRequest.number}>`);
  else if (notice.revert) lines.push(`Revert: ${codeSpan(notice.revert.slice(0, 7), 7)}`);
  lines.push(`${slackLine(notice.reason, 100)}: ${slackLine(notice.message, 1000)}`);
  const timings = Object.entries(notice.timingsSeconds).map(([stage, s]) => `${stage} ${s.toFixed(1)}s`);
  if (timings.length > 0) lines.push(`Timings: ${timings.join(', ')}`);
  lines.push(`Incident ${codeSpan(notice.incident, 200)}${notice.dryRun ? ' (dry run)' : ''}`);
  return lines.join('\n');
}
