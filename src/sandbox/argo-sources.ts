// An Application's sources as Argo CD's repo-server renders them: one `spec.source`, or several
// `spec.sources[]` (multi-source; status.sync.revisions[] is index-aligned with them). A source with
// `ref:` and no `path` only lends its files to the others: a Helm value file `$<ref>/<path>` is read
// from that source's commit (reposerver/repository/repository.go, "$values" references). A source
// directory with a Chart.yaml renders with `helm template` (the real binary, when the sandbox was
// given one), a kustomization with the sandbox's kustomize, anything else as plain YAML.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { AppSource } from './argo-compare.ts';
import { buildManifests, normalizeRepoPath } from './flux-kustomize.ts';
import type { CommitTree } from './flux-source.ts';
import type { KubeObject } from './store.ts';

const run = promisify(execFile);

export type SourceType = 'Kustomize' | 'Directory' | 'Helm';

/** spec.source (or one of spec.sources[], or an operation's override), validated. */
export function sourceOf(value: unknown, what = 'spec.source'): AppSource {
  const source = (value ?? {}) as Record<string, any>;
  if (typeof source['repoURL'] !== 'string' || source['repoURL'] === '') {
    throw new Error(`${what}.repoURL is required`);
  }
  const valueFiles: unknown = source['helm']?.valueFiles;
  return {
    repoURL: source['repoURL'],
    path: typeof source['path'] === 'string' ? source['path'] : '',
    targetRevision:
      typeof source['targetRevision'] === 'string' && source['targetRevision']
        ? source['targetRevision']
        : 'HEAD',
    ...(typeof source['ref'] === 'string' && source['ref'] ? { ref: source['ref'] } : {}),
    ...(Array.isArray(valueFiles)
      ? { valueFiles: valueFiles.filter((f): f is string => typeof f === 'string') }
      : {}),
    ...(typeof source['helm']?.releaseName === 'string' ? { releaseName: source['helm'].releaseName } : {}),
  };
}

/** The app's sources and whether it is a multi-source Application (spec.sources wins over spec.source). */
export function sourcesOf(spec: any): { sources: AppSource[]; multi: boolean } {
  if (Array.isArray(spec?.sources) && spec.sources.length > 0) {
    return {
      sources: spec.sources.map((s: unknown, i: number) => sourceOf(s, `spec.sources[${i}]`)),
      multi: true,
    };
  }
  return { sources: [sourceOf(spec?.source)], multi: false };
}

/** A source only referenced by others (`ref:` and no path) renders nothing itself. */
function renders(source: AppSource): boolean {
  return !(source.ref && source.path === '');
}

function isChart(tree: CommitTree, dir: string): boolean {
  return tree.entry(dir ? `${dir}/Chart.yaml` : 'Chart.yaml')?.type === 'blob';
}

/** The Helm binary renders the chart directory of `tree` with its value files, as the repo-server does. */
async function helmTemplate(
  helm: string | undefined,
  tree: CommitTree,
  dir: string,
  source: AppSource,
  refTree: (ref: string) => CommitTree | undefined,
  release: string,
  namespace: string,
): Promise<KubeObject[]> {
  if (!helm) throw new Error('helm is not available to this sandbox (start it with a helm binary)');
  const work = await mkdtemp(path.join(tmpdir(), 'rewind-sandbox-helm-'));
  try {
    const chartDir = path.join(work, 'chart');
    const prefix = dir ? `${dir}/` : '';
    for (const [entryPath, entry] of tree.all()) {
      if (entry.type !== 'blob' || !entryPath.startsWith(prefix)) continue;
      const target = path.join(chartDir, entryPath.slice(prefix.length));
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, await tree.readText(entryPath));
    }
    const args = ['template', release, chartDir, '--namespace', namespace];
    for (const [i, file] of (source.valueFiles ?? []).entries()) {
      let text: string;
      const match = /^\$([^/]+)\/(.+)$/.exec(file);
      if (match) {
        const other = refTree(match[1]!);
        if (!other) throw new Error(`value file ${file}: no source has ref "${match[1]}"`);
        text = await other.readText(normalizeRepoPath(match[2]));
      } else {
        text = await tree.readText(normalizeRepoPath(path.posix.join(dir, file)));
      }
      const valuesFile = path.join(work, `values-${i}.yaml`);
      await writeFile(valuesFile, text);
      args.push('--values', valuesFile);
    }
    const { stdout } = await run(helm, args, { timeout: 60_000, maxBuffer: 32 * 1024 * 1024 }).catch(
      (error: { stderr?: string; message: string }) => {
        throw new Error(`helm template failed: ${(error.stderr ?? error.message).trim()}`);
      },
    );
    return parseAllDocuments(stdout)
      .map((doc) => doc.toJS() as KubeObject | null)
      .filter((object): object is KubeObject => typeof object?.kind === 'string');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Renders every source that renders at its commit (trees index-aligned with sources), in order; the
 * manifests of all of them together are the app's desired state.
 */
export async function renderSources(
  sources: readonly AppSource[],
  trees: readonly CommitTree[],
  options: { helm: string | undefined; release: string; namespace: string },
): Promise<{ objects: KubeObject[]; sourceType: SourceType }> {
  const refTree = (ref: string) => trees[sources.findIndex((s) => s.ref === ref)];
  const objects: KubeObject[] = [];
  let sourceType: SourceType = 'Directory';
  for (const [i, source] of sources.entries()) {
    if (!renders(source)) continue;
    const tree = trees[i]!;
    const dir = normalizeRepoPath(source.path);
    try {
      if (isChart(tree, dir)) {
        sourceType = 'Helm';
        objects.push(
          ...(await helmTemplate(
            options.helm,
            tree,
            dir,
            source,
            refTree,
            source.releaseName ?? options.release,
            options.namespace,
          )),
        );
        continue;
      }
      if (
        ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].some(
          (file) => tree.entry(dir ? `${dir}/${file}` : file)?.type === 'blob',
        )
      )
        sourceType = sourceType === 'Helm' ? sourceType : 'Kustomize';
      objects.push(...(await buildManifests(tree, { path: source.path })));
    } catch (error) {
      throw new Error(
        `failed to generate manifest for source ${i + 1} of ${sources.length}: rpc error: code = Unknown desc = ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  return { objects, sourceType };
}
