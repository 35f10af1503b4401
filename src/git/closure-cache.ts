// Path closures, computed once per (source, revision). A commit's tree never changes, so neither does
// the closure of a path in it: in an incident storm (one commit breaking hundreds of apps on one
// source) every incident asks for the closures of every other app on that source, and each closure
// used to cost a fetch and 3-4 git processes. Here the tree is listed once per commit (one `ls-tree`),
// every kustomization file in it is read at once (one `git show` per 200 files), and results are
// kept per path.
import type { CommitSha } from '../domain/commit-sha.ts';
import { type ClosureSource, KUSTOMIZATION_FILES, pathClosure } from './path-closure.ts';
import type { GitRepo } from './repo.ts';

type EntryType = 'tree' | 'blob';

/** Files per `git show` (well under any command-line limit). */
const FILES_PER_READ = 200;

/** One commit's tree as pathClosure reads it, listed in one git process; file reads memoised. */
class TreeSnapshot implements ClosureSource {
  private readonly files = new Map<string, Promise<string>>();
  private kustomizations: Promise<ReadonlyMap<string, string>> | undefined;

  private constructor(
    private readonly repo: GitRepo,
    private readonly commit: CommitSha,
    private readonly types: ReadonlyMap<string, EntryType>,
    private readonly children: ReadonlyMap<string, readonly { name: string; type: EntryType }[]>,
    /** Byte size of each blob. */
    private readonly sizes: ReadonlyMap<string, number>,
  ) {}

  static async of(repo: GitRepo, commit: CommitSha): Promise<TreeSnapshot> {
    const out = await repo.text(['ls-tree', '-r', '-t', '-l', '-z', '--full-tree', commit]);
    const types = new Map<string, EntryType>([['', 'tree']]);
    const children = new Map<string, { name: string; type: EntryType }[]>();
    const sizes = new Map<string, number>();
    for (const line of out.split('\0')) {
      const tab = line.indexOf('\t');
      if (tab < 0) continue;
      const [, type, , size] = line.slice(0, tab).split(/ +/);
      if (type !== 'tree' && type !== 'blob') continue; // submodules (commit) are not followed
      const full = line.slice(tab + 1);
      if (type === 'blob') sizes.set(full, Number(size));
      const slash = full.lastIndexOf('/');
      const dir = slash < 0 ? '' : full.slice(0, slash);
      types.set(full, type);
      const list = children.get(dir) ?? [];
      list.push({ name: full.slice(slash + 1), type });
      children.set(dir, list);
    }
    return new TreeSnapshot(repo, commit, types, children, sizes);
  }

  objectType(commit: CommitSha, repoPath: string): Promise<EntryType | undefined> {
    this.assertSame(commit);
    return Promise.resolve(this.types.get(repoPath));
  }

  listDirectory(commit: CommitSha, dir: string): Promise<{ name: string; type: EntryType }[]> {
    this.assertSame(commit);
    return Promise.resolve([...(this.children.get(dir) ?? [])]);
  }

  async showFile(commit: CommitSha, repoPath: string): Promise<string> {
    this.assertSame(commit);
    // A batch that fails leaves every file to its own read.
    this.kustomizations ??= this.readKustomizations().catch(() => new Map<string, string>());
    const read = (await this.kustomizations).get(repoPath);
    if (read !== undefined) return read;
    let file = this.files.get(repoPath);
    if (!file) {
      file = this.repo.showFile(commit, repoPath);
      this.files.set(repoPath, file);
      file.catch(() => this.files.delete(repoPath));
    }
    return file;
  }

  /**
   * Every kustomization file of the commit (all pathClosure ever reads), in a few processes:
   * `git show` prints the blobs back to back, cut apart by their sizes from `ls-tree -l`. A batch
   * whose bytes do not add up (a file that is not UTF-8) is left to one read per file.
   */
  private async readKustomizations(): Promise<ReadonlyMap<string, string>> {
    const paths = [...this.sizes.keys()].filter((p) =>
      KUSTOMIZATION_FILES.includes(p.slice(p.lastIndexOf('/') + 1)),
    );
    const read = new Map<string, string>();
    for (let i = 0; i < paths.length; i += FILES_PER_READ) {
      const batch = paths.slice(i, i + FILES_PER_READ);
      const bytes = Buffer.from(await this.repo.text(['show', ...batch.map((p) => `${this.commit}:${p}`)]));
      const expected = batch.reduce((sum, p) => sum + (this.sizes.get(p) ?? 0), 0);
      if (bytes.length !== expected) continue;
      let offset = 0;
      for (const p of batch) {
        const size = this.sizes.get(p) ?? 0;
        read.set(p, bytes.subarray(offset, offset + size).toString('utf8'));
        offset += size;
      }
    }
    return read;
  }

  private assertSame(commit: CommitSha): void {
    if (commit !== this.commit) throw new Error(`tree snapshot of ${this.commit} asked about ${commit}`);
  }
}

interface CommitClosures {
  readonly snapshot: Promise<TreeSnapshot>;
  readonly byPath: Map<string, Promise<readonly string[]>>;
}

/** Closures per (source URL, commit, app path); keeps the most recently used commits only. */
export class ClosureCache {
  private readonly commits = new Map<string, CommitClosures>();

  constructor(private readonly maxCommits = 16) {}

  /** The cached closure, if it was computed (or is being computed) already. */
  cached(url: string, commit: CommitSha, appPath: string): Promise<readonly string[]> | undefined {
    return this.commits.get(this.key(url, commit))?.byPath.get(appPath);
  }

  /** The closure, computed from `repo` (the source's mirror, fetched) unless known already. */
  closureOf(url: string, repo: GitRepo, commit: CommitSha, appPath: string): Promise<readonly string[]> {
    const entry = this.entry(url, repo, commit);
    let closure = entry.byPath.get(appPath);
    if (!closure) {
      closure = entry.snapshot.then(async (tree) => (await pathClosure(tree, commit, appPath)).paths);
      entry.byPath.set(appPath, closure);
      closure.catch(() => entry.byPath.delete(appPath));
    }
    return closure;
  }

  private key(url: string, commit: CommitSha): string {
    return `${url}\0${commit}`;
  }

  private entry(url: string, repo: GitRepo, commit: CommitSha): CommitClosures {
    const key = this.key(url, commit);
    const found = this.commits.get(key);
    if (found) {
      // Most recently used last, so the oldest is the first to go.
      this.commits.delete(key);
      this.commits.set(key, found);
      return found;
    }
    const snapshot = TreeSnapshot.of(repo, commit);
    const created: CommitClosures = { snapshot, byPath: new Map() };
    snapshot.catch(() => this.commits.delete(key));
    this.commits.set(key, created);
    for (const oldest of this.commits.keys()) {
      if (this.commits.size <= this.maxCommits) break;
      this.commits.delete(oldest);
    }
    return created;
  }
}
