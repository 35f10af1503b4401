// Step 7 (forge): act through a pull request: push Rewind's branch, find-or-create the PR (or join
// the open one of the same culprit), then merge per policy or wait for a person. Also follows a PR
// that exists already (after a crash, a webhook, or a person's merge after a refusal).
import { releaseHold, type RollbackContext, type RollbackResult, supersededByPeople } from './context.ts';
import { appLabel } from '../../domain/app-ref.ts';
import { parseRollbackMarkers } from '../../domain/branch.ts';
import { type CommitSha, shortSha } from '../../domain/commit-sha.ts';
import { isCovered } from '../../git/path-closure.ts';
import {
  advancePullRequest,
  joinPullRequest,
  joinSharedRevert,
  type OpenOutcome,
  openPullRequest,
} from '../pull-request.ts';
import type { LocatedCulprit } from './locate.ts';
import { planRevert, serialisedByCulprit } from './plan.ts';
import { requestApply } from './request-apply.ts';

/**
 * One culprit, one pull request. The revert another incident of this culprit already proposed or
 * merged takes this incident in: first without the culprit's lock (the PR recorded for the culprit,
 * or an open one that names the app), so that the incidents of a storm join in parallel; else under
 * the lock, where the first incident plans (looking at every other app on the source) and opens the
 * PR for all of them, and the others, once it is there, join it.
 */
export async function actByPullRequest(
  ctx: RollbackContext,
  located: LocatedCulprit,
): Promise<RollbackResult> {
  const { deps, rec, source } = ctx;
  const culprit = located.found.commits[0]!;
  const claims = deps.culpritClaims;
  const claimed = async () => claims?.pullRequestFor(source.key, culprit.sha);
  const join = async (underLock: boolean): Promise<Acted | undefined> => {
    const opened = await joinSharedRevert(ctx.forge!, deps.git, rec, {
      ...joinInput(ctx, { closure: located.closure, culprit }),
      claimed: await claimed(),
      underLock,
    });
    const mode = rec.record.details.prPlan ?? ctx.policy.mode;
    return opened && { opened, mode, failingPaths: located.closure };
  };
  // Only what must not race runs under the lock: the first incident plans and opens the PR; the
  // others, finding it claimed, join after the lock instead of queueing behind each other.
  const acted =
    (await join(false)) ??
    (await serialisedByCulprit(ctx, culprit, async () =>
      (await claimed()) === undefined ? openFor(ctx, located) : undefined,
    )) ??
    (await join(false)) ??
    (await serialisedByCulprit(ctx, culprit, async () => (await join(true)) ?? openFor(ctx, located)));
  return afterOpen(ctx, acted.opened, acted.mode, acted.failingPaths);
}

interface Acted {
  readonly opened: OpenOutcome;
  readonly mode: 'auto-merge' | 'propose' | 'observe';
  readonly failingPaths: readonly string[];
}

/** Plans the revert for every app failing on the culprit and opens (or joins) its one PR. */
async function openFor(ctx: RollbackContext, located: LocatedCulprit): Promise<Acted> {
  const { deps, rec, source } = ctx;
  const plan = await planRevert(ctx, located);
  const opened = await openPullRequest(ctx.forge!, deps.git, rec, {
    ...plan.revert,
    app: ctx.app,
    culprit: plan.culprit,
    located: located.found,
    failingAppsDetail: plan.failingApps,
    plan: plan.prMode === 'auto-merge' ? 'auto-merge' : 'propose',
    manual: ctx.manual,
  });
  if (opened.kind === 'opened') {
    // Found by culprit, and by the bad revision (joinStorm: before any culprit search).
    for (const commit of new Set([plan.culprit.sha, ctx.bad]))
      await deps.culpritClaims?.claim(source.key, commit, opened.pr.number);
  }
  return { opened, mode: plan.prMode, failingPaths: plan.revert.failingPaths };
}

/**
 * An incident storm: one commit broke many apps, and the incident that came first already opened
 * (or merged) the pull request reverting it, recorded for that bad revision. This incident joins it
 * without searching for the culprit: when the bad revision itself is the culprit and the only commit
 * since the last good one, and it touches this app's paths, the search could not find another. All
 * of it is answered from caches (the claim, the commit's files, the closures at that commit), so
 * hundreds of incidents join within seconds. Anything else goes the normal way.
 */
export async function joinStorm(ctx: RollbackContext): Promise<RollbackResult | undefined> {
  const { deps, rec, source, bad } = ctx;
  const claims = deps.culpritClaims;
  const good = rec.record.goodRevision;
  if (!claims || !ctx.forge || !ctx.acting || ctx.manual || !good) return undefined;
  const number = await claims.pullRequestFor(source.key, bad);
  if (number === undefined) return undefined;
  const pr = await ctx.forge.forge.getPullRequest(number);
  if (!parseRollbackMarkers(pr.body).some((m) => m.culprit === bad)) return undefined;
  if ((await deps.git.parentOf(source.url, bad)) !== good) return undefined;
  const [closure = []] = await deps.git.closuresOf(source.url, bad, [source.path]);
  if (!(await deps.git.filesChangedBy(source.url, bad)).some((f) => isCovered(f, closure))) return undefined;
  await rec.details({ culpritRule: 'single-commit', confidence: 'high', rangeCommits: 1 });
  await rec.to(
    'Located',
    'single-commit',
    `${shortSha(bad)} is the only commit since the last good revision and touches the app's paths; #${pr.number} already reverts it for other apps. Confidence: high.`,
    bad,
  );
  const culprit = { sha: bad } as const;
  const joined = await joinPullRequest(
    ctx.forge,
    deps.git,
    rec,
    {
      ...joinInput(ctx, { closure, culprit }),
      underLock: false,
    },
    pr,
  );
  return joined && afterOpen(ctx, joined, rec.record.details.prPlan ?? ctx.policy.mode, closure);
}

function joinInput(
  ctx: RollbackContext,
  located: { readonly closure: readonly string[]; readonly culprit: { readonly sha: CommitSha } },
) {
  const { rec, app, source } = ctx;
  return {
    app,
    url: source.url,
    branch: source.branch,
    culprit: located.culprit.sha,
    failingPaths: located.closure,
    self: {
      label: appLabel(app),
      reason: rec.record.details.healthReason ?? '',
      message: rec.record.details.healthMessage ?? '',
    },
  };
}

async function afterOpen(
  ctx: RollbackContext,
  opened: OpenOutcome,
  mode: 'auto-merge' | 'propose' | 'observe',
  failingPaths: readonly string[],
): Promise<RollbackResult> {
  const { rec } = ctx;
  if (opened.kind === 'needs-human') return rec.stop('NeedsHuman', opened.reason, opened.message);
  if (opened.kind === 'stopped') {
    if (opened.result.condition === 'Superseded') await releaseHold(ctx);
    return opened.result;
  }
  ctx.deps.crashPoint?.('after-pr');
  return followPullRequest(ctx, mode, failingPaths);
}

/** Merge (per policy) or wait; once merged, make the engine apply it. */
export async function followPullRequest(
  ctx: RollbackContext,
  mode: 'auto-merge' | 'propose' | 'observe',
  failingPaths?: readonly string[],
): Promise<RollbackResult> {
  const { deps, source, bad } = ctx;
  const advanced = await advancePullRequest(ctx.forge!, ctx.rec, {
    mode,
    reviewTimeoutMs: ctx.policy.reviewTimeoutMs,
    // Right before merging: a person's change to the app since the bad revision wins.
    fixForward: async () =>
      deps.git.laterChanges(
        source.url,
        source.branch,
        bad,
        failingPaths ?? (await deps.git.closureOf(source.url, bad, source.path)),
      ),
  });
  if (advanced.kind === 'merged') return requestApply(ctx, advanced.sha);
  if (advanced.kind === 'stopped' && advanced.condition === 'Superseded') await releaseHold(ctx);
  return advanced;
}

export { supersededByPeople };
