// The git side of one rollback, as the pipeline needs it: locate the culprit in a remote's history
// and build + push (or only build, for a dry run) the revert. Wraps the workspace, culprit finder,
// revert builder and direct-push forge.
import { type CommitSha, isCommitSha } from '../domain/commit-sha.ts';
import { InvalidInputError, redact } from '../domain/errors.ts';
import {
  type CandidateCommit,
  REVERTS_TRAILER,
  findCulprit,
  validateRange,
  type CulpritOutcome,
} from './culprit.ts';
import { ClosureCache } from './closure-cache.ts';
import { Memo } from './memo.ts';
import { laterChanges } from './people-first.ts';
import { type FixForwardCheck, findIncidentCommit, pushRevertDirect, type PushOutcome } from './push.ts';
import { pushRevertBranch, type BranchPushOutcome } from './push-branch.ts';
import { type GitAuthor, pathspecs } from './repo.ts';
import { buildRevert, type BuildRevertInput, type RevertOutcome } from './revert.ts';
import type { GitWorkspace, Mirror } from './workspace.ts';

export interface LocateInput {
  readonly url: string;
  readonly good: CommitSha;
  readonly bad: CommitSha;
  /** The failing app's spec.path. */
  readonly appPath: string;
  readonly changedValues: readonly string[];
  /** Last-good values (image tags) the revert must bring back (see FindCulpritInput). */
  readonly restoredValues?: readonly string[];
  /** Commits Rewind recorded on its incidents: never culprits. */
  readonly recordedShas?: ReadonlySet<string>;
}

export interface Located {
  readonly closure: readonly string[];
  readonly outcome: CulpritOutcome;
}

export interface RevertPushInput extends Omit<BuildRevertInput, 'commits' | 'rewindAuthor'> {
  readonly url: string;
  readonly branch: string;
  /** The revision the app failed on: a person's change to the failing apps after it stops the push. */
  readonly bad: CommitSha;
  readonly commits: BuildRevertInput['commits'];
  readonly dryRun: boolean;
}

export type RevertPushOutcome = PushOutcome | { readonly kind: 'dry-run'; readonly revert: RevertOutcome };

// How old a fetch may be for the first attempt of a direct push: that push is fast-forward only,
// so a branch that moved since is refused by the remote and the next attempt fetches afresh.
const PUSH_REUSES_FETCH_MS = 5_000;

export class RollbackGit {
  // Answers about given commits never change: computed once per process (storms of incidents on
  // one source ask the same closures again and again).
  private readonly closures = new ClosureCache();
  private readonly later = new Memo<CandidateCommit[]>();
  /** Answers about one commit, which never change: files it changed, its message. */
  private readonly byCommit = new Memo<unknown>(10_000);

  constructor(
    private readonly workspace: GitWorkspace,
    private readonly author: GitAuthor,
  ) {}

  /** A fact about one commit, asked once (only a fetch can make an unknown commit known). */
  private aboutCommit<T>(kind: string, url: string, commit: CommitSha, ask: () => Promise<T>): Promise<T> {
    return this.byCommit.get(`${kind}\0${url}\0${commit}`, ask) as Promise<T>;
  }

  /**
   * Commits on `branch` after `bad` that touch `paths` and are not Rewind's: someone is fixing the
   * app forward (fetched fresh: this is asked right before acting).
   */
  async laterChanges(
    url: string,
    branch: string,
    bad: CommitSha,
    paths: readonly string[],
  ): Promise<readonly CandidateCommit[]> {
    const mirror = await this.workspace.syncMirror(url, { branches: [branch] });
    const head = await mirror.repo.resolveCommit(`refs/heads/${branch}`);
    return head === undefined ? [] : this.laterOn(mirror.repo, bad, head, paths);
  }

  /**
   * The remote's default branch (what `HEAD` points to there: `git ls-remote --symref`), for
   * sources that follow HEAD (Argo CD `targetRevision: HEAD` or none).
   */
  async defaultBranch(url: string): Promise<string> {
    // ls-remote asks the remote itself: the mirror is only somewhere to run it, no fetch needed.
    const mirror = await this.workspace.mirrorWith(url, []);
    const { stdout } = await mirror.repo.run(['ls-remote', '--symref', 'origin', 'HEAD']);
    const match = /^ref: refs\/heads\/(\S+)\tHEAD$/m.exec(stdout);
    if (!match) throw new InvalidInputError(`${redact(url)} does not say which branch its HEAD points to.`);
    return match[1]!;
  }

  private laterOn(
    repo: Mirror['repo'],
    bad: CommitSha,
    head: CommitSha,
    paths: readonly string[],
  ): Promise<CandidateCommit[]> {
    const key = [repo.dir, bad, head, ...[...paths].sort()].join('\0');
    return this.later.get(key, () => laterChanges(repo, bad, head, paths, this.author));
  }

  private fixForwardCheck(bad: CommitSha, paths: readonly string[]): FixForwardCheck {
    return (repo, head) => this.laterOn(repo, bad, head, paths);
  }

  /** The commit at the head of `branch` on the remote, fetched now (undefined: no such branch). */
  async branchHead(url: string, branch: string): Promise<CommitSha | undefined> {
    const mirror = await this.workspace.syncMirror(url, { branches: [branch] });
    return mirror.repo.resolveCommit(`refs/heads/${branch}`);
  }

  /** Fetches `commit` into the mirror now unless it is there (the detector saw a new revision). */
  async warm(url: string, commit: CommitSha): Promise<void> {
    await this.workspace.mirrorWith(url, [commit]);
  }

  async closureOf(url: string, commit: CommitSha, appPath: string): Promise<readonly string[]> {
    return (await this.closuresOf(url, commit, [appPath]))[0]!;
  }

  /**
   * The closures of several apps at one commit, in order: computed once per (source, commit, path)
   * and fetched only when the commit is not in the mirror yet (a commit's tree never changes).
   */
  async closuresOf(
    url: string,
    commit: CommitSha,
    appPaths: readonly string[],
  ): Promise<(readonly string[])[]> {
    const cached = appPaths.map((p) => this.closures.cached(url, commit, p));
    if (cached.every((c) => c !== undefined)) return Promise.all(cached);
    const mirror = await this.workspace.mirrorWith(url, [commit]);
    return Promise.all(appPaths.map((p) => this.closures.closureOf(url, mirror.repo, commit, p)));
  }

  async locate(input: LocateInput): Promise<Located> {
    const mirror = await this.workspace.mirrorWith(input.url, [input.good, input.bad]);
    const closure = await this.closures.closureOf(input.url, mirror.repo, input.bad, input.appPath);
    const outcome = await findCulprit(mirror.repo, {
      good: input.good,
      bad: input.bad,
      paths: closure,
      changedValues: input.changedValues,
      ...(input.restoredValues === undefined ? {} : { restoredValues: input.restoredValues }),
      rewindAuthor: this.author,
      ...(input.recordedShas === undefined ? {} : { recordedShas: input.recordedShas }),
    });
    return { closure, outcome };
  }

  /** The revert commit already on the branch for this incident, if a previous attempt pushed it. */
  async pushedRevert(
    url: string,
    branch: string,
    incidentId: string,
    since?: CommitSha,
  ): Promise<CommitSha | undefined> {
    const mirror = await this.workspace.syncMirror(url, { branches: [branch] });
    const head = await mirror.repo.resolveCommit(`refs/heads/${branch}`);
    return head === undefined ? undefined : findIncidentCommit(mirror.repo, head, incidentId, since);
  }

  async revertAndPush(input: RevertPushInput): Promise<RevertPushOutcome> {
    const { url, branch, dryRun, bad, ...rest } = input;
    const build = { ...rest, rewindAuthor: this.author };
    if (dryRun) {
      const mirror = await this.workspace.syncMirror(url, { branches: [branch] });
      const head = await mirror.repo.resolveCommit(`refs/heads/${branch}`);
      if (head === undefined) throw new Error(`branch ${branch} not found on the remote`);
      const revert = await this.workspace.withWorktree(mirror, head, (worktree) =>
        buildRevert(worktree, build),
      );
      return { kind: 'dry-run', revert };
    }
    return pushRevertDirect({
      workspace: this.workspace,
      remoteUrl: url,
      branch,
      incidentId: input.incidentId,
      since: bad,
      reuseFetchWithinMs: PUSH_REUSES_FETCH_MS,
      buildRevert: (worktree) => buildRevert(worktree, build),
      fixForward: this.fixForwardCheck(bad, input.failingPaths),
    });
  }

  /** Throws ShaNotInHistoryError / NotAncestorError with an actionable message. */
  async validateRange(url: string, good: CommitSha, bad: CommitSha): Promise<void> {
    const mirror = await this.workspace.mirrorWith(url, [good, bad]);
    await validateRange(mirror.repo, good, bad);
  }

  /**
   * The commits of the source whose SHA starts with `prefix` (lowercase hex, 4 to 40 characters, see
   * parseShaPrefix), fetched fresh: none, one, or several when a short SHA is ambiguous.
   */
  async commitsWithPrefix(url: string, prefix: string): Promise<CommitSha[]> {
    if (!/^[0-9a-f]{4,40}$/.test(prefix)) return [];
    const mirror = await this.workspace.syncMirror(url);
    const result = await mirror.repo.run(['rev-parse', `--disambiguate=${prefix}`], {
      okExitCodes: [1, 128],
    });
    const found: CommitSha[] = [];
    for (const line of result.stdout.split('\n')) {
      const sha = line.trim();
      if (isCommitSha(sha) && (await mirror.repo.resolveCommit(sha)) === sha) found.push(sha);
    }
    return found;
  }

  /** A commit as `git show` prints it (message, stat, unified diff): the revert a dry run prepared. */
  async show(url: string, commit: CommitSha): Promise<string> {
    const mirror = await this.workspace.syncMirror(url);
    return mirror.repo.text(['show', '--no-color', '--stat', '--patch', '--end-of-options', commit]);
  }

  /** The newest commit up to `commit` (first-parent) that changed the app's path closure. */
  async latestChangeOf(url: string, commit: CommitSha, appPath: string): Promise<CommitSha | undefined> {
    const mirror = await this.workspace.mirrorWith(url, [commit]);
    const closure = await this.closures.closureOf(url, mirror.repo, commit, appPath);
    const out = await mirror.repo.text([
      'log',
      '-1',
      '--first-parent',
      '--format=%H',
      commit,
      '--',
      ...pathspecs(closure),
    ]);
    const sha = out.trim();
    return isCommitSha(sha) ? sha : undefined;
  }

  /** The first parent of `commit` (undefined for a root commit). */
  async parentOf(url: string, commit: CommitSha): Promise<CommitSha | undefined> {
    return this.aboutCommit('parent', url, commit, async () => {
      const mirror = await this.workspace.mirrorWith(url, [commit]);
      const result = await mirror.repo.run(
        ['rev-parse', '--verify', '--quiet', '--end-of-options', `${commit}^1`],
        { okExitCodes: [1, 128] },
      );
      const sha = result.stdout.trim();
      return result.exitCode === 0 && isCommitSha(sha) ? sha : undefined;
    });
  }

  /** Builds the revert on the base head and pushes it to Rewind's own branch (for a pull request). */
  async revertAndPushBranch(
    input: Omit<RevertPushInput, 'dryRun'> & { readonly prBranch: string },
  ): Promise<BranchPushOutcome> {
    const { url, branch, prBranch, bad, ...rest } = input;
    const build = { ...rest, rewindAuthor: this.author };
    return pushRevertBranch({
      workspace: this.workspace,
      remoteUrl: url,
      base: branch,
      branch: prBranch,
      incidentId: input.incidentId,
      since: bad,
      buildRevert: (worktree) => buildRevert(worktree, build),
      fixForward: this.fixForwardCheck(bad, input.failingPaths),
    });
  }

  /** The newest Rewind commit on the branch carrying `Reverts: <culprit>`, if any. */
  async revertOf(url: string, branch: string, culprit: CommitSha): Promise<CommitSha | undefined> {
    const mirror = await this.workspace.syncMirror(url, { branches: [branch] });
    const head = await mirror.repo.resolveCommit(`refs/heads/${branch}`);
    if (head === undefined) return undefined;
    const out = await mirror.repo.text([
      'log',
      '--fixed-strings',
      `--grep=${REVERTS_TRAILER}: ${culprit}`,
      '--format=%H',
      head,
      // A revert of the culprit comes after it: the history before it is never searched.
      '--ignore-missing',
      `^${culprit}`,
      '--',
    ]);
    const sha = out.split('\n')[0]?.trim();
    return sha && isCommitSha(sha) ? sha : undefined;
  }

  /** A commit's full message (to read the trailers and the pull request number Rewind wrote). */
  async commitMessage(url: string, commit: CommitSha): Promise<string> {
    return this.aboutCommit('message', url, commit, async () => {
      const mirror = await this.workspace.mirrorWith(url, [commit]);
      return mirror.repo.text(['show', '-s', '--format=%B', commit, '--']);
    });
  }

  /** Files a commit changed (against its first parent). */
  async filesChangedBy(url: string, commit: CommitSha): Promise<string[]> {
    const files = await this.aboutCommit('files', url, commit, async () => {
      const mirror = await this.workspace.mirrorWith(url, [commit]);
      return mirror.repo.changedFiles(commit);
    });
    return [...files];
  }

  async isAncestor(url: string, ancestor: CommitSha, descendant: CommitSha): Promise<boolean> {
    const mirror = await this.workspace.mirrorWith(url, [ancestor, descendant]);
    return mirror.repo.isAncestor(ancestor, descendant);
  }
}
