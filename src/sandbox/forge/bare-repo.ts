// The sandbox forge's Git side: branches and merges operate on the real bare repository, through
// the same GitRepo wrapper the bot uses (argv arrays, fixed environment, validated refs and SHAs).
// Merges never need a checkout: `merge-tree --write-tree` computes the result tree and
// `commit-tree` records it; only a rebase that cannot fast-forward replays commits in a worktree.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isValidBranchName } from '../../domain/branch.ts';
import { type CommitSha, isCommitSha } from '../../domain/commit-sha.ts';
import { type GitAuthor, GitRepo, gitEnvironment } from '../../git/repo.ts';

export type MergeMethod = 'merge' | 'squash' | 'rebase';

export type MergeResult =
  | { readonly outcome: 'merged'; readonly sha: CommitSha }
  | { readonly outcome: 'conflict' }
  | { readonly outcome: 'base-missing' };

export type RefUpdate = 'updated' | 'missing' | 'not-fast-forward' | 'unknown-sha';

export interface CommitInfo {
  readonly sha: CommitSha;
  readonly tree: string;
  readonly parents: string[];
  readonly message: string;
  readonly author: { name: string; email: string; date: string };
  readonly committer: { name: string; email: string; date: string };
}

/** GitHub records itself as the committer of web merges. */
const WEB_COMMITTER: GitAuthor = { name: 'GitHub', email: 'noreply@github.com' };
const ZERO_SHA = '0'.repeat(40);

export class BareRepo {
  private readonly git: GitRepo;

  constructor(readonly dir: string) {
    this.git = this.as(WEB_COMMITTER);
  }

  /** A GitRepo whose commits are authored by `author` and committed by "GitHub". */
  private as(author: GitAuthor): GitRepo {
    return new GitRepo(path.resolve(this.dir), {
      ...gitEnvironment({ author, allowedProtocols: [] }),
      GIT_COMMITTER_NAME: WEB_COMMITTER.name,
      GIT_COMMITTER_EMAIL: WEB_COMMITTER.email,
    });
  }

  async defaultBranch(): Promise<string> {
    const result = await this.git.run(['symbolic-ref', '--quiet', 'HEAD'], { okExitCodes: [1, 128] });
    const ref = result.stdout.trim();
    return result.exitCode === 0 && ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : 'main';
  }

  async branchSha(branch: string): Promise<CommitSha | undefined> {
    if (!isValidBranchName(branch)) return undefined;
    return this.git.resolveCommit(`refs/heads/${branch}`);
  }

  async commitExists(sha: string): Promise<boolean> {
    return isCommitSha(sha) && (await this.git.resolveCommit(sha)) !== undefined;
  }

  async commit(sha: CommitSha): Promise<CommitInfo> {
    const format = ['%T', '%P', '%an', '%ae', '%aI', '%cn', '%ce', '%cI', '%B'].join('%x00');
    const out = await this.git.text(['show', '-s', `--format=${format}`, sha, '--']);
    const [tree = '', parents = '', an = '', ae = '', ad = '', cn = '', ce = '', cd = '', ...message] =
      out.split('\0');
    return {
      sha,
      tree,
      parents: parents.split(' ').filter((p) => p !== ''),
      message: message.join('\0').trimEnd(),
      author: { name: an, email: ae, date: ad },
      committer: { name: cn, email: ce, date: cd },
    };
  }

  /** Commits reachable from `head` but not from `base` (oldest first, merges left out). */
  async commitsBetween(base: CommitSha, head: CommitSha): Promise<CommitSha[]> {
    const lines = await this.git.lines(['rev-list', '--reverse', '--no-merges', `${base}..${head}`, '--']);
    return lines.filter(isCommitSha);
  }

  /** Creates `refs/heads/<branch>` only if it does not exist yet. */
  async createBranch(branch: string, sha: CommitSha): Promise<'created' | 'exists'> {
    const result = await this.git.run(['update-ref', `refs/heads/${branch}`, sha, ZERO_SHA], {
      okExitCodes: [128],
    });
    return result.exitCode === 0 ? 'created' : 'exists';
  }

  async updateBranch(branch: string, sha: CommitSha, force: boolean): Promise<RefUpdate> {
    const current = await this.branchSha(branch);
    if (current === undefined) return 'missing';
    if (!(await this.commitExists(sha))) return 'unknown-sha';
    if (!force && !(await this.git.isAncestor(current, sha))) return 'not-fast-forward';
    const result = await this.git.run(['update-ref', `refs/heads/${branch}`, sha, current], {
      okExitCodes: [128],
    });
    return result.exitCode === 0 ? 'updated' : 'not-fast-forward';
  }

  async deleteBranch(branch: string): Promise<boolean> {
    const current = await this.branchSha(branch);
    if (current === undefined) return false;
    await this.git.run(['update-ref', '-d', `refs/heads/${branch}`, current]);
    return true;
  }

  /** The merged tree of two commits, or undefined when they conflict. */
  async mergeTree(base: CommitSha, head: CommitSha): Promise<string | undefined> {
    const result = await this.git.run(['merge-tree', '--write-tree', '--no-messages', base, head], {
      okExitCodes: [1],
    });
    return result.exitCode === 0 ? result.stdout.split('\n')[0]?.trim() : undefined;
  }

  /**
   * Merges `head` into `baseBranch` the way GitHub's merge button does. The base ref moves with a
   * compare-and-swap on its old value, so a concurrent push is never overwritten.
   */
  async merge(
    baseBranch: string,
    head: CommitSha,
    method: MergeMethod,
    message: string,
    author: GitAuthor,
  ): Promise<MergeResult> {
    const base = await this.branchSha(baseBranch);
    if (base === undefined) return { outcome: 'base-missing' };
    const git = this.as(author);
    let sha: CommitSha | undefined;
    if (method === 'rebase') {
      sha = (await this.git.isAncestor(base, head)) ? head : await this.replay(base, head);
    } else {
      const tree = await this.mergeTree(base, head);
      if (tree === undefined) return { outcome: 'conflict' };
      const parents = method === 'merge' ? ['-p', base, '-p', head] : ['-p', base];
      const out = (await git.text(['commit-tree', tree, ...parents, '-m', message])).trim();
      sha = isCommitSha(out) ? out : undefined;
    }
    if (sha === undefined) return { outcome: 'conflict' };
    await this.git.run(['update-ref', `refs/heads/${baseBranch}`, sha, base]);
    return { outcome: 'merged', sha };
  }

  /** Cherry-picks base..head onto base in a throwaway worktree; undefined on conflict. */
  private async replay(base: CommitSha, head: CommitSha): Promise<CommitSha | undefined> {
    const commits = await this.commitsBetween(base, head);
    const scratch = await mkdtemp(path.join(tmpdir(), 'rewind-forge-rebase-'));
    const worktree = path.join(scratch, 'wt');
    await this.git.run(['worktree', 'add', '--quiet', '--detach', worktree, base]);
    try {
      const wt = this.git.at(worktree);
      for (const commit of commits) {
        const picked = await wt.run(['cherry-pick', '--allow-empty', '--keep-redundant-commits', commit], {
          okExitCodes: [1],
        });
        if (picked.exitCode !== 0) return undefined;
      }
      return await wt.head();
    } finally {
      await this.git.run(['worktree', 'remove', '--force', worktree], { okExitCodes: [128] });
      await rm(scratch, { recursive: true, force: true });
    }
  }
}
