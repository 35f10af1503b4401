// Step 5, locate: the culprit in good..bad over the app's path closure (src/git/culprit.ts), then
// the gates that need it: observe mode reports only, an old culprit is not reverted automatically,
// and a person's change to the app after the bad revision means they are fixing forward.
import { appLabel, appRefText } from '../../domain/app-ref.ts';
import { shortSha } from '../../domain/commit-sha.ts';
import { isRewindError } from '../../domain/errors.ts';
import type { CulpritOutcome } from '../../git/culprit.ts';
import type { Contained } from './contain.ts';
import { type RollbackContext, type Step, done, next, supersededByPeople } from './context.ts';

export interface LocatedCulprit {
  readonly found: Extract<CulpritOutcome, { kind: 'found' }>;
  readonly closure: readonly string[];
}

export async function locate(ctx: RollbackContext, contained: Contained): Promise<Step<LocatedCulprit>> {
  const { deps, rec, app, source, bad } = ctx;
  const good = rec.record.goodRevision!;
  let located;
  try {
    located = await deps.git.locate({
      url: source.url,
      good,
      bad,
      appPath: source.path,
      changedValues: contained.changedValues,
      restoredValues: contained.restoredValues,
      // Squash/merge commits Rewind recorded on its incidents are its own, whatever their message.
      recordedShas: await deps.incidents.ownCommits(),
    });
  } catch (error) {
    if (isRewindError(error) && !error.retryable)
      return done(rec.stop('NeedsHuman', error.code, error.message));
    throw error;
  }
  if (located.outcome.kind === 'no-candidate')
    return done(rec.stop('NeedsHuman', 'NoCandidate', located.outcome.explanation));
  const found = located.outcome;
  // The engine named no commit: the bad revision is the ref's head when Rewind read it, and a change
  // pushed after the breaking one (a person's fix) may be in the range. Only a range holding a single
  // change to the app says which commit broke it; anything else is a person's call.
  if (rec.record.details.badFromRefHead && found.candidates.length > 1) {
    return done(
      rec.stop(
        'NeedsHuman',
        'AmbiguousCulprit',
        `${ctx.engine.noun} ${appLabel(app)} names no failing commit, and ${found.candidates.length} commits in ${shortSha(good)}..${shortSha(bad)} change the app: a later one may be a fix. Name the culprit: "/rollback ${appRefText(app)} <sha>".`,
      ),
    );
  }
  const culprit = found.commits[0]!;
  await rec.details({
    culpritRule: found.rule,
    confidence: found.confidence,
    culpritSubject: culprit.subject,
    rangeCommits: found.candidates.length,
    templateChanges: [...contained.changes],
  });
  await rec.to('Located', found.rule, `${found.explanation} Confidence: ${found.confidence}.`, culprit.sha);

  if (ctx.policy.mode === 'observe') {
    return done(
      rec.stop(
        'Ignored',
        'ObserveOnly',
        `Observe mode: would revert ${shortSha(culprit.sha)} ("${culprit.subject}") for ${appLabel(app)}.`,
      ),
    );
  }
  const age = deps.clock.now().getTime() - Date.parse(culprit.committedAt);
  if (!ctx.manual && age > ctx.policy.maxCulpritAgeMs) {
    return done(
      rec.stop(
        'NeedsHuman',
        'CulpritTooOld',
        `The culprit ${shortSha(culprit.sha)} is older than policy.maxCulpritAge; Rewind does not revert old commits automatically.`,
      ),
    );
  }
  // People come first: asked here, before anything is written to Git, and again by the git layer on
  // the fetched head right before the push, so a fix pushed at the worst moment still wins.
  if (!rec.record.details.revert?.sha) {
    const later = await deps.git.laterChanges(source.url, source.branch, bad, located.closure);
    if (later.length > 0 && !(await ctx.alreadyPushed()))
      return done(supersededByPeople(ctx, later, 'checked before acting'));
  }
  return next({ found, closure: located.closure });
}
