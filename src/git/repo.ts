import path from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { type CommitSha, isCommitSha, parseCommitSha } from '../domain/commit-sha.ts';
import { GitError, InvalidInputError, redact } from '../domain/errors.ts';

// The one place Rewind talks to the git binary. Everything passes through `run`: an explicit
// working directory, a fixed environment (no prompts, no system config, only allowed transports),
// argv arrays only (no shell), and git failures translated into the domain's GitError.

export interface GitAuthor {
  readonly name: string;
  readonly email: string;
}

export interface GitRunOptions {
  /** Exit codes that are answers, not failures (e.g. 1 from `merge-base --is-ancestor`). */
  readonly okExitCodes?: readonly number[];
}

export interface GitRunResult {
  readonly stdout: string;
  readonly exitCode: number;
}

// simple-git turns whatever the `errors` hook returns into its own GitError message, so the exit
// code travels as a first line in that message and is parsed back by `splitExitCode`.
const EXIT_PREFIX = 'rewind-exit-code=';

function splitExitCode(error: unknown): { exitCode?: number; output: string } {
  const message = error instanceof Error ? error.message : String(error);
  const match = /^(?:Error: )?rewind-exit-code=(\d+)\n/.exec(message);
  if (match === null) return { output: message };
  return { exitCode: Number(match[1]), output: message.slice(match[0].length) };
}

/** A git directory (bare mirror or worktree) and the environment every command in it runs with. */
export class GitRepo {
  readonly dir: string;
  private readonly env: Readonly<Record<string, string>>;
  private client: SimpleGit | undefined;

  constructor(dir: string, env: Readonly<Record<string, string>>) {
    if (!path.isAbsolute(dir)) throw new InvalidInputError(`git directory must be absolute, got "${dir}".`);
    this.dir = dir;
    this.env = env;
  }

  private gitClient(): SimpleGit {
    // Created lazily: simple-git refuses a directory that does not exist yet (a mirror before init).
    this.client ??= simpleGit({
      baseDir: this.dir,
      binary: 'git',
      maxConcurrentProcesses: 4,
      trimmed: false,
      // simple-git guards against attacker-set git config; these four are Rewind's own fixed
      // hardening (gitEnvironment): only allowed transports, no hooks, askpass for the token.
      unsafe: {
        allowUnsafeConfigEnvCount: true,
        allowUnsafeProtocolOverride: true,
        allowUnsafeHooksPath: true,
        allowUnsafeAskPass: true,
      },
      // Every non-zero exit is reported with its code, even when git wrote nothing to stderr.
      errors: (error, result) => {
        if (result.exitCode === 0) return error;
        return Buffer.concat([
          Buffer.from(`${EXIT_PREFIX}${result.exitCode}\n`),
          ...result.stdErr,
          ...result.stdOut,
        ]);
      },
    }).env({ ...this.env });
    return this.client;
  }

  /** Same repository environment, another directory (a worktree of this mirror). */
  at(dir: string): GitRepo {
    return new GitRepo(dir, this.env);
  }

  async run(args: readonly string[], options: GitRunOptions = {}): Promise<GitRunResult> {
    const command = args[0] ?? '';
    try {
      const stdout = await this.gitClient().raw([...args]);
      return { stdout, exitCode: 0 };
    } catch (cause) {
      const { exitCode, output } = splitExitCode(cause);
      if (exitCode !== undefined && options.okExitCodes?.includes(exitCode)) {
        return { stdout: output, exitCode };
      }
      throw new GitError(
        `git ${command} failed in ${this.dir}`,
        { command, stderr: redact(output) },
        { cause },
      );
    }
  }

  async text(args: readonly string[]): Promise<string> {
    return (await this.run(args)).stdout;
  }

  async lines(args: readonly string[]): Promise<string[]> {
    return (await this.text(args)).split('\n').filter((l) => l !== '');
  }

  /** Resolves a validated ref or SHA to a commit, or undefined when it does not exist. */
  async resolveCommit(ref: string): Promise<CommitSha | undefined> {
    assertSafeRevisionArg(ref);
    const result = await this.run(
      ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`],
      {
        okExitCodes: [1, 128],
      },
    );
    const sha = result.stdout.trim();
    return result.exitCode === 0 && isCommitSha(sha) ? sha : undefined;
  }

  async isAncestor(ancestor: CommitSha, descendant: CommitSha): Promise<boolean> {
    const result = await this.run(['merge-base', '--is-ancestor', ancestor, descendant], {
      okExitCodes: [1],
    });
    return result.exitCode === 0;
  }

  async head(): Promise<CommitSha> {
    return parseCommitSha((await this.text(['rev-parse', 'HEAD'])).trim(), 'HEAD');
  }

  /** Object type at `<commit>:<path>` (`tree`, `blob`), or undefined when the path does not exist there. */
  async objectType(commit: CommitSha, repoPath: string): Promise<'tree' | 'blob' | undefined> {
    const spec = repoPath === '' ? `${commit}^{tree}` : `${commit}:${assertSafeRepoPath(repoPath)}`;
    const result = await this.run(['cat-file', '-t', spec], { okExitCodes: [128] });
    const type = result.stdout.trim();
    return type === 'tree' || type === 'blob' ? type : undefined;
  }

  /** A file's content at a commit (never the working tree). */
  async showFile(commit: CommitSha, repoPath: string): Promise<string> {
    return this.text(['show', `${commit}:${assertSafeRepoPath(repoPath)}`]);
  }

  /** Names of the entries directly inside a directory at a commit. */
  async listDirectory(commit: CommitSha, dir: string): Promise<{ name: string; type: 'tree' | 'blob' }[]> {
    const spec = dir === '' ? commit : `${commit}:${assertSafeRepoPath(dir)}`;
    const out = await this.text(['ls-tree', '-z', spec]);
    return out
      .split('\0')
      .filter((l) => l !== '')
      .flatMap((line) => {
        const tab = line.indexOf('\t');
        const type = line.slice(0, tab).split(' ')[1];
        const name = line.slice(tab + 1);
        return type === 'tree' || type === 'blob' ? [{ name, type }] : [];
      });
  }

  /** Files changed by a commit relative to its first parent (the mainline for merges). */
  async changedFiles(commit: CommitSha): Promise<string[]> {
    const out = await this.text([
      'diff-tree',
      '-z',
      '-r',
      '--no-commit-id',
      '--name-only',
      '--root',
      '--diff-merges=first-parent',
      commit,
    ]);
    return [...new Set(out.split('\0').filter((l) => l !== ''))];
  }
}

/** Repo-relative POSIX path: no absolute paths, no '..', no NUL; never starts with '-'. */
export function assertSafeRepoPath(repoPath: string): string {
  const normalised = path.posix.normalize(repoPath);
  if (
    repoPath === '' ||
    repoPath.includes('\0') ||
    path.posix.isAbsolute(repoPath) ||
    normalised === '..' ||
    normalised.startsWith('../') ||
    repoPath.startsWith('-')
  ) {
    throw new InvalidInputError(
      `Unsafe repository path "${repoPath.slice(0, 200)}": use a relative path inside the repository.`,
    );
  }
  return normalised;
}

/** A revision argument must be a SHA or a plain ref name, never an option. */
export function assertSafeRevisionArg(ref: string): string {
  if (isCommitSha(ref)) return ref;
  if (
    !/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(ref) ||
    ref.includes('..') ||
    ref.includes('//') ||
    ref.endsWith('.lock')
  ) {
    throw new InvalidInputError(
      `Unsafe git revision "${ref.slice(0, 120)}": expected a commit SHA or a ref name.`,
    );
  }
  return ref;
}

/** Pathspecs for a set of repo paths; '' (the repository root) becomes '.'. */
export function pathspecs(paths: readonly string[]): string[] {
  return paths.length === 0 ? [] : paths.map((p) => (p === '' ? '.' : assertSafeRepoPath(p)));
}

export function gitEnvironment(options: {
  readonly author: GitAuthor;
  readonly allowedProtocols: readonly string[];
  readonly askpass?: string;
  readonly credentials?: { readonly username: string; readonly token: string };
  readonly base?: Readonly<Record<string, string | undefined>>;
}): Record<string, string> {
  const base = options.base ?? process.env;
  const env: Record<string, string> = {};
  // Keep only what git needs to find itself and its home; never leak the bot's own secrets into git.
  for (const key of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'SYSTEMROOT']) {
    const value = base[key];
    if (value !== undefined) env[key] = value;
  }
  const config: [string, string][] = [
    ['protocol.allow', 'never'],
    ...options.allowedProtocols.map((p): [string, string] => [`protocol.${p}.allow`, 'always']),
    ['core.hooksPath', '/dev/null'],
    ['commit.gpgSign', 'false'],
    ['gc.auto', '0'],
    ['advice.detachedHead', 'false'],
    ['merge.conflictStyle', 'merge'],
  ];
  env['GIT_CONFIG_COUNT'] = String(config.length);
  config.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  Object.assign(env, {
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: options.author.name,
    GIT_AUTHOR_EMAIL: options.author.email,
    GIT_COMMITTER_NAME: options.author.name,
    GIT_COMMITTER_EMAIL: options.author.email,
    LC_ALL: 'C',
  });
  if (options.askpass !== undefined && options.credentials !== undefined) {
    // The token travels in the child's environment and is answered by the askpass helper:
    // it never appears in argv, remote URLs, or git's error messages.
    env['GIT_ASKPASS'] = options.askpass;
    env['REWIND_GIT_USERNAME'] = options.credentials.username;
    env['REWIND_GIT_PASSWORD'] = options.credentials.token;
  }
  return env;
}
