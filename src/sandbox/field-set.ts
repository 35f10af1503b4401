// Sets of field paths in Kubernetes' structured-merge-diff form, the unit of server-side apply's
// ownership: `f:<field>` for a map key, `k:{"name":"app"}` for an element of a list keyed by its
// merge key, `v:"x"` for an element of a set-like list, `i:<n>` for a position. `managedFields`
// stores them as FieldsV1 trees, where `.` marks a node that is itself a member.
//
// The schema here is the part of Kubernetes' OpenAPI extensions the sandbox's kinds need: which
// lists are keyed (x-kubernetes-list-map-keys), which are sets, which maps are atomic; any other
// list is atomic, as it is for a custom resource without list annotations.
import type { ResourceType } from './resources.ts';

export type PathElement = string;
export type FieldPath = readonly PathElement[];
export type FieldsV1 = { [element: string]: FieldsV1 };

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An immutable set of field paths. */
export class FieldSet {
  private readonly members: ReadonlyMap<string, FieldPath>;

  constructor(paths: Iterable<FieldPath> = []) {
    const members = new Map<string, FieldPath>();
    for (const path of paths) members.set(JSON.stringify(path), path);
    this.members = members;
  }

  get size(): number {
    return this.members.size;
  }

  has(path: FieldPath): boolean {
    return this.members.has(JSON.stringify(path));
  }

  paths(): FieldPath[] {
    return [...this.members.values()];
  }

  union(other: FieldSet): FieldSet {
    return new FieldSet([...this.paths(), ...other.paths()]);
  }

  difference(other: FieldSet): FieldSet {
    return new FieldSet(this.paths().filter((path) => !other.has(path)));
  }

  intersection(other: FieldSet): FieldSet {
    return new FieldSet(this.paths().filter((path) => other.has(path)));
  }

  /** True when some member lies at or below `prefix`. */
  hasAtOrBelow(prefix: FieldPath): boolean {
    return this.paths().some(
      (path) => path.length >= prefix.length && prefix.every((element, i) => path[i] === element),
    );
  }

  equals(other: FieldSet): boolean {
    return this.size === other.size && this.paths().every((path) => other.has(path));
  }

  static fromFieldsV1(tree: unknown): FieldSet {
    const paths: FieldPath[] = [];
    const walk = (node: unknown, prefix: PathElement[]): void => {
      if (!isObject(node)) return;
      const children = Object.keys(node).filter((element) => element !== '.');
      if (prefix.length > 0 && ('.' in node || children.length === 0)) paths.push(prefix);
      for (const element of children) walk(node[element], [...prefix, element]);
    };
    walk(tree, []);
    return new FieldSet(paths);
  }

  toFieldsV1(): FieldsV1 {
    const root: FieldsV1 = {};
    const sorted = this.paths().sort((a, b) => comparePaths(a, b));
    for (const path of sorted) {
      let node = root;
      for (const element of path) node = node[element] ??= {};
      // A member that also has children keeps `.`; added when a child arrives below a member.
      node['.'] ??= {};
    }
    // Leaves are written `{}`; `.` is only kept on members with children.
    const tidy = (node: FieldsV1): FieldsV1 => {
      const children = Object.keys(node).filter((element) => element !== '.');
      const result: FieldsV1 = {};
      if (children.length > 0 && '.' in node) result['.'] = {};
      for (const element of children) result[element] = tidy(node[element]!);
      return result;
    };
    return tidy(root);
  }
}

function comparePaths(a: FieldPath, b: FieldPath): number {
  const x = a.join('\u0000');
  const y = b.join('\u0000');
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Kubernetes' printed form of a path, as conflict messages show it: `.spec.containers[name="app"].image`. */
export function formatPath(path: FieldPath): string {
  return path
    .map((element) => {
      const body = element.slice(2);
      switch (element.slice(0, 2)) {
        case 'f:':
          return `.${body}`;
        case 'k:': {
          const key = JSON.parse(body) as Record<string, Json>;
          return `[${Object.entries(key)
            .map(([field, value]) => `${field}=${JSON.stringify(value)}`)
            .join(',')}]`;
        }
        case 'v:':
          return `[=${body}]`;
        default:
          return `[${body}]`;
      }
    })
    .join('');
}

// --- schema -------------------------------------------------------------------------------------

interface ListKeys {
  keys: readonly string[];
  /** Key fields the server defaults, so an element that omits them still matches the live one. */
  defaults: Readonly<Record<string, Json>>;
}

const byName: ListKeys = { keys: ['name'], defaults: {} };

/** x-kubernetes-list-map-keys of the built-in kinds' keyed lists, by field name. */
const KEYED_LISTS: Record<string, ListKeys> = {
  containers: byName,
  initContainers: byName,
  ephemeralContainers: byName,
  env: byName,
  volumes: byName,
  imagePullSecrets: byName,
  resourceClaims: byName,
  volumeMounts: { keys: ['mountPath'], defaults: {} },
  volumeDevices: { keys: ['devicePath'], defaults: {} },
  conditions: { keys: ['type'], defaults: {} },
  ownerReferences: { keys: ['uid'], defaults: {} },
  hostAliases: { keys: ['ip'], defaults: {} },
  ports: { keys: ['containerPort', 'protocol'], defaults: { protocol: 'TCP' } },
};

const SERVICE_PORTS: ListKeys = { keys: ['port', 'protocol'], defaults: { protocol: 'TCP' } };

/** Lists of scalars merged as sets (x-kubernetes-list-type: set). */
const SET_LISTS = new Set(['finalizers']);

/** Maps whose keys are owned one by one (and that get a `.` of their own when an update creates them). */
const GRANULAR_MAPS = new Set([
  'labels',
  'annotations',
  'data',
  'binaryData',
  'stringData',
  'nodeSelector',
  'limits',
  'requests',
  'matchLabels',
]);

/** Fields of `metadata` the server owns: never part of anyone's field set. */
const SERVER_METADATA = new Set([
  'name',
  'namespace',
  'generateName',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
]);

/** How one kind's fields are laid out, for merging and ownership. */
export interface FieldSchema {
  builtIn: boolean;
  /** Kinds with a status subresource: `.status` belongs to it, never to the main resource's writers. */
  statusIsSubresource: boolean;
}

export function schemaOf(type: ResourceType): FieldSchema {
  return {
    builtIn: type.group === '' || type.group === 'apps',
    statusIsSubresource: type.subresources.includes('status'),
  };
}

/** `names` is the path in plain field names, e.g. ['spec', 'template', 'spec', 'containers']. */
export function listKeysFor(schema: FieldSchema, names: readonly string[]): ListKeys | undefined {
  const field = names[names.length - 1] ?? '';
  // Object metadata is the same in every kind, custom ones included.
  if (names.length === 2 && names[0] === 'metadata')
    return field === 'ownerReferences' ? KEYED_LISTS[field] : undefined;
  if (!schema.builtIn) return undefined;
  if (field === 'ports' && names.length === 2 && names[0] === 'spec') return SERVICE_PORTS;
  return KEYED_LISTS[field];
}

export function isSetList(names: readonly string[]): boolean {
  return SET_LISTS.has(names[names.length - 1] ?? '');
}

/** Label selectors of workloads and Services are atomic: one owner for the whole selector. */
export function isAtomicMap(schema: FieldSchema, names: readonly string[]): boolean {
  return schema.builtIn && names.length === 2 && names[0] === 'spec' && names[1] === 'selector';
}

export function isGranularMap(names: readonly string[]): boolean {
  return GRANULAR_MAPS.has(names[names.length - 1] ?? '');
}

/** The `k:` element of a keyed list item, with defaulted key fields filled in; undefined when a key is missing. */
export function keyElement(item: unknown, list: ListKeys): PathElement | undefined {
  if (!isObject(item)) return undefined;
  const key: JsonObject = {};
  for (const field of [...list.keys].sort()) {
    const value = item[field] ?? list.defaults[field];
    if (value === undefined) return undefined;
    key[field] = value;
  }
  return `k:${JSON.stringify(key)}`;
}

/** Whether a top-level or metadata field is one the server owns (left out of field sets). */
export function isServerField(schema: FieldSchema, names: readonly string[]): boolean {
  if (names.length === 1)
    return (
      names[0] === 'apiVersion' ||
      names[0] === 'kind' ||
      (schema.statusIsSubresource && names[0] === 'status')
    );
  return names.length === 2 && names[0] === 'metadata' && SERVER_METADATA.has(names[1]!);
}

// --- flattening ---------------------------------------------------------------------------------

export type NodeKind = 'leaf' | 'map' | 'item';

export interface FieldNode {
  path: FieldPath;
  kind: NodeKind;
  /** For maps: whether it is granular (labels, data...) rather than a struct. */
  granular: boolean;
  /** Empty maps and items count as leaves for ownership. */
  empty: boolean;
  /** Canonical JSON of a leaf's value. */
  value: string;
}

/** Every node of an object by path: what ownership and comparison work on. */
export function flatten(schema: FieldSchema, object: unknown): Map<string, FieldNode> {
  const nodes = new Map<string, FieldNode>();
  const add = (node: FieldNode) => nodes.set(JSON.stringify(node.path), node);
  const walk = (value: Json, path: PathElement[], names: string[], kind: NodeKind): void => {
    if (isObject(value) && !isAtomicMap(schema, names)) {
      const present = Object.keys(value).filter((field) => value[field] !== null);
      const keys = present.filter((field) => !isServerField(schema, [...names, field]));
      // `metadata: {name: web}` is not an empty map: it sets nothing anyone owns.
      if (path.length > 0 && (keys.length > 0 || present.length === 0))
        add({ path, kind, granular: isGranularMap(names), empty: present.length === 0, value: '' });
      for (const field of keys) walk(value[field]!, [...path, `f:${field}`], [...names, field], 'map');
      return;
    }
    if (Array.isArray(value)) {
      const list = listKeysFor(schema, names);
      const elements = list
        ? value.map((item) => keyElement(item, list))
        : isSetList(names)
          ? value.map((item) => `v:${JSON.stringify(item)}`)
          : undefined;
      if (elements && elements.every((element) => element !== undefined)) {
        add({ path, kind, granular: false, empty: value.length === 0, value: '' });
        value.forEach((item, i) => {
          if (list) walk(item, [...path, elements[i]!], names, 'item');
          else add({ path: [...path, elements[i]!], kind: 'leaf', granular: false, empty: false, value: '' });
        });
        return;
      }
    }
    add({ path, kind: 'leaf', granular: false, empty: false, value: canonicalJson(value) });
  };
  walk(object as Json, [], [], 'map');
  return nodes;
}

export function canonicalJson(value: unknown): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical);
    if (!isObject(v)) return v;
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical(v[k])]),
    );
  };
  return JSON.stringify(canonical(value));
}

/**
 * The fields an applied configuration sets: leaves, keyed list items (with their key fields),
 * set elements, and empty maps. Lists and maps with members are not members themselves.
 */
export function appliedSet(schema: FieldSchema, config: unknown): FieldSet {
  const paths: FieldPath[] = [];
  for (const node of flatten(schema, config).values()) {
    if (node.kind === 'leaf' || node.kind === 'item' || node.empty) paths.push(node.path);
  }
  return new FieldSet(paths);
}

/** Paths whose value differs between two objects: changed or added in `after`, and removed from `before`. */
export function compareObjects(
  schema: FieldSchema,
  before: unknown,
  after: unknown,
): { changed: FieldSet; added: FieldSet; removed: FieldSet } {
  const old = before === undefined ? new Map<string, FieldNode>() : flatten(schema, before);
  const next = flatten(schema, after);
  const changed: FieldPath[] = [];
  const added: FieldPath[] = [];
  const removed: FieldPath[] = [];
  for (const [key, node] of next) {
    const previous = old.get(key);
    if (!previous) {
      // Structs that appear are not members; granular maps, items and leaves are.
      if (node.kind === 'leaf' || node.kind === 'item' || node.granular || node.empty) added.push(node.path);
    } else if (node.kind === 'leaf' && (previous.kind !== 'leaf' || previous.value !== node.value)) {
      changed.push(node.path);
    }
  }
  for (const [key, node] of old) if (!next.has(key)) removed.push(node.path);
  return { changed: new FieldSet(changed), added: new FieldSet(added), removed: new FieldSet(removed) };
}
