// Step 1, resolve: from the job to the app object, its engine and its Git source, or a stop that
// says why Rewind cannot act on this app (unknown app, unsupported engine or source, untrusted host,
// an incident it already ended NeedsHuman and remembers on the app).
import { effectivePolicy } from '../../config/index.ts';
import { appLabel } from '../../domain/app-ref.ts';
import { assertValidBranchName } from '../../domain/branch.ts';
import { isRewindError, redact } from '../../domain/errors.ts';
import { engineFor } from '../../engines/registry.ts';
import { LEDGER_ANNOTATION, parseLedger } from '../durable-ledger.ts';
import type { IncidentRecorder } from '../incident-recorder.ts';
import type { RollbackJob } from '../../queue/jobs.ts';
import {
  type RollbackContext,
  type RollbackDeps,
  type Step,
  createAlreadyPushed,
  done,
  next,
} from './context.ts';

export async function resolveApp(
  job: RollbackJob,
  deps: RollbackDeps,
  rec: IncidentRecorder,
  options: { readonly refusedThenMerged: boolean },
): Promise<Step<RollbackContext>> {
  const { app } = rec.record;
  let engine;
  try {
    engine = engineFor(app);
  } catch (error) {
    if (isRewindError(error)) return done(rec.stop('NeedsHuman', 'UnsupportedEngine', error.message));
    throw error;
  }
  const object = await deps.cluster.get(engine.ref(app));
  if (!object) {
    return done(
      rec.stop(
        'NeedsHuman',
        'UnknownApp',
        `${engine.noun} ${appLabel(app)} does not exist; nothing to roll back (${engine.listCommand} lists them).`,
      ),
    );
  }
  const ledger = parseLedger(object.metadata?.annotations?.[LEDGER_ANNOTATION]);
  const remembered = ledger.needsHuman.find((e) => e.incident === rec.record.id);
  if (remembered && !job.manual && !options.refusedThenMerged) {
    return done(
      rec.stop(
        'NeedsHuman',
        remembered.reason,
        `${remembered.message} (This incident already ended NeedsHuman at ${remembered.at}; Rewind remembers it on the app and does not act again.)`,
      ),
    );
  }
  const found = await engine.source(deps.cluster, object);
  if (found.kind !== 'git') return done(rec.stop('NeedsHuman', found.reason, found.message));
  // Trust first: resolving a default branch already talks to the remote.
  const untrusted = deps.trustSource?.(found.url);
  if (untrusted) return done(rec.stop('NeedsHuman', 'UntrustedSource', untrusted));
  // A source that follows HEAD deploys the remote's default branch: the revert goes there.
  const source =
    found.followsDefaultBranch && deps.git.defaultBranch
      ? { ...found, branch: await deps.git.defaultBranch(found.url) }
      : found;
  // A branch git would refuse is refused here, by name, before any git call (the job boundary ends
  // the incident NeedsHuman with this message).
  assertValidBranchName(source.branch);
  if (!rec.record.details.source)
    await rec.details({ source: { url: redact(source.url), branch: source.branch } });

  const policy = effectivePolicy(deps.config, app);
  const dryRun = job.dryRun || policy.dryRun;
  return next({
    deps,
    rec,
    app,
    engine,
    object,
    source,
    policy,
    dryRun,
    acting: !dryRun && policy.mode !== 'observe',
    manual: job.manual,
    bad: rec.record.badRevision,
    ledger,
    forge: deps.forgeFor?.(source.url),
    log: deps.log.child({ incident: rec.record.id, app: appLabel(app) }),
    alreadyPushed: createAlreadyPushed(deps, source, rec.record.id, rec.record.badRevision),
  });
}
