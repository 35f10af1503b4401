import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { CommitSha } from '../domain/commit-sha.ts';
import { assertSafeRepoPath, type GitObjectReader, GitRepo } from './repo.ts';

// The path closure of an app: every repository path whose content can change what the app deploys.
// Read from the commit's tree (never a working tree), following kustomization.yaml references.

export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

export interface PathClosure {
  /** Minimal set of repo-relative paths (directories or files); '' is the whole repository. */
  readonly paths: readonly string[];
  /** References that could not be followed (remote URLs, missing paths, paths outside the repo). */
  readonly skipped: readonly { readonly from: string; readonly ref: string; readonly why: string }[];
}

/** What pathClosure reads of a commit (a GitRepo, or one commit's tree listed once: closure-cache.ts). */
export interface ClosureSource {
  objectType(commit: CommitSha, repoPath: string): Promise<'tree' | 'blob' | undefined>;
  listDirectory(commit: CommitSha, dir: string): Promise<{ name: string; type: 'tree' | 'blob' }[]>;
  showFile(commit: CommitSha, repoPath: string): Promise<string>;
}

/** One commit's tree as the walk reads it. */
type CommitTree = Pick<TreeReader, 'objectType' | 'listDirectory' | 'showFile'>;

export async function pathClosure(
  repo: GitRepo | ClosureSource,
  commit: CommitSha,
  appPath: string,
): Promise<PathClosure> {
  if (!(repo instanceof GitRepo)) return closureFrom(atCommit(repo, commit), appPath);
  // Every object the walk reads comes through one process.
  const objects = repo.objectReader();
  try {
    return await closureFrom(new TreeReader(objects, commit), appPath);
  } finally {
    objects.close();
  }
}

function atCommit(source: ClosureSource, commit: CommitSha): CommitTree {
  return {
    objectType: (repoPath) => source.objectType(commit, repoPath),
    listDirectory: (dir) => source.listDirectory(commit, dir),
    showFile: (repoPath) => source.showFile(commit, repoPath),
  };
}

/** Types, directory listings and file contents at one commit, from a cat-file reader. */
class TreeReader {
  constructor(
    private readonly objects: GitObjectReader,
    private readonly commit: CommitSha,
  ) {}

  private read(repoPath: string) {
    return this.objects.read(
      repoPath === '' ? `${this.commit}^{tree}` : `${this.commit}:${assertSafeRepoPath(repoPath)}`,
    );
  }

  async objectType(repoPath: string): Promise<'tree' | 'blob' | undefined> {
    const type = (await this.read(repoPath))?.type;
    return type === 'tree' || type === 'blob' ? type : undefined;
  }

  async listDirectory(dir: string): Promise<{ name: string; type: 'tree' | 'blob' }[]> {
    const tree = await this.read(dir);
    if (tree?.type !== 'tree') return [];
    // Tree entries: "<mode> <name>\0" and a 20-byte object id; submodules (160000) are skipped.
    const entries: { name: string; type: 'tree' | 'blob' }[] = [];
    let at = 0;
    while (at < tree.content.length) {
      const space = tree.content.indexOf(32, at);
      const nul = tree.content.indexOf(0, space);
      const mode = tree.content.subarray(at, space).toString('utf8');
      const name = tree.content.subarray(space + 1, nul).toString('utf8');
      at = nul + 21;
      if (mode === '40000') entries.push({ name, type: 'tree' });
      else if (mode !== '160000') entries.push({ name, type: 'blob' });
    }
    return entries;
  }

  async showFile(repoPath: string): Promise<string> {
    return (await this.read(repoPath))?.content.toString('utf8') ?? '';
  }
}

async function closureFrom(tree: CommitTree, appPath: string): Promise<PathClosure> {
  const found = new Set<string>();
  const skipped: { from: string; ref: string; why: string }[] = [];
  const visitedDirs = new Set<string>();
  const queue: string[] = [];

  const root = normaliseRepoPath(appPath);
  if (root === undefined)
    return { paths: [], skipped: [{ from: '(spec.path)', ref: appPath, why: 'outside the repository' }] };
  const rootType = await tree.objectType(root);
  if (rootType === undefined)
    return { paths: [], skipped: [{ from: '(spec.path)', ref: appPath, why: 'not found at this commit' }] };
  found.add(root);
  if (rootType === 'tree') queue.push(root);

  while (queue.length > 0) {
    const dir = queue.shift() as string;
    if (visitedDirs.has(dir)) continue;
    visitedDirs.add(dir);
    const entries = await tree.listDirectory(dir);
    const kustomizationFile = KUSTOMIZATION_FILES.find((f) =>
      entries.some((e) => e.type === 'blob' && e.name === f),
    );
    if (kustomizationFile === undefined) {
      // Flux generates a kustomization of every manifest below a plain directory: subdirectories
      // are already covered by `dir`, but may hold their own kustomization.yaml with references.
      for (const entry of entries) if (entry.type === 'tree') queue.push(join(dir, entry.name));
      continue;
    }
    const file = join(dir, kustomizationFile);
    let doc: unknown;
    try {
      doc = parseYaml(await tree.showFile(file));
    } catch (cause) {
      skipped.push({
        from: file,
        ref: file,
        why: `unreadable YAML: ${(cause as Error).message.split('\n')[0]}`,
      });
      continue;
    }
    for (const ref of referencedPaths(doc)) {
      if (isRemoteReference(ref)) {
        skipped.push({ from: file, ref, why: 'remote reference' });
        continue;
      }
      const target = normaliseRepoPath(path.posix.join(dir, ref));
      if (target === undefined) {
        skipped.push({ from: file, ref, why: 'outside the repository' });
        continue;
      }
      const type = await tree.objectType(target);
      if (type === undefined) {
        skipped.push({ from: file, ref, why: 'not found at this commit' });
        continue;
      }
      found.add(target);
      if (type === 'tree') queue.push(target);
    }
  }
  return { paths: minimalCover([...found]), skipped };
}

/** Union of closures (e.g. at the good and the bad revision, in case a reference moved). */
export function unionPaths(...sets: readonly (readonly string[])[]): string[] {
  return minimalCover(sets.flat());
}

/** Whether `file` lies in one of `paths` (a path covers itself and everything below it). */
export function isCovered(file: string, paths: readonly string[]): boolean {
  return paths.some((p) => p === '' || file === p || file.startsWith(`${p}/`));
}

function minimalCover(paths: readonly string[]): string[] {
  const sorted = [...new Set(paths)].sort((a, b) => a.length - b.length || a.localeCompare(b));
  const kept: string[] = [];
  for (const p of sorted) if (!isCovered(p, kept)) kept.push(p);
  return kept.sort();
}

function referencedPaths(doc: unknown): string[] {
  if (doc === null || typeof doc !== 'object') return [];
  const k = doc as Record<string, unknown>;
  const refs: string[] = [];
  const strings = (v: unknown): string[] =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  refs.push(
    ...strings(k['resources']),
    ...strings(k['components']),
    ...strings(k['bases']),
    ...strings(k['crds']),
  );
  // patchesStrategicMerge entries are file paths or inline patches; inline ones span lines.
  refs.push(...strings(k['patchesStrategicMerge']).filter((s) => !s.includes('\n')));
  for (const key of ['patches', 'patchesJson6902']) {
    const list = k[key];
    if (!Array.isArray(list)) continue;
    for (const patch of list) {
      if (
        patch !== null &&
        typeof patch === 'object' &&
        typeof (patch as { path?: unknown }).path === 'string'
      ) {
        refs.push((patch as { path: string }).path);
      }
    }
  }
  for (const key of ['configMapGenerator', 'secretGenerator']) {
    const list = k[key];
    if (!Array.isArray(list)) continue;
    for (const generator of list) {
      if (generator === null || typeof generator !== 'object') continue;
      const g = generator as Record<string, unknown>;
      // `files` entries may be `key=path`; `envs`/`env` are files too.
      refs.push(...strings(g['files']).map((f) => f.slice(f.indexOf('=') + 1)), ...strings(g['envs']));
      if (typeof g['env'] === 'string') refs.push(g['env']);
    }
  }
  return refs;
}

function isRemoteReference(ref: string): boolean {
  return (
    /^[a-z][a-z0-9+.-]*:\/\//i.test(ref) ||
    ref.startsWith('git@') ||
    ref.startsWith('github.com/') ||
    ref.startsWith('gitlab.com/') ||
    ref.includes('?ref=') ||
    ref.includes('//') // kustomize remote target `host/org/repo//subdir`
  );
}

/** Normalises to a repo-relative POSIX path ('' = root), or undefined when it leaves the repository. */
function normaliseRepoPath(p: string): string | undefined {
  const normalised = path.posix.normalize(p.replace(/^\.?\/+/, ''));
  if (normalised === '.' || normalised === '') return '';
  if (normalised === '..' || normalised.startsWith('../') || path.posix.isAbsolute(normalised))
    return undefined;
  return normalised.replace(/\/+$/, '');
}

function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}
