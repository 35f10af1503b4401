import { type ChildProcessByStdio, type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import path from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { type CommitSha, isCommitSha, parseCommitSha } from '../domain/commit-sha.ts';
import { GitError, InvalidInputError, redact } from '../domain/errors.ts';

// The one place Rewind talks to the git binary. Everything passes through `run`: an explicit
// working directory, a fixed environment (no prompts, no system config, only allowed transports),
// argv arrays only (no shell: a value can never become an option or a command), and git failures
// translated into the domain's GitError.
//
// Commands that talk to a remote (clone, fetch, push, ls-remote: REMOTE_COMMANDS) run through
// simple-git, with its guards against unsafe options and configuration; each is given flags that
// make git print something (clone and fetch --verbose write to stderr, push --porcelain to stdout),
// because simple-git waits 50 ms after every process that wrote nothing before it settles, and
// that wait cannot be configured (its completion plugin).
//
// Local plumbing spawns git directly, because simple-git cannot do what it needs: it cannot write
// a process's standard input (cat-file --batch, cat-file --batch-check, update-index --index-info),
// and most plumbing is silent by design (merge-base --is-ancestor, update-ref, config, worktree,
// rev-parse --quiet), so each of a rollback's dozen local processes would pay the 50 ms wait; that
// was a third of a rollback's time (bench/overhead.ts). Every argument is Rewind's own, values
// travel as single argv elements after `--` or as `-S<value>`/`-e <value>`, and transports and
// hooks are fixed by gitEnvironment. (A partial mirror's on-demand blob fetches happen inside
// plumbing such as cat-file; git runs them itself, with the same environment.)

/** Commands that contact the remote: they go through simple-git (see above). */
const REMOTE_COMMANDS: ReadonlySet<string> = new Set(['clone', 'fetch', 'push', 'ls-remote']);

// simple-git turns whatever the `errors` hook returns into its own error message, so the exit code
// travels as a first line of that message and is parsed back by `splitExitCode`.
const EXIT_PREFIX = 'rewind-exit-code=';
const EXIT_LINE = new RegExp(`^(?:Error: )?${EXIT_PREFIX}(\\d+)\\n`);

/** The tree with nothing in it (git knows it without storing it): the "parent" of a root commit. */
export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

export interface GitAuthor {
  readonly name: string;
  readonly email: string;
}

export interface GitRunOptions {
  /** Exit codes that are answers, not failures (e.g. 1 from `merge-base --is-ancestor`). */
  readonly okExitCodes?: readonly number[];
  /** Written to the process's standard input (e.g. `update-index --index-info`). */
  readonly input?: string;
  /** Extra environment for this process only (e.g. GIT_INDEX_FILE for a private index). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface GitRunResult {
  readonly stdout: string;
  readonly exitCode: number;
}

/** One git process Rewind ran: for benchmarks and metrics (never logged: messages are in args). */
export interface GitProcessEvent {
  readonly command: string;
  readonly args: readonly string[];
  readonly dir: string;
  /** performance.now() when the process was started, and its wall time. */
  readonly startedAt: number;
  readonly ms: number;
  readonly exitCode: number;
  /** Exit code 0, or one the caller accepts as an answer (okExitCodes). */
  readonly ok: boolean;
}

export type GitProcessObserver = (event: GitProcessEvent) => void;

/** A git directory (bare mirror or worktree) and the environment every command in it runs with. */
export class GitRepo {
  readonly dir: string;
  private readonly env: Readonly<Record<string, string>>;
  private readonly observer: GitProcessObserver | undefined;

  constructor(dir: string, env: Readonly<Record<string, string>>, observer?: GitProcessObserver) {
    if (!path.isAbsolute(dir)) throw new InvalidInputError(`git directory must be absolute, got "${dir}".`);
    this.dir = dir;
    this.env = env;
    this.observer = observer;
  }

  /** Same repository environment, another directory (a worktree of this mirror). */
  at(dir: string): GitRepo {
    return new GitRepo(dir, this.env, this.observer);
  }

  async run(args: readonly string[], options: GitRunOptions = {}): Promise<GitRunResult> {
    const command = args[0] ?? '';
    const startedAt = performance.now();
    const env = options.env === undefined ? this.env : { ...this.env, ...options.env };
    const { exitCode, stdout, stderr, spawnError } = REMOTE_COMMANDS.has(command)
      ? await runThroughSimpleGit(this.dir, args, env, options)
      : await spawnGit(this.dir, args, env, options.input);
    const ok =
      exitCode === 0 || (spawnError === undefined && (options.okExitCodes?.includes(exitCode) ?? false));
    this.observer?.({
      command,
      args,
      dir: this.dir,
      startedAt,
      ms: performance.now() - startedAt,
      exitCode,
      ok,
    });
    if (exitCode === 0) return { stdout, exitCode };
    if (spawnError === undefined && options.okExitCodes?.includes(exitCode)) return { stdout, exitCode };
    throw new GitError(
      `git ${command} failed in ${this.dir}`,
      { command, stderr: redact(spawnError?.message ?? `exit code ${exitCode}\n${stderr}${stdout}`) },
      spawnError === undefined ? {} : { cause: spawnError },
    );
  }

  /**
   * Reads objects (`<commit>:<path>` and the like) through one `git cat-file --batch` process: a
   * walk that reads many small objects (a path closure) costs one process instead of one each.
   */
  objectReader(): GitObjectReader {
    const child = spawn('git', ['cat-file', '--batch'], {
      cwd: this.dir,
      env: this.env,
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    const startedAt = performance.now();
    const reader = new GitObjectReader(child, () =>
      this.observer?.({
        command: 'cat-file',
        args: ['cat-file', '--batch'],
        dir: this.dir,
        startedAt,
        ms: performance.now() - startedAt,
        exitCode: child.exitCode ?? 0,
        ok: (child.exitCode ?? 0) === 0,
      }),
    );
    return reader;
  }

  async text(args: readonly string[], options: Omit<GitRunOptions, 'okExitCodes'> = {}): Promise<string> {
    return (await this.run(args, options)).stdout;
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

  /** Which of these commits the repository does not have (one process for all of them). */
  async missingCommits(shas: readonly CommitSha[]): Promise<CommitSha[]> {
    if (shas.length === 0) return [];
    const out = await this.text(['cat-file', '--batch-check=%(objectname) %(objecttype)'], {
      input: shas.map((sha) => `${sha}\n`).join(''),
    });
    const found = new Set(
      out
        .split('\n')
        .filter((line) => line.endsWith(' commit'))
        .map((line) => line.split(' ')[0]),
    );
    return shas.filter((sha) => !found.has(sha));
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
    // No `git maintenance run --auto` after every fetch: one process less on the hot path.
    ['maintenance.auto', 'false'],
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

export interface GitObject {
  readonly type: 'blob' | 'tree' | 'commit' | 'tag';
  readonly content: Buffer;
}

/** Answers `read` calls in order from one `git cat-file --batch` process. */
export class GitObjectReader {
  private buffered = Buffer.alloc(0);
  private readonly waiting: { resolve: (o: GitObject | undefined) => void; reject: (e: Error) => void }[] =
    [];
  private failure: Error | undefined;

  constructor(
    private readonly child: ChildProcessWithoutNullStreams | ChildProcessByStdio<Writable, Readable, null>,
    private readonly onClose: () => void,
  ) {
    child.stdout.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.answer();
    });
    child.stdin.on('error', () => undefined);
    const fail = (error: Error): void => {
      this.failure = error;
      for (const w of this.waiting.splice(0)) w.reject(error);
    };
    child.on('error', fail);
    child.on('close', (code) => {
      this.onClose();
      fail(
        new GitError('git cat-file --batch ended early', {
          command: 'cat-file',
          stderr: `exit code ${code}`,
        }),
      );
    });
  }

  /** The object named by `spec` (validated by the caller: no newline), or undefined when missing. */
  read(spec: string): Promise<GitObject | undefined> {
    if (/[\n\0]/.test(spec)) return Promise.reject(new InvalidInputError('object name with a newline'));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(`${spec}\n`);
    });
  }

  close(): void {
    this.child.stdin.end();
  }

  private answer(): void {
    for (;;) {
      const waiter = this.waiting[0];
      const eol = this.buffered.indexOf(10);
      if (waiter === undefined || eol < 0) return;
      const header = this.buffered.subarray(0, eol).toString('utf8').split(' ');
      const [, type = '', size = ''] = header;
      if (header.length !== 3 || !/^\d+$/.test(size)) {
        // "<spec> missing" / "<spec> ambiguous"
        this.buffered = this.buffered.subarray(eol + 1);
        this.waiting.shift();
        waiter.resolve(undefined);
        continue;
      }
      const end = eol + 1 + Number(size);
      if (this.buffered.length < end + 1) return;
      const content = Buffer.from(this.buffered.subarray(eol + 1, end));
      this.buffered = this.buffered.subarray(end + 1);
      this.waiting.shift();
      waiter.resolve({ type: type as GitObject['type'], content });
    }
  }
}

interface GitProcessResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** git could not be started at all (missing binary or directory). */
  readonly spawnError?: Error;
}

/**
 * A remote command through simple-git (a new instance per call: it is cheap, and the environment
 * may differ per call). It must print something: simple-git holds a silent process 50 ms.
 */
async function runThroughSimpleGit(
  dir: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  options: GitRunOptions,
): Promise<GitProcessResult> {
  if (options.input !== undefined || args.includes('--quiet') || args.includes('-q')) {
    throw new InvalidInputError(
      `git ${args[0]} talks to a remote through simple-git: no input, and no --quiet (a silent process costs 50 ms).`,
    );
  }
  try {
    return { exitCode: 0, stdout: await simpleGitFor(dir, env).raw([...args]), stderr: '' };
  } catch (cause) {
    const { exitCode, output } = splitExitCode(cause);
    if (exitCode !== undefined) return { exitCode, stdout: '', stderr: output };
    // git did not run, or did not exit (simple-git refuses a directory that does not exist).
    return {
      exitCode: -1,
      stdout: '',
      stderr: '',
      spawnError: cause instanceof Error ? cause : new Error(String(cause)),
    };
  }
}

function simpleGitFor(dir: string, env: Readonly<Record<string, string>>): SimpleGit {
  return simpleGit({
    baseDir: dir,
    binary: 'git',
    trimmed: false,
    // simple-git guards against attacker-set git configuration; these four are Rewind's own fixed
    // hardening (gitEnvironment): only allowed transports, no hooks, askpass for the token.
    unsafe: {
      allowUnsafeConfigEnvCount: true,
      allowUnsafeProtocolOverride: true,
      allowUnsafeHooksPath: true,
      allowUnsafeAskPass: true,
    },
    // Every non-zero exit is reported with its code, even when git wrote nothing to stderr.
    errors: (error, result) => {
      if (result.exitCode <= 0) return error;
      return Buffer.concat([
        Buffer.from(`${EXIT_PREFIX}${result.exitCode}\n`),
        ...result.stdErr,
        ...result.stdOut,
      ]);
    },
  }).env({ ...env });
}

function splitExitCode(error: unknown): { exitCode?: number; output: string } {
  const message = error instanceof Error ? error.message : String(error);
  const match = EXIT_LINE.exec(message);
  if (match === null) return { output: message };
  return { exitCode: Number(match[1]), output: message.slice(match[0].length) };
}

function spawnGit(
  cwd: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  input: string | undefined,
): Promise<GitProcessResult> {
  return new Promise((resolve) => {
    const child = spawn('git', [...args], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let spawnError: Error | undefined;
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) => (spawnError = error));
    // A process that exits before reading its input must not crash Rewind with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
    child.on('close', (code) =>
      resolve({
        exitCode: code ?? -1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ...(spawnError === undefined ? {} : { spawnError }),
      }),
    );
  });
}
