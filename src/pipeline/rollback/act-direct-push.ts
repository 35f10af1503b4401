// Step 7 (no forge): act by pushing the revert to the tracked branch, fast-forward only (check then
// act: a revert already pushed for this incident, found by its trailer, is reused).
import { shortSha } from '../../domain/commit-sha.ts';
import { recordRevertPushed } from '../pull-request.ts';
import { type RollbackContext, type RollbackResult, supersededByPeople } from './context.ts';
import { type RevertPlan, serialisedByCulprit } from './plan.ts';
import { requestApply } from './request-apply.ts';

/** What a prepared revert would do, in words (a dry run's message). */
const DRY_RUN_KIND: Readonly<Record<'reverted' | 'scoped' | 'restored', string>> = {
  reverted: 'reverts all',
  scoped: "reverts the failing apps' part",
  restored: "restores the failing apps' files to before the change",
};

export async function actByDirectPush(ctx: RollbackContext, plan: RevertPlan): Promise<RollbackResult> {
  const { deps, rec, source } = ctx;
  const { culprit } = plan;
  const pushed = await serialisedByCulprit(ctx, culprit, () =>
    deps.git.revertAndPush({ ...plan.revert, dryRun: ctx.dryRun }),
  );
  switch (pushed.kind) {
    case 'dry-run': {
      const r = pushed.revert;
      await rec.details({ revert: { kind: r.kind, ...('sha' in r ? { sha: r.sha, paths: r.paths } : {}) } });
      return rec.stop(
        'Ignored',
        'DryRun',
        'sha' in r
          ? `dry run: revert prepared, not pushed (${shortSha(r.sha)} ${DRY_RUN_KIND[r.kind]} of ${shortSha(culprit.sha)}).`
          : `dry run: no revert of ${shortSha(culprit.sha)} prepared, nothing pushed: ${r.message}`,
      );
    }
    case 'not-pushed': {
      const r = pushed.revert;
      if (r.kind === 'needs-human')
        return rec.stop(
          'NeedsHuman',
          'RevertConflict',
          `${r.message} Conflicting paths: ${r.conflicts.join(', ')}.`,
        );
      // Another incident of the same culprit (another app) already reverted it: carry on from there.
      const earlier = await deps.git.revertOf(source.url, source.branch, culprit.sha);
      if (!earlier)
        return rec.stop('NeedsHuman', 'NothingToRevert', 'message' in r ? r.message : 'nothing to revert');
      await rec.details({ revert: { kind: 'shared', sha: earlier } });
      await rec.to(
        'RevertPrepared',
        'AlreadyReverted',
        `${shortSha(earlier)} already reverts ${shortSha(culprit.sha)} for another app.`,
      );
      await rec.to('Merged', 'DirectPush', `${shortSha(earlier)} is on ${source.branch}.`);
      return requestApply(ctx, earlier);
    }
    case 'gave-up':
      throw new Error(pushed.message); // retried by the queue with backoff
    case 'superseded':
      return supersededByPeople(ctx, pushed.commits, 'checked right before pushing');
    case 'pushed':
    case 'already-pushed': {
      await recordRevertPushed(
        rec,
        pushed,
        `Revert ${shortSha(pushed.sha)} of ${shortSha(culprit.sha)} prepared.`,
      );
      await rec.to(
        'Merged',
        'DirectPush',
        `Pushed ${shortSha(pushed.sha)} to ${source.branch} (fast-forward).`,
      );
      deps.crashPoint?.('after-push');
      return requestApply(ctx, pushed.sha);
    }
  }
}
