import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CommitSha } from '../domain/commit-sha.ts';
import { assertRemoteAllowed, type GitTransport } from './remote-url.ts';
import { type GitAuthor, gitEnvironment, GitRepo } from './repo.ts';

export interface GitCredentials {
  /** Defaults to `x-access-token`, which GitHub accepts for installation and personal tokens. */
  readonly username?: string;
  readonly token: string;
}

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
}

/** A bare mirror of one remote, shared by every job for that remote. */
export interface Mirror {
  readonly url: string;
  readonly repo: GitRepo;
}

/**
 * Git working area: one bare mirror per remote (keyed by a hash of the URL, so URLs never become
 * paths) refreshed by fetch, and one throw-away detached worktree per job. Mirror-level operations
 * (init, fetch, worktree add/remove, push) are serialised per mirror; jobs for different apps work
 * in their own worktrees concurrently.
 */
export class GitWorkspace {
  private readonly root: string;
  private readonly deps: GitWorkspaceDeps;
  private readonly locks = new Map<string, Promise<unknown>>();
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

  /** Creates the mirror on first use, then fetches every branch (pruning deleted ones). */
  async syncMirror(url: string): Promise<Mirror> {
    this.assertAllowed(url);
    const repo = await this.repoFor(url);
    await this.withMirrorLock(url, async () => {
      if (!(await exists(path.join(repo.dir, 'HEAD')))) {
        await mkdir(repo.dir, { recursive: true });
        await repo.run(['init', '--quiet', '--bare']);
        await repo.run(['remote', 'add', 'origin', url]);
        await repo.run(['config', 'remote.origin.fetch', '+refs/heads/*:refs/heads/*']);
      }
      await repo.run(['fetch', '--quiet', '--prune', '--no-tags', '--update-head-ok', 'origin']);
    });
    return { url, repo };
  }

  /** Runs `fn` in a fresh worktree detached at `at`, and removes the worktree afterwards. */
  async withWorktree<T>(mirror: Mirror, at: CommitSha, fn: (worktree: GitRepo) => Promise<T>): Promise<T> {
    const dir = path.join(
      this.root,
      'worktrees',
      `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`,
    );
    await mkdir(path.dirname(dir), { recursive: true });
    await this.withMirrorLock(mirror.url, () =>
      mirror.repo.run(['worktree', 'add', '--quiet', '--detach', dir, at]),
    );
    try {
      return await fn(mirror.repo.at(dir));
    } finally {
      await this.withMirrorLock(mirror.url, async () => {
        await mirror.repo.run(['worktree', 'remove', '--force', dir], { okExitCodes: [128] });
        await rm(dir, { recursive: true, force: true });
        await mirror.repo.run(['worktree', 'prune']);
      });
    }
  }

  /** Serialises `fn` with every other mirror-level operation on the same remote (within this process). */
  async withMirrorLock<T>(url: string, fn: () => Promise<T>): Promise<T> {
    const key = this.mirrorDir(url);
    const previous = this.locks.get(key) ?? Promise.resolve();
    const next = previous.then(fn, fn);
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
    return new GitRepo(this.mirrorDir(url), env);
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
