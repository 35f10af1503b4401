// `metadata.managedFields`: which field manager owns which fields, as kube-apiserver records them on
// every write. Non-apply writes (create, PUT, patches) are `Update` operations: the writer takes
// every field it changed, away from whoever owned it before. Server-side apply (server-side-apply.ts)
// records `Apply` entries. Writers inside the sandbox (the Flux and Argo controllers) go through the
// same functions, so their objects carry the managers the real controllers leave.
import { type FieldSchema, FieldSet, type FieldsV1, compareObjects, schemaOf } from './field-set.ts';
import { type ResourceType, apiVersionOf } from './resources.ts';
import type { KubeObject } from './store.ts';

export type ManagedOperation = 'Apply' | 'Update';

export interface ManagedFieldsEntry {
  manager: string;
  operation: ManagedOperation;
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: FieldsV1;
  subresource?: string;
}

/** One manager's ownership, decoded. */
export interface Ownership {
  entry: ManagedFieldsEntry;
  fields: FieldSet;
}

/** RFC 3339 to the second, as metav1.Time serializes. */
export function managedFieldsTime(now = new Date()): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * The manager of a write that names none: the user agent up to its first `/`, as kube-apiserver
 * derives it (`kubectl/v1.32.4 (linux/amd64) ...` is `kubectl`).
 */
export function fieldManagerOf(
  fieldManager: string | null | undefined,
  userAgent: string | undefined,
): string {
  if (fieldManager) return fieldManager;
  const prefix = (userAgent ?? '').split('/')[0] ?? '';
  return [...prefix]
    .filter((char) => char >= ' ' && char !== '\u007f')
    .join('')
    .slice(0, 128);
}

export function readOwnership(object: KubeObject | undefined): Ownership[] {
  const entries = object?.metadata.managedFields;
  if (!Array.isArray(entries)) return [];
  return (entries as ManagedFieldsEntry[])
    .filter((entry) => typeof entry?.manager === 'string')
    .map((entry) => ({ entry, fields: FieldSet.fromFieldsV1(entry.fieldsV1) }));
}

export function writeOwnership(object: KubeObject, owners: readonly Ownership[]): void {
  const entries = owners
    .filter((owner) => owner.fields.size > 0)
    .map((owner) => ({ ...owner.entry, fieldsV1: owner.fields.toFieldsV1() }));
  if (entries.length > 0) object.metadata.managedFields = entries;
  else delete object.metadata.managedFields;
}

/** Whether an ownership entry is the given manager's entry for this kind of write. */
export function isEntryOf(
  owner: Ownership,
  manager: string,
  operation: ManagedOperation,
  subresource: string | undefined,
): boolean {
  return (
    owner.entry.manager === manager &&
    owner.entry.operation === operation &&
    (owner.entry.subresource ?? '') === (subresource ?? '')
  );
}

/** The object without its managedFields, for comparisons. */
function withoutManagedFields(object: KubeObject): KubeObject {
  const copy = { ...object, metadata: { ...object.metadata } };
  delete copy.metadata.managedFields;
  return copy;
}

/**
 * Records an `Update` by `manager` on `after` (a create when `before` is undefined): the manager
 * gains every field it changed or added, other managers lose them, and removed fields leave every
 * set. The managedFields a client sent are ignored: the live object's are the record.
 */
export function recordUpdate(
  type: ResourceType,
  before: KubeObject | undefined,
  after: KubeObject,
  manager: string,
  subresource?: string,
): void {
  const schema: FieldSchema = schemaOf(type);
  const { changed, added, removed } = compareObjects(
    schema,
    before && withoutManagedFields(before),
    withoutManagedFields(after),
  );
  const taken = changed.union(added);
  const owners = readOwnership(before).map((owner) => ({
    entry: owner.entry,
    fields: owner.fields.difference(taken).difference(removed),
  }));
  const mine = owners.find((owner) => isEntryOf(owner, manager, 'Update', subresource));
  if (mine) {
    const fields = mine.fields.union(taken);
    if (!fields.equals(mine.fields)) {
      mine.fields = fields;
      mine.entry = { ...mine.entry, time: managedFieldsTime() };
    }
  } else if (taken.size > 0) {
    owners.push({
      entry: {
        manager,
        operation: 'Update',
        apiVersion: apiVersionOf(type),
        time: managedFieldsTime(),
        fieldsType: 'FieldsV1',
        fieldsV1: {},
        ...(subresource ? { subresource } : {}),
      },
      fields: taken,
    });
  }
  writeOwnership(after, owners);
}
