// Builds the manifests of a Kustomization's path at one commit, as kustomize-controller does:
// a directory with a kustomization.yaml is built kustomize-style (resources, namespace,
// commonLabels, labels, commonAnnotations, images); a plain directory contributes every *.yaml /
// *.yml file directly inside it, sorted by name.
import path from 'node:path';
import { parseAllDocuments, parseDocument } from 'yaml';
import type { CommitTree } from './flux-source.ts';
import { resourceByKind } from './resources.ts';
import type { KubeObject } from './store.ts';

export type BuildFailureReason = 'BuildFailed' | 'ArtifactFailed';

/** A failure to produce manifests; `reason` is the Flux condition reason to report. */
export class BuildError extends Error {
  constructor(
    readonly reason: BuildFailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'BuildError';
  }
}

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

const CLUSTER_SCOPED_KINDS = new Set([
  'Namespace',
  'CustomResourceDefinition',
  'ClusterRole',
  'ClusterRoleBinding',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'IngressClass',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'APIService',
]);

const POD_TEMPLATE_KINDS = new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job']);

export function isNamespaced(apiVersion: string, kind: string): boolean {
  const type = resourceByKind(apiVersion, kind);
  if (type) return type.namespaced;
  return !CLUSTER_SCOPED_KINDS.has(kind);
}

/** `./apps/podinfo/` -> `apps/podinfo`; '' is the repository root. Refuses paths that leave it. */
export function normalizeRepoPath(specPath: string | undefined): string {
  const normalized = path.posix.normalize(`/${specPath ?? ''}`).replace(/^\/+|\/+$/g, '');
  if (normalized.split('/').includes('..')) {
    throw new BuildError('ArtifactFailed', `path '${specPath}' points outside the source`);
  }
  return normalized;
}

export interface BuildOptions {
  /** spec.path of the Kustomization; default the repository root. */
  path?: string;
  /** spec.targetNamespace: overrides the namespace of every namespaced object. */
  targetNamespace?: string;
}

export async function buildManifests(tree: CommitTree, options: BuildOptions = {}): Promise<KubeObject[]> {
  const dir = normalizeRepoPath(options.path);
  const entry = tree.entry(dir);
  if (!entry || entry.type !== 'tree') {
    throw new BuildError(
      'ArtifactFailed',
      `kustomization path not found: stat ${dir || '.'}: no such file or directory`,
    );
  }
  const objects = kustomizationFile(tree, dir)
    ? await kustomizeDirectory(tree, dir, [])
    : await plainDirectory(tree, dir);
  if (options.targetNamespace) setNamespace(objects, options.targetNamespace);
  rejectDuplicates(objects);
  return objects;
}

function kustomizationFile(tree: CommitTree, dir: string): string | undefined {
  for (const name of KUSTOMIZATION_FILES) {
    const filePath = dir ? `${dir}/${name}` : name;
    if (tree.entry(filePath)?.type === 'blob') return filePath;
  }
  return undefined;
}

async function plainDirectory(tree: CommitTree, dir: string): Promise<KubeObject[]> {
  const objects: KubeObject[] = [];
  for (const child of tree.list(dir)) {
    if (child.entry.type !== 'blob' || !/\.ya?ml$/i.test(child.name)) continue;
    objects.push(...parseManifests(await tree.readText(child.path), child.path));
  }
  return objects;
}

async function kustomizeDirectory(
  tree: CommitTree,
  dir: string,
  stack: readonly string[],
): Promise<KubeObject[]> {
  if (stack.includes(dir)) {
    throw new BuildError('BuildFailed', `cycle detected: ${[...stack, dir].join(' -> ')}`);
  }
  const file = kustomizationFile(tree, dir);
  if (!file) {
    throw new BuildError(
      'BuildFailed',
      `unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '${dir || '.'}'`,
    );
  }
  const document = parseDocument(await tree.readText(file));
  if (document.errors.length > 0) {
    throw new BuildError('BuildFailed', `${file}: ${document.errors[0]!.message}`);
  }
  const spec = (document.toJS() ?? {}) as Record<string, any>;
  const objects: KubeObject[] = [];
  const resources = [...asStringList(spec['resources'], file), ...asStringList(spec['bases'], file)];
  for (const resource of resources) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(resource) || resource.startsWith('github.com/')) {
      throw new BuildError(
        'BuildFailed',
        `${file}: remote resource '${resource}' is not supported by the sandbox`,
      );
    }
    const target = path.posix.normalize(path.posix.join(dir || '.', resource)).replace(/\/+$/, '');
    const resolved = target === '.' ? '' : target;
    if (resolved === '..' || resolved.startsWith('../')) {
      throw new BuildError('BuildFailed', `${file}: resource '${resource}' points outside the source`);
    }
    const entry = tree.entry(resolved);
    if (!entry) {
      throw new BuildError(
        'BuildFailed',
        `accumulating resources: accumulation err='accumulating resources from '${resource}': ` +
          `'${resolved}' does not exist'`,
      );
    }
    if (entry.type === 'blob') objects.push(...parseManifests(await tree.readText(resolved), resolved));
    else objects.push(...(await kustomizeDirectory(tree, resolved, [...stack, dir])));
  }
  if (typeof spec['namespace'] === 'string' && spec['namespace']) setNamespace(objects, spec['namespace']);
  if (isStringMap(spec['commonLabels'])) addLabels(objects, spec['commonLabels'], true);
  for (const entry of Array.isArray(spec['labels']) ? spec['labels'] : []) {
    if (isStringMap(entry?.pairs)) addLabels(objects, entry.pairs, entry.includeSelectors === true);
  }
  if (isStringMap(spec['commonAnnotations'])) {
    for (const object of objects) {
      object.metadata.annotations = { ...object.metadata.annotations, ...spec['commonAnnotations'] };
    }
  }
  if (Array.isArray(spec['images'])) setImages(objects, spec['images']);
  rejectDuplicates(objects);
  return objects;
}

function asStringList(value: unknown, file: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
    throw new BuildError('BuildFailed', `${file}: expected a list of strings`);
  }
  return value as string[];
}

function isStringMap(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  );
}

/** Parses a multi-document YAML file into objects; empty documents are skipped. */
export function parseManifests(text: string, file: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) {
      throw new BuildError('BuildFailed', `${file}: ${document.errors[0]!.message}`);
    }
    const value = document.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new BuildError('BuildFailed', `${file}: a document is not a Kubernetes object`);
    }
    const object = value as KubeObject;
    if (typeof object.apiVersion !== 'string' || typeof object.kind !== 'string') {
      throw new BuildError('BuildFailed', `${file}: missing apiVersion or kind in a document`);
    }
    if (typeof object.metadata?.name !== 'string' || object.metadata.name === '') {
      throw new BuildError('BuildFailed', `${file}: missing metadata.name in ${object.kind}`);
    }
    objects.push(object);
  }
  return objects;
}

function setNamespace(objects: KubeObject[], namespace: string): void {
  for (const object of objects) {
    if (isNamespaced(object.apiVersion, object.kind)) object.metadata.namespace = namespace;
  }
}

function addLabels(objects: KubeObject[], labels: Record<string, string>, includeSelectors: boolean): void {
  for (const object of objects) {
    object.metadata.labels = { ...object.metadata.labels, ...labels };
    if (!includeSelectors) continue;
    if (POD_TEMPLATE_KINDS.has(object.kind) && object.spec) {
      const spec = object.spec;
      spec.selector ??= {};
      spec.selector.matchLabels = { ...spec.selector.matchLabels, ...labels };
      spec.template ??= {};
      spec.template.metadata ??= {};
      spec.template.metadata.labels = { ...spec.template.metadata.labels, ...labels };
    } else if (object.kind === 'Service' && object.spec) {
      object.spec.selector = { ...object.spec.selector, ...labels };
    }
  }
}

interface ImageOverride {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

/** Splits `registry:5000/app:1.2@sha256:...` into name and the tag/digest suffix. */
function splitImage(image: string): { name: string; suffix: string } {
  const at = image.indexOf('@');
  const withoutDigest = at === -1 ? image : image.slice(0, at);
  const digest = at === -1 ? '' : image.slice(at);
  const colon = withoutDigest.lastIndexOf(':');
  if (colon > withoutDigest.lastIndexOf('/')) {
    return { name: withoutDigest.slice(0, colon), suffix: withoutDigest.slice(colon) + digest };
  }
  return { name: withoutDigest, suffix: digest };
}

function setImages(objects: KubeObject[], images: unknown[]): void {
  const overrides = images.filter(
    (image): image is ImageOverride => typeof (image as ImageOverride | null)?.name === 'string',
  );
  for (const object of objects) {
    for (const podSpec of podSpecsOf(object)) {
      for (const list of [podSpec.containers, podSpec.initContainers]) {
        if (!Array.isArray(list)) continue;
        for (const container of list) {
          if (typeof container?.image !== 'string') continue;
          const { name, suffix } = splitImage(container.image);
          const override = overrides.find((candidate) => candidate.name === name);
          if (!override) continue;
          const tag = override.digest
            ? `@${override.digest}`
            : override.newTag
              ? `:${override.newTag}`
              : suffix;
          container.image = `${override.newName ?? name}${tag}`;
        }
      }
    }
  }
}

function podSpecsOf(object: KubeObject): any[] {
  if (object.kind === 'Pod') return object.spec ? [object.spec] : [];
  if (object.kind === 'CronJob') return [object.spec?.jobTemplate?.spec?.template?.spec].filter(Boolean);
  if (POD_TEMPLATE_KINDS.has(object.kind)) return [object.spec?.template?.spec].filter(Boolean);
  return [];
}

function rejectDuplicates(objects: readonly KubeObject[]): void {
  const seen = new Set<string>();
  for (const object of objects) {
    const id = `${object.kind}.${object.apiVersion}/${object.metadata.name}.${object.metadata.namespace ?? '[noNs]'}`;
    if (seen.has(id)) {
      throw new BuildError('BuildFailed', `may not add resource with an already registered id: ${id}`);
    }
    seen.add(id);
  }
}
