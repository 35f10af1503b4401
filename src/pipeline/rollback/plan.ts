// Step 6, plan: what one revert of the culprit covers. Other apps failing on the same culprit take
// part only as their own policy allows (observed or paused apps keep the change; an app that wants
// review makes the pull request wait for a person); healthy apps' files are never reverted.
import { effectivePolicy } from '../../config/index.ts';
import { appLabel } from '../../domain/app-ref.ts';
import type { CandidateCommit } from '../../git/culprit.ts';
import type { RevertPushInput } from '../../git/rollback-git.ts';
import type { FailingAppText } from '../pull-request.ts';
import type { RollbackContext } from './context.ts';
import { type OtherApp, otherAppsOnSource } from './failing-apps.ts';
import type { LocatedCulprit } from './locate.ts';

export interface RevertPlan {
  readonly culprit: CandidateCommit;
  readonly revert: Omit<RevertPushInput, 'dryRun'>;
  readonly failingApps: readonly FailingAppText[];
  readonly prMode: 'auto-merge' | 'propose' | 'observe';
}

export async function planRevert(ctx: RollbackContext, located: LocatedCulprit): Promise<RevertPlan> {
  const { deps, rec, app, source, bad } = ctx;
  const others = await otherAppsOnSource(ctx);
  const policyOf = (o: OtherApp) => effectivePolicy(deps.config, o.app);
  const failing = others.failing.filter((o) => policyOf(o).mode !== 'observe' && !policyOf(o).paused);
  const leftAlone = [...others.healthy, ...others.failing.filter((o) => !failing.includes(o))];
  const reviewWanted = failing.some((o) => policyOf(o).mode === 'propose');
  const prMode = ctx.manual ? 'auto-merge' : reviewWanted ? 'propose' : ctx.policy.mode;
  if (ctx.forge && !ctx.dryRun && rec.record.details.prPlan !== prMode) await rec.details({ prPlan: prMode });

  // One call for every app on the source: closures are computed once per (source, revision).
  const closures = await deps.git.closuresOf(
    source.url,
    bad,
    [...failing, ...leftAlone].map((o) => o.path),
  );
  const failingPaths = new Set<string>([...located.closure, ...closures.slice(0, failing.length).flat()]);
  const otherPaths = new Set<string>(closures.slice(failing.length).flat());
  const { found } = located;
  return {
    culprit: found.commits[0]!,
    prMode,
    failingApps: [
      {
        label: appLabel(app),
        reason: rec.record.details.healthReason ?? '',
        message: rec.record.details.healthMessage ?? '',
      },
      ...failing.map((o) => ({ label: o.label, reason: o.reason, message: o.message })),
    ],
    revert: {
      url: source.url,
      branch: source.branch,
      bad,
      incidentId: rec.record.id,
      commits: found.commits,
      failingApps: [appLabel(app), ...failing.map((o) => o.label)],
      failingPaths: [...failingPaths],
      otherAppsPaths: [...otherPaths],
      good: rec.record.goodRevision!,
      rule: `${found.rule}, ${found.confidence} confidence`,
      ...(rec.record.details.requestedBy ? { requestedBy: rec.record.details.requestedBy } : {}),
    },
  };
}

/** One culprit, one revert: incidents of several apps failing on the same commit take turns. */
export function serialisedByCulprit<T>(
  ctx: RollbackContext,
  culprit: CandidateCommit,
  fn: () => Promise<T>,
): Promise<T> {
  return ctx.deps.withLock ? ctx.deps.withLock(`culprit:${culprit.sha}`, fn) : fn();
}
