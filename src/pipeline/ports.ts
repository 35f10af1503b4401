// The ports the pipeline sees. Adapters (src/cluster, src/git, src/queue, src/forge) implement
// them; only composition roots (workers/, src/cli.ts, src/server) wire adapters in. Engine-specific
// verbs (suspend, reconcile requests, refresh) are not here: they belong to the Engine port
// (src/engines/engine.ts), built on the generic verbs below.
import type { KubeObjectJson } from '../cluster/informer.ts';
import type { CommitSha } from '../domain/commit-sha.ts';
import type { EngineCluster } from '../engines/engine.ts';
import type { CandidateCommit } from '../git/culprit.ts';
import type { BranchPushOutcome } from '../git/push-branch.ts';
import type { Located, LocateInput, RevertPushInput, RevertPushOutcome } from '../git/rollback-git.ts';

export interface ClusterPort extends EngineCluster {
  /** Replaces a Deployment's pod template (what `kubectl rollout undo` patches). */
  setPodTemplate(namespace: string, name: string, template: unknown): Promise<void>;
  replicaSetsOf(deployment: KubeObjectJson): Promise<KubeObjectJson[]>;
  podsOf(replicaSet: KubeObjectJson): Promise<KubeObjectJson[]>;
  recordEvent(
    involved: KubeObjectJson,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void>;
}

/** The git side of a rollback (implemented by src/git/rollback-git.ts over real repositories). */
export interface GitPort {
  locate(input: LocateInput): Promise<Located>;
  /** The remote's default branch (where its HEAD points), for sources that follow HEAD. */
  defaultBranch?(url: string): Promise<string>;
  /**
   * The revert commit already on the branch for this incident, if a previous attempt pushed it;
   * `since` (the bad revision) bounds the search: the revert can only come after it.
   */
  pushedRevert(
    url: string,
    branch: string,
    incidentId: string,
    since?: CommitSha,
  ): Promise<CommitSha | undefined>;
  revertAndPush(input: RevertPushInput): Promise<RevertPushOutcome>;
  revertAndPushBranch(
    input: Omit<RevertPushInput, 'dryRun'> & { readonly prBranch: string },
  ): Promise<BranchPushOutcome>;
  /** The newest Rewind commit on the branch reverting `culprit`, if any. */
  revertOf(url: string, branch: string, culprit: CommitSha): Promise<CommitSha | undefined>;
  filesChangedBy(url: string, commit: CommitSha): Promise<string[]>;
  closureOf(url: string, commit: CommitSha, appPath: string): Promise<readonly string[]>;
  /** Several apps' closures at one commit, in order (computed once per source and commit). */
  closuresOf(url: string, commit: CommitSha, appPaths: readonly string[]): Promise<(readonly string[])[]>;
  /** A commit's first parent (undefined for a root commit). */
  parentOf(url: string, commit: CommitSha): Promise<CommitSha | undefined>;
  /** A commit's full message. */
  commitMessage(url: string, commit: CommitSha): Promise<string>;
  isAncestor(url: string, ancestor: CommitSha, descendant: CommitSha): Promise<boolean>;
  /** People's commits on the branch after `bad` touching `paths` (someone fixing forward). */
  laterChanges(
    url: string,
    branch: string,
    bad: CommitSha,
    paths: readonly string[],
  ): Promise<readonly CandidateCommit[]>;
}

/**
 * Which pull request carries the revert of a culprit, and of the bad revision it was found for
 * (src/queue/culprit-claims.ts): a cache, keyed by source and commit.
 */
export interface CulpritClaims {
  pullRequestFor(sourceKey: string, commit: string): Promise<number | undefined>;
  claim(sourceKey: string, commit: string, pullRequest: number): Promise<void>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Structured logger (pino-compatible subset). */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  child(bindings: object): Logger;
}
