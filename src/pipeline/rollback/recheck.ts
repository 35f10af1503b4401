// Step 2, recheck (the grace period ends here): is the app still failing on the same revision, and
// may Rewind act at all (pause switches)? Skipped for manual rollbacks, and whenever this incident's
// revert is already on the branch (a previous attempt acted; this one finishes the job).
import { appLabel } from '../../domain/app-ref.ts';
import { shortSha } from '../../domain/commit-sha.ts';
import { isPausedByAnnotation } from '../durable-ledger.ts';
import { globalPauseRef, readGlobalPause } from '../pause-switch.ts';
import { type RollbackContext, type Step, done, next } from './context.ts';
import { failingPodsOfApp } from './failing-apps.ts';

export async function recheck(ctx: RollbackContext): Promise<Step<void>> {
  const { rec, app, engine, object, bad } = ctx;
  if (!ctx.manual) {
    const verdict = engine.assess(object);
    const attempted = engine.attemptedRevision(object);
    const applied = engine.appliedRevision(object);
    if (verdict.state === 'healthy' && applied?.sha === bad && !(await revertLanded(ctx))) {
      return done(
        rec.stop(
          'Ignored',
          'Recovered',
          `${appLabel(app)} became healthy on ${shortSha(bad)} during the grace period; no rollback needed.`,
        ),
      );
    }
    if (
      rec.record.details.trigger === 'pods' &&
      verdict.state !== 'failed' &&
      (await failingPodsOfApp(ctx.deps, app)).length === 0 &&
      !(await revertLanded(ctx))
    ) {
      return done(
        rec.stop(
          'Ignored',
          'Recovered',
          `The Pods of ${appLabel(app)} recovered during the grace period; no rollback needed.`,
        ),
      );
    }
    if (attempted && attempted.sha !== bad && !(await revertLanded(ctx))) {
      return done(
        rec.stop(
          'Superseded',
          'NewRevision',
          `The ${engine.noun} moved on to ${attempted.raw} before Rewind acted; the incident for ${shortSha(bad)} is superseded.`,
        ),
      );
    }
  }
  if (ctx.policy.paused && !(await ctx.alreadyPushed())) {
    return done(
      rec.stop(
        'Ignored',
        'Paused',
        'Rewind is paused (policy.paused); set it to false or roll back by hand.',
      ),
    );
  }
  if (!ctx.manual && (await readGlobalPause(ctx.deps.cluster, ctx.deps.config)).paused) {
    if (!(await ctx.alreadyPushed())) {
      const ref = globalPauseRef(ctx.deps.config);
      return done(
        rec.stop(
          'Ignored',
          'Paused',
          `Rewind is paused for every app (annotation rewind.dev/paused=true on ConfigMap ${ref.namespace}/${ref.name}); "/rollback resume" or removing it lets Rewind act again.`,
        ),
      );
    }
  }
  if (!ctx.manual && isPausedByAnnotation(object.metadata?.annotations) && !(await ctx.alreadyPushed())) {
    return done(
      rec.stop(
        'Ignored',
        'Paused',
        `Rewind is paused for ${appLabel(app)} (annotation rewind.dev/paused=true on the app); remove it to let Rewind act, or roll back by hand.`,
      ),
    );
  }
  return next(undefined);
}

/**
 * Whether the app recovered or moved on because Rewind already reverted its culprit: this
 * incident's own revert, or the one another incident of the same commit pushed or merged (an
 * incident storm). Then it is not Ignored or Superseded: it follows that revert and is verified.
 */
async function revertLanded(ctx: RollbackContext): Promise<boolean> {
  const { deps, rec, source, bad } = ctx;
  // The pull request recorded for this bad revision (a storm's first incident opened it): one read.
  const claimed = await deps.culpritClaims?.pullRequestFor(source.key, bad);
  if (claimed !== undefined && ctx.forge && (await ctx.forge.forge.getPullRequest(claimed)).merged)
    return true;
  if (await ctx.alreadyPushed()) return true;
  const good = rec.record.goodRevision;
  if (!good) return false;
  const located = await deps.git
    .locate({ url: source.url, good, bad, appPath: source.path, changedValues: [] })
    .catch(() => undefined); // a range git cannot read: the normal stop, as before
  if (!located) return false;
  const culprit = located.outcome.kind === 'found' ? located.outcome.commits[0] : undefined;
  return (
    culprit !== undefined && (await deps.git.revertOf(source.url, source.branch, culprit.sha)) !== undefined
  );
}
