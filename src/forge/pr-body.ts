// Pure rendering of what Rewind writes on a forge: the revert pull request (title + body) and the
// comments it posts later (verification result, merge refused). Same input -> same text, so
// re-ensuring a pull request never flaps; every free-text field is scrubbed of credentials and of
// anything that could fake Rewind's hidden markers or ping people.
import { GITHUB_MAX_BODY_CHARS, buildRollbackMarker } from '../domain/branch.ts';
import { type CommitSha, shortSha } from '../domain/commit-sha.ts';
import { codeSpan, markdownLine, plainLine } from '../domain/outbound-text.ts';
import type { FailingAppText } from '../pipeline/pull-request.ts';
import { INCIDENT_ID_PATTERN } from '../domain/incident.ts';
import { InvalidInputError } from '../domain/errors.ts';

export { GITHUB_MAX_BODY_CHARS };
/** GitHub rejects titles longer than this. */
export const GITHUB_MAX_TITLE_CHARS = 256;

/** A failing app as the pipeline describes it (`namespace/name`, engine reason, message). */
export type FailingAppSummary = FailingAppText;

export interface RollbackPullRequestInput {
  readonly incidentId: string;
  readonly apps: readonly FailingAppSummary[];
  readonly culprit: { readonly sha: CommitSha; readonly subject: string; readonly author?: string };
  /** The rule that found the culprit (`single-commit`, `pickaxe`, `range`). */
  readonly rule: string;
  readonly confidence: 'high' | 'medium' | 'low';
  readonly range: { readonly good: string; readonly bad: string; readonly candidates: number };
  /** Human lines describing how the bad pod template differs from the last good one. */
  readonly templateChanges: readonly string[];
  readonly plan: 'auto-merge' | 'propose';
  readonly revertSha: string;
  /** Who asked (a person, through `rewind rollback` or ChatOps), where and why. */
  readonly requestedBy?: string;
}

const RULES: Readonly<Record<string, string>> = {
  'single-commit': 'it is the only commit in the range that touches the app’s paths',
  pickaxe:
    'it introduced the value that changed between the last good and the bad pod template (`git log -S`)',
  range: 'no single commit could be singled out, so the whole range is reverted, newest first',
};

/** Apps listed with their reason and message; the rest are named only, within a character budget. */
const MAX_APPS = 20;
/** Room for the names of the other apps of a storm (GitHub caps a body at 65,536 characters). */
const MAX_NAMED_APPS_CHARS = 24_000;
const MAX_CHANGES = 50;

/** A SHA as a code span: short when it is a full one, else (never expected) as given, made inert. */
function short(sha: string): string {
  return codeSpan(/^[0-9a-f]{40}$/.test(sha) ? shortSha(sha as CommitSha) : sha, 64);
}

function distinctSortedApps(apps: readonly FailingAppSummary[]): FailingAppSummary[] {
  const byLabel = new Map<string, FailingAppSummary>();
  for (const app of apps) if (!byLabel.has(app.label)) byLabel.set(app.label, app);
  return [...byLabel.values()].sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
}

function assertIncidentId(incidentId: string): void {
  if (!INCIDENT_ID_PATTERN.test(incidentId)) {
    throw new InvalidInputError(`Invalid incident id "${incidentId.slice(0, 80)}" for a forge marker.`);
  }
}

/**
 * Keeps `text` within `max` characters; when it must cut, it cuts the middle part and always keeps
 * `footer` (which carries the marker) whole.
 */
function capped(text: string, footer: string, max: number): string {
  const note = '\n\n_(truncated: the full report is in `rewind status`)_\n\n';
  if (text.length + footer.length <= max) return text + footer;
  return text.slice(0, Math.max(0, max - footer.length - note.length)) + note + footer;
}

/** `Revert "<culprit subject>" (rewind: <app>)`, capped at GitHub's title limit. */
export function renderPullRequestTitle(input: Pick<RollbackPullRequestInput, 'apps' | 'culprit'>): string {
  const apps = distinctSortedApps(input.apps);
  const first = apps[0];
  const suffix =
    first === undefined
      ? ''
      : ` (rewind: ${plainLine(first.label, 120)}${apps.length > 1 ? ` +${apps.length - 1}` : ''})`;
  // Titles are plain text: the subject stays as written, apart from credentials and unprintables.
  const subject = plainLine(input.culprit.subject, GITHUB_MAX_TITLE_CHARS);
  const room = GITHUB_MAX_TITLE_CHARS - 'Revert ""'.length - suffix.length;
  const fitted = subject.length > room ? `${subject.slice(0, Math.max(0, room - 1))}…` : subject;
  return `Revert "${fitted}"${suffix}`;
}

/** How a body names an app (in the list, the storm summary, or an "also failing" section). */
export function appName(label: string): string {
  return `**${markdownLine(label, 200)}**`;
}

/** The apps of a storm beyond the detailed ones, by name, then a count of any that did not fit. */
function namedOnly(apps: readonly FailingAppSummary[]): string[] {
  const names: string[] = [];
  let chars = 0;
  for (const app of apps) {
    const name = appName(app.label);
    if (chars + name.length + 2 > MAX_NAMED_APPS_CHARS) break;
    names.push(name);
    chars += name.length + 2;
  }
  const rest = apps.length - names.length;
  return [`- Also failing (${apps.length}): ${names.join(', ')}${rest > 0 ? `, … and ${rest} more` : ''}`];
}

/** The pull request body; ends with the hidden marker that identifies the rollback. */
export function renderPullRequestBody(input: RollbackPullRequestInput): string {
  const marker = buildRollbackMarker({ incident: input.incidentId, culprit: input.culprit.sha });
  const apps = distinctSortedApps(input.apps);
  const lines: string[] = [];

  if (input.requestedBy !== undefined)
    lines.push('## Requested by', '', markdownLine(input.requestedBy, 600), '');
  lines.push('## What failed', '');
  for (const app of apps.slice(0, MAX_APPS)) {
    lines.push(`- ${appName(app.label)}: ${codeSpan(app.reason, 100)}: ${markdownLine(app.message, 1_000)}`);
  }
  if (apps.length > MAX_APPS) lines.push(...namedOnly(apps.slice(MAX_APPS)));
  if (apps.length === 0) lines.push('- (no app recorded)');

  const author = input.culprit.author === undefined ? '' : ` by ${markdownLine(input.culprit.author, 200)}`;
  lines.push(
    '',
    '## The culprit',
    '',
    `\`${shortSha(input.culprit.sha)}\` (${input.culprit.sha}) “${markdownLine(input.culprit.subject, 500)}”${author}.`,
    '',
    `Found by rule **${markdownLine(input.rule, 50)}** with **${markdownLine(input.confidence, 10)}** confidence: ${
      RULES[input.rule] ?? 'see the incident report'
    }.`,
  );

  const n = input.range.candidates;
  lines.push(
    '',
    '## Range considered',
    '',
    `${short(input.range.good)}..${short(input.range.bad)} (last good..bad): ${n} candidate commit${
      n === 1 ? '' : 's'
    } touching the app’s paths.`,
  );

  const changes = [...new Set(input.templateChanges)];
  lines.push('', '## Pod template: last good vs bad', '');
  if (changes.length === 0)
    lines.push('No difference recorded between the last good and the bad pod template.');
  for (const change of changes.slice(0, MAX_CHANGES)) lines.push(`- ${markdownLine(change, 500)}`);
  if (changes.length > MAX_CHANGES) lines.push(`- … and ${changes.length - MAX_CHANGES} more`);

  lines.push('', '## Plan', '');
  const revert = `the revert commit ${short(input.revertSha)}`;
  if (input.plan === 'auto-merge') {
    lines.push(
      `Rewind merges this pull request now (only while its head is still ${revert}), asks the GitOps ` +
        'engine to reconcile at once, and reports here when the cluster is back on the last good ReplicaSet.',
    );
  } else {
    lines.push(
      `Waiting for review: Rewind does not merge this pull request. Review ${revert} and merge it to ` +
        'roll back; Rewind then asks the GitOps engine to reconcile and reports here when the cluster has converged.',
    );
  }

  lines.push(
    '',
    '## How to stop it',
    '',
    '- Close this pull request: Rewind will not reopen it or open another one for this culprit.',
    '- Or add the label `rewind/hold`: Rewind leaves the pull request alone until the label is removed.',
    '- Or set `policy.paused: true` in rewind.yaml to pause every automatic rollback.',
  );

  const footer = `\n\n${marker}\n`;
  return capped(lines.join('\n'), footer, GITHUB_MAX_BODY_CHARS);
}

/** Hidden marker of the verification-result comment of one incident. */
export function resultCommentMarker(incidentId: string): string {
  assertIncidentId(incidentId);
  return `<!-- rewind:result incident=${incidentId} -->`;
}

/** Hidden marker of the merge-refused comment of one incident. */
export function refusedCommentMarker(incidentId: string): string {
  assertIncidentId(incidentId);
  return `<!-- rewind:merge-refused incident=${incidentId} -->`;
}

export interface StageTiming {
  /** `detect`, `locate`, `pr`, `merge`, `applied`, `converged`. */
  readonly stage: string;
  readonly seconds: number;
}

export type VerificationResultInput =
  | {
      readonly outcome: 'converged';
      readonly incidentId: string;
      readonly stages: readonly StageTiming[];
      /** E.g. converged on a different but healthy template. */
      readonly warnings?: readonly string[];
    }
  | {
      readonly outcome: 'failed';
      readonly incidentId: string;
      readonly reason: string;
      readonly evidence: readonly string[];
      readonly stages: readonly StageTiming[];
    };

function stageTable(stages: readonly StageTiming[]): string[] {
  if (stages.length === 0) return [];
  return [
    '',
    '| stage | seconds |',
    '|---|---:|',
    ...stages.map(
      (s) => `| ${markdownLine(s.stage, 50)} | ${Number.isFinite(s.seconds) ? s.seconds.toFixed(1) : '?'} |`,
    ),
  ];
}

/** The comment reporting whether the cluster converged after the revert. */
export function renderResultComment(input: VerificationResultInput): string {
  const lines: string[] = [];
  if (input.outcome === 'converged') {
    lines.push('### Rewind: converged', '', 'The cluster is back on the last good version.');
    lines.push(...stageTable(input.stages));
    const warnings = input.warnings ?? [];
    if (warnings.length > 0)
      lines.push('', '**Warnings**', '', ...warnings.slice(0, 50).map((w) => `- ${markdownLine(w, 1_000)}`));
  } else {
    lines.push(
      '### Rewind: verification failed',
      '',
      `${markdownLine(input.reason, 1_000)}`,
      '',
      'Rewind stops here; a person should look at the evidence below, fix the cluster or revert by hand.',
      '',
      '**Evidence**',
      '',
      ...(input.evidence.length === 0
        ? ['- (none recorded)']
        : input.evidence.slice(0, 100).map((e) => `- ${markdownLine(e, 1_000)}`)),
    );
    lines.push(...stageTable(input.stages));
  }
  return capped(lines.join('\n'), `\n\n${resultCommentMarker(input.incidentId)}\n`, GITHUB_MAX_BODY_CHARS);
}

export interface MergeRefusedInput {
  readonly incidentId: string;
  /** The forge's HTTP status (405 not mergeable, 409 head moved, 422 invalid). */
  readonly status: number;
  readonly message: string;
  /** The head Rewind expected (its revert commit). */
  readonly expectedSha: string;
}

function refusedAdvice(status: number, expectedSha: string): string {
  if (status === 409) {
    return `The branch no longer ends at Rewind's revert commit ${short(expectedSha)}: someone pushed to it. Review the new commits, then merge by hand; Rewind verifies the rollback once the merge lands.`;
  }
  if (status === 405) {
    return 'Branch protection or required checks/reviews block the merge. Approve the pull request or wait for the checks, then merge it by hand; Rewind verifies the rollback once the merge lands.';
  }
  return 'Check the pull request on the forge, then merge it by hand (Rewind verifies the rollback once the merge lands), or close it to give up on this rollback.';
}

/** The comment explaining why Rewind could not merge and what a person should do. */
export function renderRefusedComment(input: MergeRefusedInput): string {
  const lines = [
    '### Rewind: merge refused',
    '',
    `The forge refused the merge (HTTP ${input.status}): ${markdownLine(input.message, 1_000)}`,
    '',
    `**What to do:** ${refusedAdvice(input.status, input.expectedSha)}`,
  ];
  return capped(lines.join('\n'), `\n\n${refusedCommentMarker(input.incidentId)}\n`, GITHUB_MAX_BODY_CHARS);
}
