// Pod template comparison the way the Deployment controller does it (EqualIgnoreHash in
// kubernetes/kubernetes pkg/controller/deployment/util/deployment_util.go): deep equality after
// removing the `pod-template-hash` label. The hash itself is never recomputed: it is an FNV hash of a
// Go-specific rendering (DeepHashObject) that TypeScript cannot reproduce faithfully.

export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

/** A pod template as the API returns it (plain JSON, or a @kubernetes/client-node V1PodTemplateSpec). */
export interface PodTemplate {
  metadata?: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string | Date | null;
  };
  spec?: unknown;
}

type Json = string | number | boolean | Json[] | { [key: string]: Json };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/**
 * JSON with sorted keys, nulls dropped and empty lists dropped (Go's semantic equality treats nil and
 * empty slices alike). Empty objects are kept: `emptyDir: {}` means something.
 */
function canonical(value: unknown): Json | undefined {
  if (value === null || value === undefined) return undefined;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) {
    const items = value.map((item) => canonical(item) ?? null).filter((item): item is Json => item !== null);
    return items.length === 0 ? undefined : items;
  }
  if (isRecord(value)) {
    const out: { [key: string]: Json } = {};
    for (const key of Object.keys(value).sort()) {
      const item = canonical(value[key]);
      if (item !== undefined) out[key] = item;
    }
    return out;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return undefined;
}

/** The template without what the controller adds or what carries no meaning, in canonical form. */
export function normalizeTemplate(template: PodTemplate | undefined): Record<string, Json> {
  const metadata = isRecord(template?.metadata) ? { ...template.metadata } : {};
  // Always null in a template; a Date after client-node deserialisation.
  delete metadata.creationTimestamp;
  if (isRecord(metadata.labels)) {
    const labels: Record<string, string> = { ...metadata.labels };
    delete labels[POD_TEMPLATE_HASH_LABEL];
    metadata.labels = labels;
  }
  for (const key of ['labels', 'annotations'] as const) {
    const map = metadata[key];
    if (isRecord(map) && Object.keys(map).length === 0) delete metadata[key];
  }
  const out = canonical({ metadata, spec: template?.spec });
  return isRecord(out) ? out : {};
}

/** True when two pod templates are equal ignoring the pod-template-hash label (key order irrelevant). */
export function templatesEqual(a: PodTemplate | undefined, b: PodTemplate | undefined): boolean {
  return JSON.stringify(normalizeTemplate(a)) === JSON.stringify(normalizeTemplate(b));
}

/** Container images of a template (init containers first, as the Pod starts them). */
export function templateImages(template: PodTemplate | undefined): string[] {
  const spec = template?.spec;
  if (!isRecord(spec)) return [];
  return ['initContainers', 'containers'].flatMap((field) => {
    const list = spec[field];
    return Array.isArray(list)
      ? list.flatMap((c: unknown) => (isRecord(c) && typeof c['image'] === 'string' ? [c['image']] : []))
      : [];
  });
}

export interface TemplateDiff {
  /** Human-readable changes, e.g. `app: ghcr.io/x:1 -> ghcr.io/x:2`. */
  changes: string[];
  /** Values that appeared in the bad template, most specific first: search terms for `git log -S`. */
  changedValues: string[];
  /**
   * What the last-good template had where images changed (the tag, or the image without one): a
   * revert that does not bring these back does not restore the last-good template.
   */
  restoredValues: string[];
}

const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;
const NONE = '(none)';

/** Tag (or digest) of an image reference: what follows the last ':' after the last '/', or the '@'. */
export function imageTag(image: string): string | undefined {
  const at = image.indexOf('@');
  if (at !== -1) return image.slice(at + 1);
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/') ? image.slice(colon + 1) : undefined;
}

function render(value: Json | undefined): string {
  if (value === undefined) return NONE;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Flattens to path -> leaf. Lists of named objects (containers, env, ports, volumes) are keyed by
 * name so that reordering is not reported and a change names what changed; other lists are leaves.
 */
function flatten(value: Json | undefined, path: string, out: Map<string, Json>): Map<string, Json> {
  if (value === undefined) return out;
  if (Array.isArray(value)) {
    const named = value.every((item) => isRecord(item) && typeof item['name'] === 'string');
    if (!named) {
      out.set(path, value);
      return out;
    }
    for (const item of value) {
      const record = item as { [key: string]: Json };
      const rest = { ...record };
      delete rest['name'];
      const itemPath = `${path}[${record['name'] as string}]`;
      if (Object.keys(rest).length === 0) out.set(itemPath, {});
      else flatten(rest, itemPath, out);
    }
    return out;
  }
  if (isRecord(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0 && path !== '') out.set(path, value);
    for (const key of keys) flatten(value[key], path === '' ? key : `${path}.${key}`, out);
    return out;
  }
  out.set(path, value);
  return out;
}

function diffMaps(
  good: Map<string, Json>,
  bad: Map<string, Json>,
  describe: (path: string, before: string, after: string) => string,
  diff: TemplateDiff,
): void {
  const paths = [...new Set([...good.keys(), ...bad.keys()])].sort();
  for (const path of paths) {
    const before = good.get(path);
    const after = bad.get(path);
    if (JSON.stringify(before) === JSON.stringify(after)) continue;
    diff.changes.push(describe(path, render(before), render(after)));
    if (after === undefined) continue;
    if (typeof after === 'string') diff.changedValues.push(after);
    else if (typeof after === 'number') diff.changedValues.push(String(after));
    else if (Array.isArray(after) && before !== undefined && Array.isArray(before)) {
      const old = new Set(before.map((item) => JSON.stringify(item)));
      for (const item of after)
        if (typeof item === 'string' && !old.has(JSON.stringify(item))) diff.changedValues.push(item);
    }
  }
}

function containersByName(spec: Json | undefined, list: string): Map<string, { [key: string]: Json }> {
  const items = isRecord(spec) ? spec[list] : undefined;
  const out = new Map<string, { [key: string]: Json }>();
  if (Array.isArray(items))
    for (const item of items)
      if (isRecord(item) && typeof item['name'] === 'string') out.set(item['name'], item);
  return out;
}

/**
 * What changed from the last-good to the bad pod template: container images, env, args, resources,
 * any other container or pod field, labels and annotations (pod-template-hash excluded).
 */
export function templateDiff(good: PodTemplate | undefined, bad: PodTemplate | undefined): TemplateDiff {
  const diff: TemplateDiff = { changes: [], changedValues: [], restoredValues: [] };
  const g = normalizeTemplate(good);
  const b = normalizeTemplate(bad);

  for (const list of CONTAINER_LISTS) {
    const kind = list === 'containers' ? 'container' : list.replace(/s$/, '').replace(/C/, ' c');
    const before = containersByName(g['spec'], list);
    const after = containersByName(b['spec'], list);
    for (const [name, container] of after) {
      const image = typeof container['image'] === 'string' ? container['image'] : undefined;
      const old = before.get(name);
      if (old === undefined) {
        diff.changes.push(`${kind} ${name} added${image ? ` (${image})` : ''}`);
        if (image) diff.changedValues.push(image);
        continue;
      }
      const oldImage = typeof old['image'] === 'string' ? old['image'] : undefined;
      if (image !== oldImage) {
        diff.changes.push(`${name}: ${oldImage ?? NONE} -> ${image ?? NONE}`);
        if (image) {
          diff.changedValues.push(image);
          const tag = imageTag(image);
          if (tag) diff.changedValues.push(tag);
        }
        if (oldImage) diff.restoredValues.push(imageTag(oldImage) ?? oldImage);
      }
      const rest = (c: { [key: string]: Json }): { [key: string]: Json } => {
        const copy = { ...c };
        delete copy['name'];
        delete copy['image'];
        return copy;
      };
      diffMaps(
        flatten(rest(old), '', new Map()),
        flatten(rest(container), '', new Map()),
        (path, from, to) => `${name} ${path}: ${from} -> ${to}`,
        diff,
      );
    }
    for (const [name, container] of before)
      if (!after.has(name))
        diff.changes.push(
          `${kind} ${name} removed${typeof container['image'] === 'string' ? ` (${container['image']})` : ''}`,
        );
  }

  const withoutContainers = (spec: Json | undefined): Json | undefined => {
    if (!isRecord(spec)) return spec;
    const copy = { ...spec };
    for (const list of CONTAINER_LISTS) delete copy[list];
    return copy;
  };
  diffMaps(
    flatten(withoutContainers(g['spec']), 'spec', new Map()),
    flatten(withoutContainers(b['spec']), 'spec', new Map()),
    (path, from, to) => `${path}: ${from} -> ${to}`,
    diff,
  );

  for (const [field, label] of [
    ['labels', 'label'],
    ['annotations', 'annotation'],
  ] as const) {
    const map = (t: Record<string, Json>): Map<string, Json> => {
      const metadata = t['metadata'];
      const values = isRecord(metadata) ? metadata[field] : undefined;
      return new Map(isRecord(values) ? Object.entries(values) : []);
    };
    diffMaps(map(g), map(b), (key, from, to) => `${label} ${key}: ${from} -> ${to}`, diff);
  }

  diff.changedValues = [...new Set(diff.changedValues.filter((v) => v.trim() !== ''))];
  return diff;
}

/**
 * How well a pod template from Git describes a template read from the cluster: undefined when some
 * value set in Git differs in the cluster, else the number of values set in Git (all of them equal).
 * The cluster's template may hold more than Git's: the API server's defaults (imagePullPolicy, a
 * port's protocol, dnsPolicy...), labels a build adds (kustomize commonLabels) and pod-template-hash.
 * Lists of named items (containers, env, ports with names) are matched by name, other lists item by
 * item with the same length; scalars compare as text (`cpu: 1` in YAML is "1" in the API).
 */
export function templateCoverage(
  cluster: PodTemplate | undefined,
  git: PodTemplate | undefined,
): number | undefined {
  return coverage(normalizeTemplate(cluster), normalizeTemplate(git));
}

function coverage(cluster: Json | undefined, git: Json | undefined): number | undefined {
  if (git === undefined) return 0;
  if (Array.isArray(git)) {
    if (!Array.isArray(cluster)) return undefined;
    const named = git.every((item) => isRecord(item) && typeof item['name'] === 'string');
    if (!named && git.length !== cluster.length) return undefined;
    let total = 0;
    for (const [i, item] of git.entries()) {
      const counterpart = named
        ? cluster.find((c) => isRecord(c) && c['name'] === (item as { [key: string]: Json })['name'])
        : cluster[i];
      const score = coverage(counterpart, item);
      if (score === undefined) return undefined;
      total += score;
    }
    return total;
  }
  if (isRecord(git)) {
    const keys = Object.keys(git);
    if (keys.length === 0) return 0;
    if (!isRecord(cluster)) return undefined;
    let total = 0;
    for (const key of keys) {
      const score = coverage(cluster[key], git[key]);
      if (score === undefined) return undefined;
      total += score;
    }
    return total;
  }
  return cluster !== undefined &&
    !isRecord(cluster) &&
    !Array.isArray(cluster) &&
    String(cluster) === String(git)
    ? 1
    : undefined;
}
