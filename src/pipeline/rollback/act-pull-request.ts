// Step 7 (forge): act through a pull request: push Rewind's branch, find-or-create the PR (or join
// the open one of the same culprit), then merge per policy or wait for a person. Also follows a PR
// that exists already (after a crash, a webhook, or a person's merge after a refusal).
import { releaseHold, type RollbackContext, type RollbackResult, supersededByPeople } from './context.ts';
import { advancePullRequest, openPullRequest } from '../pull-request.ts';
import type { LocatedCulprit } from './locate.ts';
import type { RevertPlan } from './plan.ts';
import { serialisedByCulprit } from './plan.ts';
import { requestApply } from './request-apply.ts';

export async function actByPullRequest(
  ctx: RollbackContext,
  plan: RevertPlan,
  located: LocatedCulprit,
): Promise<RollbackResult> {
  const forge = ctx.forge!;
  const { rec, app } = ctx;
  const opened = await serialisedByCulprit(ctx, plan.culprit, () =>
    openPullRequest(forge, ctx.deps.git, rec, {
      ...plan.revert,
      app,
      culprit: plan.culprit,
      located: located.found,
      failingAppsDetail: plan.failingApps,
      plan: plan.prMode === 'auto-merge' ? 'auto-merge' : 'propose',
      manual: ctx.manual,
    }),
  );
  if (opened.kind === 'needs-human') return rec.stop('NeedsHuman', opened.reason, opened.message);
  if (opened.kind === 'stopped') {
    if (opened.result.condition === 'Superseded') await releaseHold(ctx);
    return opened.result;
  }
  ctx.deps.crashPoint?.('after-pr');
  return followPullRequest(ctx, plan.prMode, plan.revert.failingPaths);
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
