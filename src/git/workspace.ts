import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { assertValidBranchName } from '../domain/branch.ts';
import type { CommitSha } from '../domain/commit-sha.ts';
import { assertRemoteAllowed, type GitTransport } from './remote-url.ts';
import { type GitAuthor, gitEnvironment, type GitProcessObserver, GitRepo } from './repo.ts';

export interface GitCredentials {
  /** Defaults to `x-access-token`, which GitHub accepts for installation and personal tokens. */
  readonly username?: string;
  readonly token: string;
}

/**
 * Mutual exclusion across the processes that share a workdir (workers/runtime.ts passes a Redis
 * lock): held around every mirror-level operation, keyed by the mirror's directory, so replicas
 * sharing one volume never run two fetches or ref updates in one mirror at once.
 */
export type MirrorLock = <T>(key: string, fn: () => Promise<T>) => Promise<T>;

export interface GitWorkspaceDeps {
  /** Directory for mirrors and worktrees (config `git.workdir`); made absolute. */
  readonly root: string;
  readonly author: GitAuthor;
  readonly credentials?: GitCredentials;
  /** Transports git may use (default https only); `file` is for local remotes (tests, sandbox). */
  readonly allowedProtocols?: readonly GitTransport[];
  /**
   * Hosts remotes may be on (config git.allowedHosts plus the forge's host); undefined accepts any
   * host. Checked before any git process runs, like the transports.
   */
  readonly allowedHosts?: readonly string[];
  /** Without it, mirror operations are serialised within this process only. */
  readonly mirrorLock?: MirrorLock;
  /** Told about every git process (metrics; benchmarks count them and their time). */
  readonly observer?: GitProcessObserver;
  /**
   * First clone without file contents (default true): much less to download for a big repository,
   * but every later fetch and push of a partial mirror checks its connectivity against the whole
   * history (git 2.39: about 0.1 s more at 100,000 commits; bench/monorepo.ts --full-mirror).
   */
  readonly partialClone?: boolean;
}

/** Worktrees kept per mirror for the next jobs (one per concurrently running job is enough). */
const IDLE_WORKTREES = 4;

/** A bare mirror of one remote, shared by every job for that remote. */
export interface Mirror {
  readonly url: string;
  readonly repo: GitRepo;
}

/**
 * Git working area: one bare mirror per remote (keyed by a hash of the URL, so URLs never become
 * paths) refreshed by fetch, and a detached worktree (no checkout) per running job, reused.
 * Mirror-level operations (clone, fetch, worktree add/remove, push) are serialised per mirror in
 * withMirrorLock; jobs for different apps work in their own worktrees concurrently.
 */
export class GitWorkspace {
  private readonly root: string;
  private readonly deps: GitWorkspaceDeps;
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Per mirror: worktrees no job is using, ready for the next one. */
  private readonly idleWorktrees = new Map<string, string[]>();
  /** Per mirror: the fetch waiting for the mirror lock (joined by callers), and the last one started. */
  private readonly nextFetch = new Map<string, Promise<void>>();
  private readonly lastFetch = new Map<
    string,
    { readonly startedAt: number; readonly ok: Promise<boolean> }
  >();
  private askpassReady: Promise<string> | undefined;

  constructor(deps: GitWorkspaceDeps) {
    this.deps = deps;
    this.root = path.resolve(deps.root);
  }

  mirrorDir(url: string): string {
    const id = createHash('sha256')
      .update(this.assertAllowed(url).replace(/\/+$/, ''))
      .digest('hex')
      .slice(0, 16);
    return path.join(this.root, 'mirrors', `${id}.git`);
  }

  /**
   * Refuses (InvalidInputError, never retried) a URL git must not see: option-looking hosts,
   * transport helpers, embedded passwords, transports or hosts outside the configured ones.
   */
  assertAllowed(url: string): string {
    assertRemoteAllowed(url, {
      allowedProtocols: this.deps.allowedProtocols ?? ['https'],
      ...(this.deps.allowedHosts === undefined ? {} : { allowedHosts: this.deps.allowedHosts }),
    });
    return url;
  }

  /**
   * Creates the mirror on first use, then fetches every branch (pruning deleted ones). The fetch
   * starts after this call, so the branch heads are at least as new as the moment it was asked
   * for; callers asking while a fetch is waiting for the mirror share it. `reuseWithinMs`: a fetch
   * started at most that long ago is good enough (for callers whose push is fast-forward only, so a
   * branch that moved since is caught by the remote anyway).
   */
  async syncMirror(
    url: string,
    options: { readonly reuseWithinMs?: number; readonly branches?: readonly string[] } = {},
  ): Promise<Mirror> {
    const repo = await this.repoFor(url);
    const key = repo.dir;
    const branches =
      options.branches === undefined
        ? undefined
        : [...new Set(options.branches.map((b) => assertValidBranchName(b)))].sort();
    // Callers share a waiting fetch only when they ask about the same branches.
    const fetchKey = branches === undefined ? key : `${key}\0${branches.join('\0')}`;
    const recent = this.lastFetch.get(key);
    if (
      options.reuseWithinMs !== undefined &&
      recent !== undefined &&
      performance.now() - recent.startedAt <= options.reuseWithinMs &&
      (await recent.ok)
    )
      return { url, repo };
    let next = this.nextFetch.get(fetchKey);
    if (next === undefined) {
      next = this.withMirrorLock(url, () => {
        // Callers from here on need a later fetch than this one.
        this.nextFetch.delete(fetchKey);
        const fetching = this.createOrFetch(repo, url, branches);
        const ok = fetching.then(
          () => true,
          () => false,
        );
        this.lastFetch.set(key, { startedAt: performance.now(), ok });
        return fetching;
      });
      this.nextFetch.set(fetchKey, next);
    }
    await next;
    return { url, repo };
  }

  /**
   * The mirror with these commits in it, fetched only when one is missing: what a commit contains
   * never changes, so questions about given commits need no fetch once they are here (the detector
   * warms the mirror when it sees a new revision).
   */
  async mirrorWith(url: string, commits: readonly CommitSha[]): Promise<Mirror> {
    const repo = await this.repoFor(url);
    // A fetch under way (the detector's warm-up) may be bringing them: wait for it, not after it.
    await this.lastFetch.get(repo.dir)?.ok;
    if ((await exists(path.join(repo.dir, 'HEAD'))) && (await repo.missingCommits(commits)).length === 0)
      return { url, repo };
    return this.syncMirror(url);
  }

  private async createOrFetch(repo: GitRepo, url: string, branches?: readonly string[]): Promise<void> {
    if (await exists(path.join(repo.dir, 'HEAD'))) {
      if (await mirrorIsCurrent(repo, branches)) return;
      // --verbose: git always prints its ref lines, so simple-git settles without waiting (repo.ts).
      await repo.run(['fetch', '--verbose', '--prune', '--no-tags', '--update-head-ok', 'origin']);
      return;
    }
    // First use: a partial clone (commits and trees; file contents come on demand, when a path
    // closure or a revert reads them), built aside and renamed into place only once complete.
    const parent = path.dirname(repo.dir);
    const building = `${repo.dir}.${randomBytes(6).toString('hex')}.tmp`;
    await mkdir(parent, { recursive: true });
    try {
      await repo
        .at(parent)
        // Not --quiet: "Cloning into" on stderr lets simple-git settle without waiting (repo.ts).
        .run([
          'clone',
          '--bare',
          '--no-tags',
          ...(this.deps.partialClone === false ? [] : ['--filter=blob:none']),
          '--',
          url,
          building,
        ]);
      const built = repo.at(building);
      await built.run(['config', 'remote.origin.fetch', '+refs/heads/*:refs/heads/*']);
      // Later fetches bring whole commits: the files of new revisions are the ones Rewind reads.
      await built.run(['config', '--unset', 'remote.origin.partialclonefilter'], { okExitCodes: [5] });
      await rename(building, repo.dir);
    } finally {
      await rm(building, { recursive: true, force: true });
    }
  }

  /**
   * Runs `fn` in a worktree of its own, detached at `at`. Worktrees have no checkout (reverts are
   * built from objects, see revert.ts): what they give a job is a private HEAD and index. They are
   * kept for the next job once `fn` succeeds (moving HEAD is one process; adding and removing a
   * worktree were three, under the mirror lock), and removed when it fails.
   */
  async withWorktree<T>(mirror: Mirror, at: CommitSha, fn: (worktree: GitRepo) => Promise<T>): Promise<T> {
    const idle = this.idleWorktrees.get(mirror.repo.dir) ?? [];
    this.idleWorktrees.set(mirror.repo.dir, idle);
    let dir = idle.pop();
    if (dir !== undefined) {
      await mirror.repo.at(dir).run(['update-ref', '--no-deref', 'HEAD', at]);
    } else {
      dir = path.join(this.root, 'worktrees', `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`);
      await mkdir(path.dirname(dir), { recursive: true });
      const added = dir;
      await this.withMirrorLock(mirror.url, () =>
        mirror.repo.run(['worktree', 'add', '--quiet', '--no-checkout', '--detach', added, at]),
      );
    }
    let result: T;
    try {
      result = await fn(mirror.repo.at(dir));
    } catch (error) {
      await this.removeWorktree(mirror, dir);
      throw error;
    }
    if (idle.length < IDLE_WORKTREES) idle.push(dir);
    else await this.removeWorktree(mirror, dir);
    return result;
  }

  private async removeWorktree(mirror: Mirror, dir: string): Promise<void> {
    await this.withMirrorLock(mirror.url, async () => {
      await mirror.repo.run(['worktree', 'remove', '--force', dir], { okExitCodes: [128] });
      await rm(dir, { recursive: true, force: true });
      await mirror.repo.run(['worktree', 'prune']);
    });
  }

  /**
   * Serialises `fn` with every other mirror-level operation on the same remote: within this process
   * by a promise chain (so its jobs queue here instead of polling the shared lock), and across
   * processes by the injected lock, keyed by the mirror's directory.
   */
  async withMirrorLock<T>(url: string, fn: () => Promise<T>): Promise<T> {
    const key = this.mirrorDir(url);
    const shared = this.deps.mirrorLock;
    const locked = shared
      ? () => shared(`git-mirror:${createHash('sha256').update(key).digest('hex').slice(0, 32)}`, fn)
      : fn;
    const previous = this.locks.get(key) ?? Promise.resolve();
    const next = previous.then(locked, locked);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(key, settled);
    try {
      return await next;
    } finally {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    }
  }

  private async repoFor(url: string): Promise<GitRepo> {
    const credentials = this.deps.credentials;
    const env = gitEnvironment({
      author: this.deps.author,
      allowedProtocols: this.deps.allowedProtocols ?? ['https'],
      ...(credentials === undefined
        ? {}
        : {
            askpass: await this.askpass(),
            credentials: { username: credentials.username ?? 'x-access-token', token: credentials.token },
          }),
    });
    return new GitRepo(this.mirrorDir(url), env, this.deps.observer);
  }

  private askpass(): Promise<string> {
    this.askpassReady ??= (async () => {
      const file = path.join(this.root, 'askpass.sh');
      await mkdir(this.root, { recursive: true });
      // Answers git's prompts from the environment git was started with (see gitEnvironment).
      await writeFile(
        file,
        '#!/bin/sh\ncase "$1" in\n  Username*) printf "%s\\n" "$REWIND_GIT_USERNAME" ;;\n  *) printf "%s\\n" "$REWIND_GIT_PASSWORD" ;;\nesac\n',
      );
      await chmod(file, 0o700);
      return file;
    })();
    return this.askpassReady;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the remote's branches are where the mirror has them (`branches`: only these, by name;
 * else every branch, and no other on either side), so a fetch would change nothing the caller
 * needs. Asked first because a fetch that brings nothing still costs: git's quickfetch checks the
 * mirror's connectivity before asking for a pack, and for a partial mirror that walk covers the
 * whole promisor pack (about 150 ms at 100,000 commits, git 2.39; bench/monorepo.ts), where
 * `ls-remote` is one ref advertisement. Callers name their branches because in a busy repository
 * some branch has nearly always moved: the people-first check before acting and the push need only
 * the branch they act on, which the detector's warm-up has usually just fetched.
 */
async function mirrorIsCurrent(repo: GitRepo, branches?: readonly string[]): Promise<boolean> {
  const refs = branches?.map((branch) => `refs/heads/${branch}`);
  const [remote, local] = await Promise.all([
    // One line per branch; when none matches, git prints nothing and simple-git waits 50 ms.
    repo.run(['ls-remote', '--heads', 'origin', ...(refs ?? [])]),
    repo.run(['for-each-ref', '--format=%(objectname)%09%(refname)', ...(refs ?? ['refs/heads/'])]),
  ]);
  // Both match patterns by their tail or prefix: keep the exact names asked for.
  const wanted = refs === undefined ? undefined : new Set(refs);
  const heads = (text: string) =>
    text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && (wanted === undefined || wanted.has(line.split('\t')[1] ?? '')))
      .sort()
      .join('\n');
  return heads(remote.stdout) === heads(local.stdout);
}
