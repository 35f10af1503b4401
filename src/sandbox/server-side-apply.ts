// Server-side apply (`PATCH` with `application/apply-patch+yaml`), as structured-merge-diff does it:
// the applied configuration is merged into the live object (maps by key, keyed lists by their merge
// key, sets as sets, everything else replaced); fields whose value changes and that another manager
// owns are conflicts (409) unless forced, which moves them to the applier; fields the applier set
// last time and no longer applies are removed unless someone else owns them.
import {
  type FieldPath,
  type FieldSchema,
  FieldSet,
  appliedSet,
  compareObjects,
  formatPath,
  isAtomicMap,
  isSetList,
  keyElement,
  listKeysFor,
  schemaOf,
} from './field-set.ts';
import {
  type Ownership,
  isEntryOf,
  managedFieldsTime,
  readOwnership,
  writeOwnership,
} from './managed-fields.ts';
import { type ResourceType, apiVersionOf } from './resources.ts';
import { type KubeObject, type ObjectStore, StatusError } from './store.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface ApplyOptions {
  manager: string;
  force: boolean;
}

interface Conflict {
  manager: string;
  /** How kube-apiserver prints the manager: `"a"` for appliers, `"b" using apps/v1` for updaters. */
  printed: string;
  path: FieldPath;
}

/** The 409 of a conflicting apply, with Kubernetes' message and FieldManagerConflict causes. */
export class ApplyConflictError extends StatusError {
  constructor(readonly conflicts: readonly Conflict[]) {
    super(409, 'Conflict', conflictMessage(conflicts));
  }

  override toStatus(): Record<string, unknown> {
    return {
      ...super.toStatus(),
      details: {
        causes: this.conflicts.map((conflict) => ({
          type: 'FieldManagerConflict',
          message: `conflict with ${conflict.printed}`,
          field: formatPath(conflict.path),
        })),
      },
    };
  }
}

/** k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager/internal/conflict.go's wording. */
function conflictMessage(conflicts: readonly Conflict[]): string {
  if (conflicts.length === 1) {
    const [only] = conflicts as [Conflict];
    return `Apply failed with 1 conflict: conflict with ${only.printed}: ${formatPath(only.path)}`;
  }
  const byManager = new Map<string, string[]>();
  for (const conflict of conflicts) {
    const paths = byManager.get(conflict.printed) ?? [];
    paths.push(formatPath(conflict.path));
    byManager.set(conflict.printed, paths);
  }
  const lines = [...byManager.keys()]
    .sort()
    .flatMap((printed) => [
      `conflicts with ${printed}:`,
      ...byManager.get(printed)!.map((path) => `- ${path}`),
    ]);
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
}

function printManager(owner: Ownership): string {
  const name = JSON.stringify(owner.entry.manager);
  const withSubresource = owner.entry.subresource
    ? `${name} with subresource ${JSON.stringify(owner.entry.subresource)}`
    : name;
  return owner.entry.operation === 'Update'
    ? `${withSubresource} using ${owner.entry.apiVersion}`
    : withSubresource;
}

// --- merging ------------------------------------------------------------------------------------

function mergeValue(schema: FieldSchema, live: Json | undefined, config: Json, names: string[]): Json {
  if (isObject(config) && !isAtomicMap(schema, names)) {
    const result: JsonObject = isObject(live) ? structuredClone(live) : {};
    for (const [field, value] of Object.entries(config)) {
      if (value === null) delete result[field];
      else result[field] = mergeValue(schema, result[field], value, [...names, field]);
    }
    return result;
  }
  if (Array.isArray(config)) {
    const list = listKeysFor(schema, names);
    const liveItems = Array.isArray(live) ? live : [];
    if (list && config.every((item) => keyElement(item, list) !== undefined)) {
      const result = structuredClone(liveItems);
      for (const item of config) {
        const key = keyElement(item, list);
        const index = result.findIndex((existing) => keyElement(existing, list) === key);
        if (index < 0) result.push(structuredClone(item));
        else result[index] = mergeValue(schema, result[index], item, names);
      }
      return result;
    }
    if (isSetList(names)) {
      const result = structuredClone(liveItems);
      for (const item of config) if (!result.some((existing) => existing === item)) result.push(item);
      return result;
    }
  }
  return structuredClone(config);
}

/** Removes one path from an object in place; a path that no longer exists is ignored. */
function removePath(object: JsonObject, path: FieldPath): void {
  let parent: Json | undefined = object;
  for (const [i, element] of path.entries()) {
    const last = i === path.length - 1;
    const body = element.slice(2);
    if (element.startsWith('f:')) {
      if (!isObject(parent)) return;
      if (last) delete parent[body];
      else parent = parent[body];
      continue;
    }
    if (!Array.isArray(parent)) return;
    const list: Json[] = parent;
    const index = element.startsWith('k:')
      ? list.findIndex(
          (item) =>
            isObject(item) &&
            Object.entries(JSON.parse(body) as JsonObject).every(
              ([field, value]) => (item[field] ?? (field === 'protocol' ? 'TCP' : undefined)) === value,
            ),
        )
      : element.startsWith('v:')
        ? list.findIndex((item) => JSON.stringify(item) === body)
        : Number(body);
    if (index < 0 || index >= list.length) return;
    if (last) list.splice(index, 1);
    else parent = list[index];
  }
}

// --- apply --------------------------------------------------------------------------------------

/**
 * Computes the object an apply by `options.manager` leaves, with its managedFields; `live` is
 * undefined when the apply creates the object. Throws ApplyConflictError unless forced.
 */
export function planApply(
  type: ResourceType,
  live: KubeObject | undefined,
  config: KubeObject,
  options: ApplyOptions,
): KubeObject {
  const schema = schemaOf(type);
  const applied = appliedSet(schema, config);
  const base: KubeObject = live
    ? structuredClone(live)
    : { apiVersion: apiVersionOf(type), kind: type.kind, metadata: { name: config.metadata.name } };
  delete base.metadata.managedFields;
  const configBody = structuredClone(config) as unknown as JsonObject;
  delete (configBody['metadata'] as JsonObject | undefined)?.['managedFields'];
  const merged = mergeValue(schema, base as unknown as Json, configBody, []) as unknown as KubeObject;

  let owners = readOwnership(live);
  const mine = owners.find((owner) => isEntryOf(owner, options.manager, 'Apply', undefined));
  const others = owners.filter((owner) => owner !== mine);
  const { changed } = compareObjects(schema, base, merged);
  const conflicts: Conflict[] = [];
  for (const owner of others) {
    for (const path of owner.fields.intersection(changed).paths()) {
      conflicts.push({ manager: owner.entry.manager, printed: printManager(owner), path });
    }
  }
  if (conflicts.length > 0 && !options.force) {
    throw new ApplyConflictError(
      conflicts.sort((a, b) => (formatPath(a.path) < formatPath(b.path) ? -1 : 1)),
    );
  }
  // Forcing (or applying an unowned value) hands the changed fields to the applier.
  owners = owners.map((owner) =>
    owner === mine ? owner : { entry: owner.entry, fields: owner.fields.difference(changed) },
  );

  // What the applier stopped applying goes, unless another manager still owns it (or below it).
  const stillOwned = owners
    .filter((owner) => owner !== mine)
    .reduce((all, owner) => all.union(owner.fields), new FieldSet());
  const dropped = (mine?.fields ?? new FieldSet())
    .difference(applied)
    .paths()
    .filter((path) => !stillOwned.hasAtOrBelow(path))
    .sort((a, b) => b.length - a.length);
  for (const path of dropped) removePath(merged as unknown as JsonObject, path);

  const now = managedFieldsTime();
  const unchanged = mine && mine.fields.equals(applied) && changed.size === 0 && dropped.length === 0;
  const entry: Ownership = {
    entry: {
      manager: options.manager,
      operation: 'Apply',
      apiVersion: config.apiVersion,
      time: unchanged ? mine.entry.time : now,
      fieldsType: 'FieldsV1',
      fieldsV1: {},
    },
    fields: applied,
  };
  owners = mine ? owners.map((owner) => (owner === mine ? entry : owner)) : [...owners, entry];
  writeOwnership(merged, owners);
  return merged;
}

/** Validates an applied configuration against the object the request names. */
export function checkApplyTarget(
  type: ResourceType,
  config: unknown,
  name: string,
  namespace: string | undefined,
): KubeObject {
  if (!isObject(config) || !isObject(config['metadata'])) {
    throw new StatusError(
      400,
      'BadRequest',
      'the applied configuration must be a Kubernetes object with metadata',
    );
  }
  const object = config as unknown as KubeObject;
  if (object.apiVersion !== apiVersionOf(type) || object.kind !== type.kind) {
    throw new StatusError(
      400,
      'BadRequest',
      `the API version in the data (${String(object.apiVersion)}) and kind (${String(object.kind)}) do not match ${apiVersionOf(type)} ${type.kind}`,
    );
  }
  if (object.metadata.name !== undefined && object.metadata.name !== name) {
    throw new StatusError(
      400,
      'BadRequest',
      `the name of the object (${object.metadata.name}) does not match the name on the URL (${name})`,
    );
  }
  if (type.namespaced && object.metadata.namespace !== undefined && object.metadata.namespace !== namespace) {
    throw new StatusError(
      400,
      'BadRequest',
      'the namespace of the provided object does not match the namespace sent on the request',
    );
  }
  object.metadata.name = name;
  if (type.namespaced) object.metadata.namespace = namespace ?? 'default';
  return object;
}

export type ApplyOutcome = 'created' | 'configured' | 'unchanged';

/**
 * Server-side apply straight on the store, for the sandbox's controllers (Flux applies this way);
 * the API server uses planApply with its own validation and dry-run.
 */
export function serverSideApply(
  store: ObjectStore,
  type: ResourceType,
  config: KubeObject,
  options: ApplyOptions,
): ApplyOutcome {
  const namespace = type.namespaced ? (config.metadata.namespace ?? 'default') : undefined;
  const live = store.get(type, namespace, config.metadata.name);
  const next = planApply(type, live, config, options);
  if (!live) {
    store.create(type, next);
    return 'created';
  }
  const stored = store.update(type, next);
  return stored.metadata.resourceVersion === live.metadata.resourceVersion ? 'unchanged' : 'configured';
}
