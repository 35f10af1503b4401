// Git access for the sandbox's Flux-like syncer: one bare mirror per GitRepository under the cache
// directory, fetched from a local path or file:// URL, and read-only views of a commit's tree (the
// "artifact"). Files are always read from the commit, never from a working tree. Every git call goes
// through execFile with paths and URLs after `--`.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SHA1 = /^[0-9a-f]{40}$/;
const MAX_CACHED_TREES = 64;
/**
 * Bytes of file contents kept across commits and Kustomizations. A blob id names its contents, so a
 * cached blob is never stale; a fleet whose apps share a base reads each base file once per change
 * instead of once per app (500 apps: 500 `git cat-file` processes per file before).
 */
const MAX_CACHED_BLOB_BYTES = 32 * 1024 * 1024;
/** Where `resolve` keeps the remote's HEAD (a bare mirror's own HEAD is not the remote's). */
const REMOTE_HEAD_REF = 'refs/remote-head/HEAD';

export class GitError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'GitError';
  }
}

function git(args: readonly string[], cwd: string, signal?: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      {
        cwd,
        encoding: 'buffer',
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' },
        ...(signal ? { signal } : {}),
      },
      (error, stdout, stderr) => {
        if (error) {
          const text = stderr.toString('utf8').trim();
          reject(new GitError(text || error.message, text));
        } else resolve(stdout);
      },
    );
  });
}

/** A local path or file:// URL -> an absolute filesystem path. Other schemes are refused. */
export function localRepositoryPath(url: string): string {
  if (url.startsWith('file://')) return fileURLToPath(url);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/]+@[^/]+:/.test(url) || url.includes('::')) {
    throw new GitError(`unsupported URL '${url}': the sandbox fetches only local paths and file:// URLs`, '');
  }
  return path.resolve(url);
}

/** A conservative check of a branch name (git check-ref-format rules that matter here). */
export function isValidBranchName(branch: string): boolean {
  return (
    /^[A-Za-z0-9._/+-]+$/.test(branch) &&
    !branch.startsWith('-') &&
    !branch.startsWith('/') &&
    !branch.endsWith('/') &&
    !branch.endsWith('.lock') &&
    !branch.endsWith('.') &&
    !branch.includes('..') &&
    !branch.includes('//')
  );
}

export interface TreeEntry {
  type: 'blob' | 'tree';
  oid: string;
  size: number;
}

/** An immutable view of one commit's files. Paths are POSIX, relative to the repository root. */
export class CommitTree {
  constructor(
    readonly sha: string,
    private readonly entries: ReadonlyMap<string, TreeEntry>,
    private readonly readObject: (oid: string) => Promise<Buffer>,
  ) {}

  /** Every file and directory of the commit, in git's order. */
  all(): Iterable<[string, TreeEntry]> {
    return this.entries.entries();
  }

  entry(filePath: string): TreeEntry | undefined {
    if (filePath === '' || filePath === '.') return { type: 'tree', oid: '', size: 0 };
    return this.entries.get(filePath);
  }

  /** Direct children of a directory ('' = root): names with their entries, sorted by name. */
  list(dir: string): { name: string; path: string; entry: TreeEntry }[] {
    const prefix = dir === '' || dir === '.' ? '' : `${dir}/`;
    const children: { name: string; path: string; entry: TreeEntry }[] = [];
    for (const [entryPath, entry] of this.entries) {
      if (!entryPath.startsWith(prefix)) continue;
      const name = entryPath.slice(prefix.length);
      if (name === '' || name.includes('/')) continue;
      children.push({ name, path: entryPath, entry });
    }
    return children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async readText(filePath: string): Promise<string> {
    const entry = this.entries.get(filePath);
    if (!entry || entry.type !== 'blob') throw new Error(`${filePath}: no such file in commit ${this.sha}`);
    return (await this.readObject(entry.oid)).toString('utf8');
  }
}

export interface FetchResult {
  sha: string;
  /** sha256 of the commit's tree listing: stands in for the digest of Flux's artifact tarball. */
  digest: string;
  /** Sum of the commit's file sizes, in bytes. */
  size: number;
}

/** The bare mirrors of every GitRepository, keyed by namespace/name. */
export class GitMirrors {
  private readonly trees = new Map<string, Promise<CommitTree>>();
  /** Blob contents by mirror and blob id, least recently used first. */
  private readonly blobs = new Map<string, { bytes: Promise<Buffer>; size: number }>();
  private blobBytes = 0;
  /** The commit each mirror last fetched per source and ref: what an unchanged remote still has. */
  private readonly fetched = new Map<string, string>();
  /** The last queued fetch per mirror directory (settled, never rejected). */
  private readonly fetches = new Map<string, Promise<void>>();

  constructor(private readonly cacheDir: string) {}

  /**
   * Runs `work` when no other fetch into `dir` is running. One mirror is shared by every caller for a
   * repository (Argo's refresh and operation queues, several apps): two overlapping `git fetch`es that
   * both move a ref fail with "cannot lock ref ... is at X but expected Y" (Argo's repo-server holds a
   * per-repository lock for the same reason).
   */
  private oneFetchAtATime<T>(dir: string, work: () => Promise<T>): Promise<T> {
    const previous = this.fetches.get(dir) ?? Promise.resolve();
    const result = previous.then(work);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.fetches.set(dir, settled);
    void settled.then(() => {
      if (this.fetches.get(dir) === settled) this.fetches.delete(dir);
    });
    return result;
  }

  mirrorDir(namespace: string, name: string): string {
    return path.join(this.cacheDir, 'gitrepository', namespace, `${name}.git`);
  }

  /** Fetches `branch` from `url` into the mirror and returns the commit it points to. */
  async fetch(
    namespace: string,
    name: string,
    url: string,
    branch: string,
    signal?: AbortSignal,
  ): Promise<FetchResult> {
    if (!isValidBranchName(branch)) throw new GitError(`invalid branch name '${branch}'`, '');
    const source = localRepositoryPath(url);
    const dir = this.mirrorDir(namespace, name);
    const ref = `refs/heads/${branch}`;
    const fetchedKey = `${dir}\0${source}\0${ref}`;
    const sha = await this.oneFetchAtATime(dir, async () => {
      // source-controller skips the clone when the remote's branch is still at the revision it has
      // (fluxcd/source-controller#665, "Optimise clone operations"); the sandbox's remotes are local
      // repositories, so the branch is read from their files, without a git process.
      const known = this.fetched.get(fetchedKey);
      if (known !== undefined && (await localBranchHead(source, ref)) === known) return known;
      await this.ensureMirror(dir, signal);
      try {
        await git(['fetch', '--quiet', '--no-tags', '--force', '--', source, `+${ref}:${ref}`], dir, signal);
      } catch (error) {
        if (error instanceof GitError && /couldn't find remote ref/i.test(error.stderr)) {
          throw new GitError(`couldn't find remote ref "${ref}"`, error.stderr);
        }
        throw error;
      }
      const head = (await git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], dir, signal))
        .toString('utf8')
        .trim();
      if (SHA1.test(head)) this.fetched.set(fetchedKey, head);
      return head;
    });
    if (!SHA1.test(sha)) throw new GitError(`unexpected revision '${sha}' for ${ref}`, '');
    const { digest, size } = await this.treeSummary(namespace, name, sha);
    return { sha, digest, size };
  }

  /**
   * Fetches every branch and the remote's HEAD into the mirror, as Argo CD's repo-server does, and
   * resolves `revision` (a branch, `HEAD`/empty, or a full commit SHA) to a commit.
   */
  async resolve(
    namespace: string,
    name: string,
    url: string,
    revision: string,
    signal?: AbortSignal,
  ): Promise<FetchResult> {
    const wanted = revision === '' ? 'HEAD' : revision;
    if (!SHA1.test(wanted) && !isValidBranchName(wanted)) {
      throw new GitError(`invalid revision '${wanted}'`, '');
    }
    const source = localRepositoryPath(url);
    const dir = this.mirrorDir(namespace, name);
    const ref = SHA1.test(wanted) ? wanted : wanted === 'HEAD' ? REMOTE_HEAD_REF : `refs/heads/${wanted}`;
    const sha = await this.oneFetchAtATime(dir, async () => {
      await this.ensureMirror(dir, signal);
      await git(
        [
          'fetch',
          '--quiet',
          '--no-tags',
          '--force',
          '--prune',
          '--',
          source,
          '+refs/heads/*:refs/heads/*',
          `+HEAD:${REMOTE_HEAD_REF}`,
        ],
        dir,
        signal,
      );
      try {
        return (await git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], dir, signal))
          .toString('utf8')
          .trim();
      } catch (error) {
        throw new GitError(`unable to resolve '${wanted}' to a commit SHA`, (error as GitError).stderr ?? '');
      }
    });
    if (!SHA1.test(sha)) throw new GitError(`unable to resolve '${wanted}' to a commit SHA`, '');
    const { digest, size } = await this.treeSummary(namespace, name, sha);
    return { sha, digest, size };
  }

  private async ensureMirror(dir: string, signal?: AbortSignal): Promise<void> {
    if (await exists(path.join(dir, 'HEAD'))) return;
    await mkdir(dir, { recursive: true });
    await git(['init', '--bare', '--quiet', '--', dir], this.cacheDir, signal);
  }

  /** The files of a fetched commit. Cached: a commit never changes. */
  tree(namespace: string, name: string, sha: string): Promise<CommitTree> {
    if (!SHA1.test(sha)) return Promise.reject(new GitError(`invalid commit '${sha}'`, ''));
    const dir = this.mirrorDir(namespace, name);
    const cacheKey = `${dir}\0${sha}`;
    let tree = this.trees.get(cacheKey);
    if (!tree) {
      tree = this.loadTree(dir, sha).then((loaded) => loaded.tree);
      tree.catch(() => this.trees.delete(cacheKey));
      this.trees.set(cacheKey, tree);
      // Keep the most recent commits only; the oldest entry is the first in insertion order.
      if (this.trees.size > MAX_CACHED_TREES) this.trees.delete(this.trees.keys().next().value!);
    }
    return tree;
  }

  private async treeSummary(
    namespace: string,
    name: string,
    sha: string,
  ): Promise<{ digest: string; size: number }> {
    const tree = await this.tree(namespace, name, sha);
    let size = 0;
    const hash = createHash('sha256');
    for (const [entryPath, entry] of tree.all()) {
      size += entry.size;
      hash.update(`${entry.type} ${entry.oid} ${entryPath}\n`);
    }
    return { digest: `sha256:${hash.digest('hex')}`, size };
  }

  private async loadTree(dir: string, sha: string): Promise<{ tree: CommitTree }> {
    const listing = await git(['ls-tree', '-r', '-t', '-l', '-z', sha], dir);
    const entries = new Map<string, TreeEntry>();
    for (const record of listing.toString('utf8').split('\0')) {
      if (!record) continue;
      const tab = record.indexOf('\t');
      const [, type, oid, size] = record.slice(0, tab).trim().split(/\s+/);
      const entryPath = record.slice(tab + 1);
      if ((type !== 'blob' && type !== 'tree') || !oid) continue; // submodules (commit) are skipped
      entries.set(entryPath, { type, oid, size: type === 'blob' ? Number(size) || 0 : 0 });
    }
    return { tree: new CommitTree(sha, entries, (oid) => this.readBlob(dir, oid)) };
  }

  private readBlob(dir: string, oid: string): Promise<Buffer> {
    const key = `${dir}\0${oid}`;
    const cached = this.blobs.get(key);
    if (cached) {
      this.blobs.delete(key);
      this.blobs.set(key, cached);
      return cached.bytes;
    }
    const slot = { bytes: git(['cat-file', 'blob', oid], dir), size: 0 };
    this.blobs.set(key, slot);
    slot.bytes.then(
      (bytes) => {
        if (this.blobs.get(key) !== slot) return;
        slot.size = bytes.length;
        this.blobBytes += bytes.length;
        for (const [oldest, entry] of this.blobs) {
          if (this.blobBytes <= MAX_CACHED_BLOB_BYTES) break;
          this.blobs.delete(oldest);
          this.blobBytes -= entry.size;
        }
      },
      () => {
        if (this.blobs.get(key) === slot) this.blobs.delete(key);
      },
    );
    return slot.bytes;
  }
}

/**
 * The commit `ref` (refs/heads/<valid branch>) points to in the local repository at `repo` (bare, or
 * a working tree's .git), read from its loose ref or packed-refs; undefined when it cannot be told
 * that way (a symbolic ref, another ref storage): the caller then fetches. git replaces a loose ref by
 * renaming a lock file over it, so a read sees the old or the new commit, never half of one.
 */
async function localBranchHead(repo: string, ref: string): Promise<string | undefined> {
  for (const gitDir of [repo, path.join(repo, '.git')]) {
    const loose = await readFile(path.join(gitDir, ref), 'utf8').catch(() => undefined);
    if (loose !== undefined) return SHA1.test(loose.trim()) ? loose.trim() : undefined;
    const packed = await readFile(path.join(gitDir, 'packed-refs'), 'utf8').catch(() => undefined);
    if (packed === undefined) continue;
    for (const line of packed.split('\n')) {
      const [sha, name] = line.split(' ');
      if (name === ref && sha && SHA1.test(sha)) return sha;
    }
    return undefined;
  }
  return undefined;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
