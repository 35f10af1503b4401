// The three patch formats the Kubernetes API accepts: JSON merge patch (RFC 7386), JSON patch
// (RFC 6902) and strategic merge patch (Kubernetes' own, lists merged by a key per field). Patches
// never mutate their inputs; failures are StatusErrors so the API server can answer them as-is.
import { StatusError } from './store.ts';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

function invalid(message: string): StatusError {
  return new StatusError(422, 'Invalid', message);
}

// --- JSON merge patch -------------------------------------------------------------------------

/** RFC 7386: objects merge recursively, `null` deletes a key, anything else (lists too) replaces. */
export function applyMergePatch(target: unknown, patch: unknown): any {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

// --- JSON patch -------------------------------------------------------------------------------

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw invalid(`invalid JSON pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Resolves the container that holds the pointer's last token. */
function parentOf(document: Json, tokens: string[], pointer: string): { parent: Json; last: string } {
  let parent = document;
  for (const token of tokens.slice(0, -1)) {
    const next = Array.isArray(parent) ? parent[Number(token)] : isObject(parent) ? parent[token] : undefined;
    if (next === undefined) throw invalid(`JSON patch path "${pointer}" does not exist`);
    parent = next;
  }
  return { parent, last: tokens[tokens.length - 1] ?? '' };
}

function arrayIndex(list: Json[], token: string, pointer: string, forInsert: boolean): number {
  if (forInsert && token === '-') return list.length;
  const index = Number(token);
  const limit = forInsert ? list.length : list.length - 1;
  if (!/^\d+$/.test(token) || index > limit) throw invalid(`JSON patch index out of range in "${pointer}"`);
  return index;
}

function readPointer(document: Json, pointer: string): Json {
  let current: Json | undefined = document;
  for (const token of parsePointer(pointer)) {
    current = Array.isArray(current)
      ? current[Number(token)]
      : isObject(current)
        ? current[token]
        : undefined;
    if (current === undefined) throw invalid(`JSON patch path "${pointer}" does not exist`);
  }
  return current;
}

function addAt(document: Json, pointer: string, value: Json): Json {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return value;
  const { parent, last } = parentOf(document, tokens, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, pointer, true), 0, value);
  else if (isObject(parent)) parent[last] = value;
  else throw invalid(`JSON patch path "${pointer}" does not exist`);
  return document;
}

function removeAt(document: Json, pointer: string): Json {
  const tokens = parsePointer(pointer);
  const { parent, last } = parentOf(document, tokens, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, pointer, false), 1);
  else if (isObject(parent) && last in parent) delete parent[last];
  else throw invalid(`JSON patch path "${pointer}" does not exist`);
  return document;
}

/** RFC 6902, all six operations. */
export function applyJsonPatch(target: unknown, operations: unknown): any {
  if (!Array.isArray(operations)) {
    throw new StatusError(400, 'BadRequest', 'a JSON patch must be a list of operations');
  }
  let document = clone(target) as Json;
  for (const operation of operations as JsonPatchOperation[]) {
    const value = clone(operation.value) as Json;
    switch (operation.op) {
      case 'add':
        document = addAt(document, operation.path, value);
        break;
      case 'remove':
        document = removeAt(document, operation.path);
        break;
      case 'replace':
        readPointer(document, operation.path); // must exist
        document = addAt(removeAt(document, operation.path), operation.path, value);
        break;
      case 'move': {
        const moved = readPointer(document, operation.from ?? '');
        document = addAt(removeAt(document, operation.from ?? ''), operation.path, moved);
        break;
      }
      case 'copy':
        document = addAt(document, operation.path, clone(readPointer(document, operation.from ?? '')));
        break;
      case 'test':
        if (JSON.stringify(readPointer(document, operation.path)) !== JSON.stringify(value)) {
          throw invalid(`JSON patch test failed at "${operation.path}"`);
        }
        break;
      default:
        throw new StatusError(400, 'BadRequest', `unknown JSON patch operation "${String(operation.op)}"`);
    }
  }
  return document;
}

// --- strategic merge patch --------------------------------------------------------------------

/**
 * Merge keys of the lists the built-in kinds merge instead of replacing (`patchMergeKey` in the
 * Kubernetes Go types). Keyed by field name, with the parent field where one name has two meanings.
 */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  conditions: 'type',
  ownerReferences: 'uid',
  hostAliases: 'ip',
  resourceClaims: 'name',
  // Container ports merge by containerPort; a Service's spec.ports by port (see mergeKeyFor).
  ports: 'containerPort',
};

/** Lists of scalars that merge as sets (patchStrategy "merge" without a key). */
const SET_LISTS = new Set(['finalizers']);

function mergeKeyFor(field: string, path: readonly string[]): string | undefined {
  // A Service's (or Endpoints') top-level spec.ports: containers are never directly under spec.
  if (field === 'ports' && path.length === 1 && path[0] === 'spec') return 'port';
  return MERGE_KEYS[field];
}

const SET_ELEMENT_ORDER = '$setElementOrder/';
const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList/';

/**
 * Applies a strategic merge patch as the API server does for built-in kinds: maps merge, `null`
 * deletes, lists with a merge key merge element by element, other lists are replaced. Directives:
 * `$patch: replace|delete|merge`, `$retainKeys`, `$deleteFromPrimitiveList/<field>`; the ordering
 * hint `$setElementOrder/<field>` is accepted and ignored (merged lists keep the live order, new
 * elements go last).
 */
export function applyStrategicMergePatch(target: unknown, patch: unknown): any {
  if (!isObject(patch)) throw new StatusError(400, 'BadRequest', 'a strategic merge patch must be an object');
  const result = mergeMap(isObject(target) ? target : {}, patch, []);
  return result ?? {};
}

/** Returns undefined when the patch deletes the whole map (`$patch: delete`). */
function mergeMap(original: JsonObject, patch: JsonObject, path: readonly string[]): JsonObject | undefined {
  const directive = patch['$patch'];
  if (directive === 'delete') return undefined;
  if (directive === 'replace') return stripDirectives(patch);
  const result = clone(original);
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith(SET_ELEMENT_ORDER)) continue;
    if (key.startsWith(DELETE_FROM_PRIMITIVE_LIST)) {
      const field = key.slice(DELETE_FROM_PRIMITIVE_LIST.length);
      const current = result[field];
      if (Array.isArray(current) && Array.isArray(value)) {
        const doomed = new Set(value.map((item) => JSON.stringify(item)));
        result[field] = current.filter((item) => !doomed.has(JSON.stringify(item)));
      }
      continue;
    }
    if (value === null) {
      delete result[key];
      continue;
    }
    const merged = mergeValue(result[key], value, key, path);
    if (merged === undefined) delete result[key];
    else result[key] = merged;
  }
  const retain = patch['$retainKeys'];
  if (Array.isArray(retain)) {
    for (const key of Object.keys(result)) if (!retain.includes(key)) delete result[key];
  }
  return result;
}

function mergeValue(
  original: Json | undefined,
  patch: Json,
  field: string,
  path: readonly string[],
): Json | undefined {
  const childPath = [...path, field];
  if (isObject(patch)) return mergeMap(isObject(original) ? original : {}, patch, childPath);
  if (!Array.isArray(patch)) return patch;
  const key = mergeKeyFor(field, path);
  if (key) return mergeKeyedList(Array.isArray(original) ? original : [], patch, key, childPath);
  if (SET_LISTS.has(field)) return mergeSetList(Array.isArray(original) ? original : [], patch);
  return stripDirectives(patch);
}

function mergeKeyedList(original: Json[], patch: Json[], key: string, path: readonly string[]): Json[] {
  // `[{"$patch": "replace"}, ...rest]` replaces the whole list with the rest.
  if (patch.some((item) => isObject(item) && item['$patch'] === 'replace' && !(key in item))) {
    return stripDirectives(patch.filter((item) => !(isObject(item) && item['$patch'] === 'replace')));
  }
  const result = clone(original);
  for (const item of patch) {
    if (!isObject(item) || !(key in item)) {
      result.push(stripDirectives(item));
      continue;
    }
    const index = result.findIndex((existing) => isObject(existing) && sameKey(existing[key], item[key]));
    if (item['$patch'] === 'delete') {
      if (index >= 0) result.splice(index, 1);
      continue;
    }
    if (index < 0) {
      result.push(stripDirectives(item));
      continue;
    }
    const merged = mergeMap(result[index] as JsonObject, item, path);
    if (merged === undefined) result.splice(index, 1);
    else result[index] = merged;
  }
  return result;
}

function sameKey(a: Json | undefined, b: Json | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function mergeSetList(original: Json[], patch: Json[]): Json[] {
  const result = clone(original);
  for (const item of patch) if (!result.some((existing) => sameKey(existing, item))) result.push(item);
  return result;
}

/** Removes `$`-directives from a value that is stored as-is (new list elements, replaced maps). */
function stripDirectives<T extends Json>(value: T): T {
  if (Array.isArray(value)) return value.map((item) => stripDirectives(item)) as T;
  if (!isObject(value)) return value;
  const result: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    if (key.startsWith('$')) continue;
    if (item !== null) result[key] = stripDirectives(item);
  }
  return result as T;
}
