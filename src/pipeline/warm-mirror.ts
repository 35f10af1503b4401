// Keeping the git mirror warm: when the detector sees an app's source move to a new revision, the
// mirror fetches it at once (once per source and revision), so a rollback that follows finds the
// commits already there and its culprit search spends no fetch (bench/overhead.ts). Also the
// detector's read of a branch head, for an engine that fails at a branch without naming the commit.
import type { KubeObjectJson } from '../cluster/informer.ts';
import type { CommitSha } from '../domain/commit-sha.ts';
import { redact } from '../domain/errors.ts';
import type { Engine, EngineCluster } from '../engines/engine.ts';
import type { Logger } from './ports.ts';

export interface MirrorWarmerDeps {
  readonly cluster: EngineCluster;
  readonly git: { warm(url: string, commit: CommitSha): Promise<void> };
  /** The same trust check the rollback makes: nothing is fetched from a source Rewind must not touch. */
  readonly trustSource: (url: string) => string | undefined;
  readonly log: Logger;
}

/** Called with each app object the detector sees change; never throws, never waits. */
export function mirrorWarmer(deps: MirrorWarmerDeps): (engine: Engine, object: KubeObjectJson) => void {
  // Per source: the revision last warmed (sources are few; apps share them).
  const warmed = new Map<string, CommitSha>();
  return (engine, object) => {
    const revision = engine.attemptedRevision(object);
    const source = engine.sourceRefOf(object);
    if (!revision || !source || warmed.get(source.key) === revision.sha) return;
    warmed.set(source.key, revision.sha);
    const warm = async (): Promise<void> => {
      const resolved = await engine.source(deps.cluster, object);
      if (resolved.kind !== 'git' || deps.trustSource(resolved.url) !== undefined) return;
      await deps.git.warm(resolved.url, revision.sha);
    };
    warm().catch((error: unknown) => {
      if (warmed.get(source.key) === revision.sha) warmed.delete(source.key);
      deps.log.debug({ err: redact(String(error)), source: source.key }, 'mirror warm-up failed');
    });
  };
}

export interface RefHeadDeps {
  readonly cluster: EngineCluster;
  readonly git: { branchHead(url: string, branch: string): Promise<CommitSha | undefined> };
  readonly trustSource: (url: string) => string | undefined;
}

/**
 * The commit at the head of the branch an engine failed at without naming the commit (Argo CD
 * cannot render the branch, so it never reports what it resolved): the newest commit on the branch
 * the app follows, read from Git. Undefined when the ref is not that branch or the source is not
 * one Rewind may use.
 */
export function refHeadReader(
  deps: RefHeadDeps,
): (engine: Engine, object: KubeObjectJson, ref: string) => Promise<CommitSha | undefined> {
  return async (engine, object, ref) => {
    const source = await engine.source(deps.cluster, object);
    // A source that follows the remote's default branch names no branch to read here (`HEAD` is not
    // refs/heads/HEAD): nothing is read rather than a branch that cannot exist.
    if (
      source.kind !== 'git' ||
      source.followsDefaultBranch === true ||
      source.branch !== ref ||
      deps.trustSource(source.url) !== undefined
    )
      return undefined;
    return deps.git.branchHead(source.url, source.branch);
  };
}
