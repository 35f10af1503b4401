// The pull-request path of a rollback: push the revert to Rewind's branch, find-or-create the PR
// (one PR per culprit: a second failing app joins the open PR of the same culprit), then merge it
// when policy allows, or wait for a person. Every step looks first (the PR found by its branch or by
// the hidden marker in its body, comments found by their marker), so a retry after a crash or a
// lost answer adds nothing twice.
import { appLabel, type AppRef } from '../domain/app-ref.ts';
import {
  buildRollbackMarker,
  parseRollbackMarkers,
  revertBranchFor,
  type RollbackMarker,
} from '../domain/branch.ts';
import { type CommitSha, parseCommitSha, shortSha } from '../domain/commit-sha.ts';
import { isCovered } from '../git/path-closure.ts';
import type { Forge, PullRequest } from '../forge/port.ts';
import type { CandidateCommit, CulpritOutcome } from '../git/culprit.ts';
import type { RevertOutcome } from '../git/revert.ts';
import type { RevertPushInput } from '../git/rollback-git.ts';
import type { IncidentRecorder } from './incident-recorder.ts';
import { optionalCall } from './optional-call.ts';
import type { GitPort, Logger } from './ports.ts';

export type CrashPoint =
  'after-push' | 'before-reconcile' | 'after-branch-push' | 'after-pr-created' | 'after-pr' | 'after-merge';

export interface FailingAppText {
  readonly label: string;
  readonly reason: string;
  readonly message: string;
}

export interface PullRequestContent {
  readonly incidentId: string;
  readonly apps: readonly FailingAppText[];
  readonly culprit: { readonly sha: string; readonly subject: string; readonly author?: string };
  readonly rule: string;
  readonly confidence: string;
  readonly range: { readonly good: string; readonly bad: string; readonly candidates: number };
  readonly templateChanges: readonly string[];
  readonly plan: 'auto-merge' | 'propose';
  readonly revertSha: string;
  /** Who asked for this rollback, where and why (manual and ChatOps rollbacks). */
  readonly requestedBy?: string;
}

/** Everything Rewind writes on a pull request; rendered by src/forge/pr-body.ts. */
export interface PullRequestTexts {
  pullRequest(content: PullRequestContent): { title: string; body: string };
  /** Appended to the body when another app fails on the same culprit; carries that incident's marker. */
  alsoFailing(input: { incidentId: string; culprit: string; app: FailingAppText }): string;
  /** Whether a pull request body (rendered above) already names the app. */
  listsApp(body: string, label: string): boolean;
  refused(input: { incidentId: string; status: number; message: string; expectedSha: string }): {
    marker: string;
    body: string;
  };
  /**
   * The merge or squash commit's title and message when Rewind merges: the PR number and branch,
   * and the trailers of the revert (`Reverts:`, `Rewind-Incident:`), so that the commit that lands on
   * the branch carries Rewind's mark whatever the merge method.
   */
  mergeCommit(input: {
    number: number;
    branch: string;
    title: string;
    method: 'merge' | 'squash' | 'rebase';
    reverts: readonly RollbackMarker[];
  }): { title: string; message: string };
}

export interface ForgeDeps {
  readonly forge: Forge;
  readonly texts: PullRequestTexts;
  readonly mergeMethod: 'merge' | 'squash' | 'rebase';
  readonly labels: readonly string[];
  readonly teamReviewers: readonly string[];
  /** Where optional calls that failed (labels, reviewers, informative comments) are reported. */
  readonly log: Logger;
  /** Fault injection for crash-safety tests. */
  readonly crashPoint?: (name: CrashPoint) => void;
}

export interface OpenInput extends Omit<RevertPushInput, 'dryRun'> {
  readonly app: AppRef;
  readonly culprit: CandidateCommit;
  readonly located: Extract<CulpritOutcome, { kind: 'found' }>;
  readonly failingAppsDetail: readonly FailingAppText[];
  readonly plan: 'auto-merge' | 'propose';
  readonly manual: boolean;
}

export type OpenOutcome =
  | { kind: 'opened'; pr: PullRequest }
  | { kind: 'needs-human'; reason: string; message: string }
  | { kind: 'stopped'; result: { kind: 'stopped'; condition: 'Ignored' | 'Superseded'; reason: string } };

/** How a fix-forward stops an incident: the commits people pushed after the bad revision, named. */
export function fixForwardMessage(commits: readonly CandidateCommit[], bad: string, when: string): string {
  const named = commits
    .slice(0, 5)
    .map((c) => `${shortSha(c.sha)} "${c.subject}"${c.authorName ? ` by ${c.authorName}` : ''}`)
    .join(', ');
  const more = commits.length > 5 ? ` and ${commits.length - 5} more` : '';
  return `Someone is fixing forward: ${named}${more} changed the app after the bad revision ${bad.slice(0, 7)}; Rewind leaves it to them (${when}). If that change fails too, Rewind handles it as a new incident.`;
}

async function recordPullRequest(rec: IncidentRecorder, pr: PullRequest, reason: string): Promise<void> {
  await rec.details({ pr: { number: pr.number, url: pr.url, branch: pr.headBranch } });
  await rec.to('PullRequestOpened', reason, `Pull request #${pr.number} (${pr.url}) proposes the revert.`);
}

/** Records a revert commit that is on the remote (pushed now, or found from an earlier attempt). */
export async function recordRevertPushed(
  rec: IncidentRecorder,
  pushed:
    | { readonly kind: 'pushed'; readonly sha: string; readonly revert: RevertOutcome }
    | { readonly kind: 'already-pushed'; readonly sha: string },
  message: string,
): Promise<void> {
  await rec.details({
    revert:
      pushed.kind === 'pushed'
        ? {
            kind: pushed.revert.kind,
            sha: pushed.sha,
            ...('paths' in pushed.revert ? { paths: pushed.revert.paths } : {}),
          }
        : { kind: rec.record.details.revert?.kind ?? 'reverted', sha: pushed.sha },
  });
  await rec.to('RevertPrepared', pushed.kind === 'pushed' ? pushed.revert.kind : 'AlreadyPushed', message);
}

export interface JoinInput {
  readonly app: AppRef;
  readonly url: string;
  readonly branch: string;
  readonly culprit: CommitSha;
  /** This app's path closure (what of the culprit must be reverted for it). */
  readonly failingPaths: readonly string[];
  /** How this app failing reads in the pull request. */
  readonly self: FailingAppText;
  /** The pull request recorded for this culprit (CulpritClaims), if any. */
  readonly claimed?: number | undefined;
  /**
   * Under the culprit's lock, joining may add the app to the PR body (edits of one body must not
   * race) and looks for a merged revert on the branch (a fetch). Without the lock, only the recorded
   * PR and the open PRs that already name the app are joined: reads of caches and the forge.
   */
  readonly underLock: boolean;
}

/**
 * One culprit, one pull request: the revert of this culprit that another incident already proposed
 * (an open Rewind PR carrying the culprit's marker) or already merged (a Rewind revert on the branch)
 * takes this incident in, or undefined when there is none. Joining writes to the forge only when
 * the PR does not name the app yet, so a storm of incidents of one commit costs one PR, not one edit
 * per app.
 */
export async function joinSharedRevert(
  deps: ForgeDeps,
  git: GitPort,
  rec: IncidentRecorder,
  input: JoinInput,
): Promise<OpenOutcome | undefined> {
  if (input.claimed !== undefined) {
    const joined = await joinPullRequest(
      deps,
      git,
      rec,
      input,
      await deps.forge.getPullRequest(input.claimed),
    );
    if (joined) return joined;
  }
  for (const pr of await deps.forge.listOpenRewindPullRequests()) {
    const joined = await joinPullRequest(deps, git, rec, input, pr);
    if (joined) return joined;
  }
  return input.underLock ? linkMergedRevert(deps, git, rec, input) : undefined;
}

/** Joins `pr` when it is another incident's Rewind PR of this culprit, open or merged. */
export async function joinPullRequest(
  deps: ForgeDeps,
  git: GitPort,
  rec: IncidentRecorder,
  input: JoinInput,
  pr: PullRequest,
): Promise<OpenOutcome | undefined> {
  const culprit = input.culprit;
  // This incident's own PR (its branch), found again after a crash or a lost answer, is not one to
  // join: joining it would leave the incident waiting for an owner that is itself.
  if (pr.headBranch === revertBranchFor(input.app, culprit)) return undefined;
  const markers = parseRollbackMarkers(pr.body);
  if (!markers.some((m) => m.culprit === culprit)) return undefined;
  if (pr.merged) return linkMerged(rec, pr, pr.mergeCommitSha ?? pr.headSha, culprit);
  if (pr.state !== 'open') return undefined;
  if (!markers.some((m) => m.incident === rec.record.id)) {
    // Join only if that PR's revert already covers this app's files in the culprit: Rewind does
    // not widen another incident's pull request behind its reviewers' backs.
    const culpritFiles = await git.filesChangedBy(input.url, culprit);
    const reverted = new Set(await git.filesChangedBy(input.url, parseCommitSha(pr.headSha)));
    const missing = culpritFiles.filter((f) => isCovered(f, input.failingPaths) && !reverted.has(f));
    if (missing.length > 0) {
      return {
        kind: 'needs-human',
        reason: 'NotCoveredByPullRequest',
        message: `Pull request #${pr.number} reverts ${shortSha(culprit)} for other apps but not ${appLabel(input.app)}'s files (${missing.join(', ')}). Widen that PR or revert these files by hand.`,
      };
    }
    if (!deps.texts.listsApp(pr.body, input.self.label)) {
      if (!input.underLock) return undefined;
      await announceJoin(deps, rec, pr, input);
    }
  }
  return linkTo(
    rec,
    pr,
    { kind: 'joined', sha: pr.headSha },
    'JoinedPullRequest',
    `The revert of ${shortSha(culprit)} is already proposed in #${pr.number}.`,
  );
}

/** Links the incident to a merged Rewind PR that reverted its culprit for another app. */
function linkMerged(
  rec: IncidentRecorder,
  pr: PullRequest,
  sha: string,
  culprit: string,
): Promise<OpenOutcome> {
  return linkTo(
    rec,
    pr,
    { kind: 'shared', sha },
    'AlreadyReverted',
    `${sha.slice(0, 7)} already reverts ${culprit.slice(0, 7)} for another app (#${pr.number}).`,
  );
}

/** Records another incident's PR as this incident's revert: RevertPrepared, then PullRequestOpened. */
async function linkTo(
  rec: IncidentRecorder,
  pr: PullRequest,
  revert: { kind: 'joined' | 'shared'; sha: string },
  reason: 'JoinedPullRequest' | 'AlreadyReverted',
  message: string,
): Promise<OpenOutcome> {
  await rec.details({ revert });
  await rec.to('RevertPrepared', reason, message);
  await recordPullRequest(rec, pr, 'JoinedPullRequest');
  return { kind: 'opened', pr };
}

/** Adds a late app to the PR body (with its incident's marker) and tells the reviewers once. */
async function announceJoin(
  deps: ForgeDeps,
  rec: IncidentRecorder,
  pr: PullRequest,
  input: JoinInput,
): Promise<void> {
  const { forge } = deps;
  const culprit = input.culprit;
  await forge.updatePullRequestBody(
    pr.number,
    pr.body + deps.texts.alsoFailing({ incidentId: rec.record.id, culprit, app: input.self }),
  );
  await optionalCall(deps.log, `comment on #${pr.number} that ${appLabel(input.app)} joined`, () =>
    forge.ensureComment(
      pr.number,
      `<!-- rewind:joined=${rec.record.id} -->`,
      `<!-- rewind:joined=${rec.record.id} -->\n${appLabel(input.app)} fails on the same commit ${shortSha(culprit)} (${input.self.reason}); this pull request reverts it for both.`,
    ),
  );
}

/**
 * The culprit is already reverted on the branch by a Rewind pull request that another incident of
 * the same commit merged: this incident follows that PR (as the direct-push path carries on from an
 * earlier revert) instead of building an empty revert of its own.
 */
async function linkMergedRevert(
  deps: ForgeDeps,
  git: GitPort,
  rec: IncidentRecorder,
  input: JoinInput,
): Promise<OpenOutcome | undefined> {
  const culprit = input.culprit;
  const earlier = await git.revertOf(input.url, input.branch, culprit);
  if (!earlier) return undefined;
  const number = pullRequestNumberIn(await git.commitMessage(input.url, earlier));
  const pr = number === undefined ? undefined : await deps.forge.getPullRequest(number);
  // Only a merged Rewind PR of this very culprit counts; anything else is left to the normal path.
  if (!pr?.merged || !parseRollbackMarkers(pr.body).some((m) => m.culprit === culprit)) return undefined;
  return linkMerged(rec, pr, earlier, culprit);
}

/** The PR number Rewind's merge commit names: GitHub's merge title, or the squash title's "(#N)". */
export function pullRequestNumberIn(message: string): number | undefined {
  const subject = message.split('\n')[0] ?? '';
  const found =
    /^Merge pull request #(\d+) /.exec(subject) ??
    /\(#(\d+)\)$/.exec(subject) ??
    /^Rewind merges pull request #(\d+) /m.exec(message);
  return found ? Number(found[1]) : undefined;
}

export async function openPullRequest(
  deps: ForgeDeps,
  git: GitPort,
  rec: IncidentRecorder,
  input: OpenInput,
): Promise<OpenOutcome> {
  const { forge } = deps;
  const culprit = input.culprit.sha;

  const prBranch = revertBranchFor(input.app, culprit);
  // Asked again under the culprit's lock: another incident may have opened or merged it meanwhile.
  const joined = await joinSharedRevert(deps, git, rec, {
    ...input,
    culprit,
    self: input.failingAppsDetail[0]!,
    underLock: true,
  });
  if (joined) return joined;

  const previous = await forge.findPullRequest(prBranch);
  if (previous?.state === 'closed' && !previous.merged && !input.manual) {
    const result = await rec.stop(
      'Ignored',
      'PullRequestClosed',
      `A person closed Rewind's pull request #${previous.number} for ${shortSha(culprit)} without merging it; Rewind does not retry that culprit automatically (use "rewind rollback" to force it).`,
    );
    return { kind: 'stopped', result: { kind: 'stopped', condition: 'Ignored', reason: result.reason } };
  }

  const pushed = await git.revertAndPushBranch({ ...input, prBranch });
  if (pushed.kind === 'not-pushed') {
    const r = pushed.revert;
    if (r.kind === 'needs-human') {
      return {
        kind: 'needs-human',
        reason: 'RevertConflict',
        message: `${r.message} Conflicting paths: ${r.conflicts.join(', ')}.`,
      };
    }
    return {
      kind: 'needs-human',
      reason: 'NothingToRevert',
      message: 'message' in r ? r.message : 'nothing to revert',
    };
  }
  if (pushed.kind === 'gave-up') throw new Error(pushed.message);
  if (pushed.kind === 'superseded') {
    const stopped = await rec.stop(
      'Superseded',
      'FixForward',
      fixForwardMessage(pushed.commits, input.bad, 'checked before pushing the revert branch'),
    );
    return { kind: 'stopped', result: { kind: 'stopped', condition: 'Superseded', reason: stopped.reason } };
  }
  await recordRevertPushed(
    rec,
    pushed,
    `Revert ${shortSha(pushed.sha)} of ${shortSha(culprit)} pushed to ${prBranch}.`,
  );
  deps.crashPoint?.('after-branch-push');

  // Only to name the author and ask them to review.
  const author = await optionalCall(deps.log, 'find the culprit author on the forge', () =>
    forge.loginForEmail(input.culprit.authorEmail),
  );
  const { title, body } = deps.texts.pullRequest({
    incidentId: rec.record.id,
    apps: input.failingAppsDetail,
    culprit: {
      sha: culprit,
      subject: input.culprit.subject,
      ...(author ? { author } : { author: input.culprit.authorName }),
    },
    rule: input.located.rule,
    confidence: input.located.confidence,
    range: {
      good: input.good ?? '',
      bad: rec.record.badRevision,
      candidates: input.located.candidates.length,
    },
    templateChanges: rec.record.details.templateChanges ?? [],
    plan: input.plan,
    revertSha: pushed.sha,
    ...(rec.record.details.requestedBy ? { requestedBy: rec.record.details.requestedBy } : {}),
  });
  const ensured = await forge.ensurePullRequest({
    branch: prBranch,
    base: input.branch,
    title,
    body: body.includes(buildRollbackMarker({ incident: rec.record.id, culprit }))
      ? body
      : `${body}\n${buildRollbackMarker({ incident: rec.record.id, culprit })}`,
    labels: deps.labels,
    reviewers: author ? [author] : [],
    teamReviewers: deps.teamReviewers,
  });
  deps.crashPoint?.('after-pr-created');
  await recordPullRequest(rec, ensured.pr, ensured.outcome === 'created' ? 'Created' : 'AlreadyExisted');
  return { kind: 'opened', pr: ensured.pr };
}

export type AdvanceOutcome =
  | { kind: 'merged'; sha: string }
  | { kind: 'waiting-for-merge'; pullRequest: number }
  | { kind: 'stopped'; condition: 'Ignored' | 'NeedsHuman' | 'Superseded'; reason: string };

/** Follows an open PR: merged -> Merged; closed -> Ignored; open -> merge (auto-merge) or wait (propose). */
export async function advancePullRequest(
  deps: ForgeDeps,
  rec: IncidentRecorder,
  policy: {
    mode: 'auto-merge' | 'propose' | 'observe';
    reviewTimeoutMs?: number;
    /** People's commits to the failing apps after the bad revision; asked right before merging. */
    fixForward?: () => Promise<readonly CandidateCommit[]>;
  },
): Promise<AdvanceOutcome> {
  const number = rec.record.details.pr!.number;
  const pr = await deps.forge.getPullRequest(number);
  if (pr.merged) {
    const sha = pr.mergeCommitSha ?? pr.headSha;
    if (pr.mergeCommitSha) await rec.details({ merge: { sha: pr.mergeCommitSha } });
    await rec.to('Merged', 'PullRequestMerged', `Pull request #${number} was merged (${sha.slice(0, 7)}).`);
    return { kind: 'merged', sha };
  }
  if (pr.state === 'closed') {
    const stopped = await rec.stop(
      'Ignored',
      'PullRequestClosed',
      `Pull request #${number} was closed without merging; Rewind leaves this culprit alone.`,
    );
    return { kind: 'stopped', condition: 'Ignored', reason: stopped.reason };
  }
  // An incident that joined another's pull request follows it; the owner merges (per the policies
  // of every app it reverts) or a person does.
  const joined = rec.record.details.revert?.kind === 'joined';
  if (policy.mode !== 'auto-merge' || joined) {
    const openedAt = rec.record.conditions.find((c) => c.type === 'PullRequestOpened')?.at;
    if (
      policy.reviewTimeoutMs !== undefined &&
      openedAt &&
      Date.now() - Date.parse(openedAt) > policy.reviewTimeoutMs
    ) {
      const stopped = await rec.stop(
        'NeedsHuman',
        'ReviewTimeout',
        `Pull request #${number} has waited longer than policy.reviewTimeout for a person. It stays open; merging it still rolls back (Rewind follows the merge), closing it drops the rollback.`,
      );
      return { kind: 'stopped', condition: 'NeedsHuman', reason: stopped.reason };
    }
    return { kind: 'waiting-for-merge', pullRequest: number };
  }

  const later = (await policy.fixForward?.()) ?? [];
  if (later.length > 0) {
    const message = fixForwardMessage(later, rec.record.badRevision, 'checked before merging');
    const marker = `<!-- rewind:fix-forward incident=${rec.record.id} -->`;
    await deps.forge.ensureComment(
      number,
      marker,
      `${marker}\nRewind did not merge this pull request. ${message} Merge it by hand if it is still wanted, or close it.`,
    );
    const stopped = await rec.stop('Superseded', 'FixForward', message);
    return { kind: 'stopped', condition: 'Superseded', reason: stopped.reason };
  }
  // Rewind writes the merge/squash commit's message itself: GitHub's squash default can be the PR
  // title alone (no trailer), and Rewind must know that commit as its own in a later incident.
  // Rebase ignores it on GitHub; the rebased revert keeps its own trailers.
  const markers = parseRollbackMarkers(pr.body);
  const reverts = markers.some((m) => m.incident === rec.record.id)
    ? markers
    : rec.record.culprit === undefined
      ? markers
      : [...markers, { incident: rec.record.id, culprit: rec.record.culprit }];
  const commit = deps.texts.mergeCommit({
    number,
    branch: pr.headBranch,
    title: pr.title,
    method: deps.mergeMethod,
    reverts,
  });
  const merge = await deps.forge.mergePullRequest(number, {
    sha: pr.headSha,
    method: deps.mergeMethod,
    title: commit.title,
    message: commit.message,
  });
  if (merge.outcome === 'refused') {
    const refused = deps.texts.refused({
      incidentId: rec.record.id,
      status: merge.status,
      message: merge.message,
      expectedSha: pr.headSha,
    });
    // The incident records the refusal below either way; the comment only tells the reviewers.
    await optionalCall(deps.log, `comment on #${number} that the merge was refused`, () =>
      deps.forge.ensureComment(number, refused.marker, refused.body),
    );
    const stopped = await rec.stop(
      'NeedsHuman',
      'MergeRefused',
      `The forge refused to merge #${number} (${merge.status}: ${merge.message}). The pull request stays open for a person to merge.`,
    );
    return { kind: 'stopped', condition: 'NeedsHuman', reason: stopped.reason };
  }
  // The commit that landed, recorded: one more durable mark of Rewind's own commits.
  if (merge.sha) await rec.details({ merge: { sha: merge.sha, method: deps.mergeMethod } });
  deps.crashPoint?.('after-merge');
  await rec.to('Merged', 'AutoMerged', `Merged pull request #${number} (${merge.sha.slice(0, 7)}).`);
  return { kind: 'merged', sha: merge.sha };
}
