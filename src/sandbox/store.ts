// The sandbox's etcd: every object of every kind, one global resourceVersion counter, a bounded
// event log for resuming watches (older resumes get 410 Gone, as after an etcd compaction), and
// owner-reference garbage collection. Controllers and the HTTP API server both work on this store.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  type DeleteOptions,
  finalizersAfterDelete,
  finalizersOf,
  kubeTimestamp,
  podGracePeriodSeconds,
} from './deletion.ts';
import { GarbageCollector } from './garbage-collector.ts';
import { NAMESPACE, POD, type ResourceType, apiVersionOf } from './resources.ts';
import { selectedEvent } from './watch-selection.ts';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  generateName?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: any;
  status?: any;
  [key: string]: unknown;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: WatchEventType;
  resource: ResourceType;
  object: KubeObject;
  /** Numeric resourceVersion of this event. */
  rv: number;
  /** For MODIFIED: the object before the change (selector watches turn it into ADDED/DELETED). */
  previous?: KubeObject;
}

/** An API error with Kubernetes' Status shape. */
export class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: { name?: string; kind?: string; group?: string },
  ) {
    super(message);
    this.name = 'StatusError';
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

export function notFound(type: ResourceType, name: string): StatusError {
  const what = type.group ? `${type.plural}.${type.group}` : type.plural;
  return new StatusError(404, 'NotFound', `${what} "${name}" not found`, {
    name,
    kind: type.plural,
    ...(type.group ? { group: type.group } : {}),
  });
}

export interface ListOptions {
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
}

export interface StoreOptions {
  /** How many events the store keeps for resuming watches; older resumes get 410 Gone. */
  eventHistory?: number;
  /**
   * Mutating admission run on every create and spec update, whoever writes (the HTTP API server,
   * the Flux syncer, controllers): the API server's defaulting, so every writer stores the same shape.
   */
  admit?: (type: ResourceType, object: KubeObject) => void;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function key(type: ResourceType, namespace: string | undefined, name: string): string {
  return `${type.group}/${type.plural}/${namespace ?? ''}/${name}`;
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/**
 * Deep equality of JSON values regardless of key order: clients (client-node's serializer, kubectl)
 * send keys in their own order, and a write that only reorders keys is a no-op in Kubernetes.
 */
function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value !== 'object' || value === null) return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort())
    sorted[key] = canonical((value as Record<string, unknown>)[key]);
  return sorted;
}

export class ObjectStore {
  private readonly objects = new Map<string, { resource: ResourceType; object: KubeObject }>();
  /** uid -> key, for owner lookups. */
  private readonly uids = new Map<string, string>();
  private readonly gc = new GarbageCollector({
    byUid: (uid) => {
      const entry = this.objects.get(this.uids.get(uid) ?? '');
      return entry ? { resource: entry.resource, object: clone(entry.object) } : undefined;
    },
    dependentsOf: (uid) => {
      const found: { resource: ResourceType; object: KubeObject }[] = [];
      for (const entry of this.objects.values()) {
        if (entry.object.metadata.ownerReferences?.some((ref) => ref.uid === uid))
          found.push({ resource: entry.resource, object: clone(entry.object) });
      }
      return found;
    },
    update: (type, object) => this.update(type, object),
    delete: (type, namespace, name, options) => this.delete(type, namespace, name, options),
  });
  private readonly log: StoreEvent[] = [];
  private readonly historyLimit: number;
  private readonly admit: ((type: ResourceType, object: KubeObject) => void) | undefined;
  private readonly emitter = new EventEmitter();
  private revision = 1;
  /** The oldest resourceVersion a watch may still resume from. */
  private compactedAt = 1;

  constructor(options: StoreOptions = {}) {
    this.historyLimit = options.eventHistory ?? 5000;
    this.admit = options.admit;
    this.emitter.setMaxListeners(0);
    // Flux, Argo CD and Rewind (deploy/: its Lease and switches live in rewind-system) come installed.
    for (const name of ['default', 'kube-system', 'kube-public', 'flux-system', 'argocd', 'rewind-system']) {
      this.create(NAMESPACE, {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name },
        status: { phase: 'Active' },
      });
    }
  }

  /** The oldest resourceVersion a watch or a list continuation may still resume from. */
  get oldestResourceVersion(): number {
    return this.compactedAt;
  }

  /** The current resourceVersion (of the last write). */
  get resourceVersion(): string {
    return String(this.revision);
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const entry = this.objects.get(key(type, type.namespaced ? namespace : undefined, name));
    return entry ? clone(entry.object) : undefined;
  }

  mustGet(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const object = this.get(type, namespace, name);
    if (!object) throw notFound(type, name);
    return object;
  }

  list(type: ResourceType, options: ListOptions = {}): KubeObject[] {
    const labels = options.labelSelector ? parseLabelSelector(options.labelSelector) : undefined;
    const fields = options.fieldSelector ? parseFieldSelector(options.fieldSelector) : undefined;
    const items: KubeObject[] = [];
    for (const entry of this.objects.values()) {
      if (entry.resource !== type) continue;
      const object = entry.object;
      if (options.namespace && type.namespaced && object.metadata.namespace !== options.namespace) continue;
      if (labels && !labels(object.metadata.labels ?? {})) continue;
      if (fields && !fields(object)) continue;
      items.push(clone(object));
    }
    return items.sort((a, b) =>
      `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(
        `${b.metadata.namespace ?? ''}/${b.metadata.name}`,
      ),
    );
  }

  create(type: ResourceType, input: KubeObject): KubeObject {
    const object = clone(input);
    object.apiVersion = apiVersionOf(type);
    object.kind = type.kind;
    const meta = (object.metadata ??= { name: '' });
    this.admit?.(type, object);
    if (!meta.name && meta.generateName) meta.name = meta.generateName + randomUUID().slice(0, 5);
    if (!meta.name)
      throw new StatusError(422, 'Invalid', `${type.kind} is invalid: metadata.name: Required value`);
    if (!DNS_SUBDOMAIN.test(meta.name) || meta.name.length > 253) {
      throw new StatusError(
        422,
        'Invalid',
        `${type.kind} "${meta.name}" is invalid: metadata.name: must be a lowercase RFC 1123 subdomain`,
      );
    }
    if (type.namespaced) {
      meta.namespace ??= 'default';
      if (!this.objects.has(key(NAMESPACE, undefined, meta.namespace))) {
        throw new StatusError(404, 'NotFound', `namespaces "${meta.namespace}" not found`, {
          name: meta.namespace,
          kind: 'namespaces',
        });
      }
    } else {
      delete meta.namespace;
    }
    const k = key(type, meta.namespace, meta.name);
    if (this.objects.has(k)) {
      const what = type.group ? `${type.plural}.${type.group}` : type.plural;
      throw new StatusError(409, 'AlreadyExists', `${what} "${meta.name}" already exists`, {
        name: meta.name,
        kind: type.plural,
      });
    }
    meta.uid = randomUUID();
    meta.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    meta.generation = 1;
    delete meta.deletionTimestamp;
    delete meta['deletionGracePeriodSeconds'];
    meta.resourceVersion = String(++this.revision);
    this.objects.set(k, { resource: type, object });
    this.uids.set(meta.uid, k);
    this.record('ADDED', type, object);
    return clone(object);
  }

  /**
   * Replaces an object. With `subresource: 'status'` only `.status` is taken from the input; otherwise
   * `.status` is kept from the stored object (as the real API server does for kinds with a status
   * subresource). A non-empty `metadata.resourceVersion` must match (optimistic concurrency).
   */
  update(type: ResourceType, input: KubeObject, options: { subresource?: 'status' } = {}): KubeObject {
    const namespace = type.namespaced ? (input.metadata?.namespace ?? 'default') : undefined;
    const name = input.metadata?.name;
    if (!name)
      throw new StatusError(422, 'Invalid', `${type.kind} is invalid: metadata.name: Required value`);
    const k = key(type, namespace, name);
    const entry = this.objects.get(k);
    if (!entry) throw notFound(type, name);
    const current = entry.object;
    const expected = input.metadata.resourceVersion;
    if (expected && expected !== current.metadata.resourceVersion) {
      const what = type.group ? `${type.plural}.${type.group}` : type.plural;
      throw new StatusError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${what} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        { name, kind: type.plural },
      );
    }
    let next: KubeObject;
    if (options.subresource === 'status') {
      next = clone(current);
      next.status = clone(input.status);
    } else {
      next = clone(input);
      this.admit?.(type, next);
      next.apiVersion = current.apiVersion;
      next.kind = current.kind;
      // Identity fields are the server's.
      next.metadata.uid = current.metadata.uid!;
      next.metadata.creationTimestamp = current.metadata.creationTimestamp!;
      next.metadata.generation = current.metadata.generation!;
      if (current.metadata.namespace) next.metadata.namespace = current.metadata.namespace;
      keepDeletionState(type, current, next);
      if (type.subresources.includes('status')) {
        if (current.status === undefined) delete next.status;
        else next.status = clone(current.status);
      }
      const specChanged = Object.keys({ ...current, ...next }).some(
        (field) => field !== 'metadata' && field !== 'status' && !sameJson(current[field], next[field]),
      );
      if (specChanged) next.metadata.generation = (current.metadata.generation ?? 0) + 1;
    }
    delete next.metadata.resourceVersion;
    const before = { ...current.metadata, resourceVersion: undefined };
    if (
      sameJson(
        { ...current, metadata: before },
        { ...next, metadata: { ...next.metadata, resourceVersion: undefined } },
      )
    ) {
      return clone(current); // a no-op write does not bump the resourceVersion, as in Kubernetes
    }
    this.commit(type, entry, next);
    // ShouldDeleteDuringUpdate: the last finalizer gone, and no grace period left to wait for.
    if (readyToRemove(next)) return this.remove(type, next);
    return clone(next);
  }

  private commit(type: ResourceType, entry: { object: KubeObject }, next: KubeObject): void {
    const previous = entry.object;
    next.metadata.resourceVersion = String(++this.revision);
    entry.object = next;
    this.record('MODIFIED', type, next, previous);
  }

  /**
   * Reads, changes and writes an object, retrying on conflicts. `change` may return false to skip
   * the write. Returns the stored object, or undefined when it does not exist.
   */
  mutate(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    change: (object: KubeObject) => boolean | void,
    options: { subresource?: 'status' } = {},
  ): KubeObject | undefined {
    const object = this.get(type, namespace, name);
    if (!object) return undefined;
    if (change(object) === false) return object;
    return this.update(type, object, options);
  }

  /**
   * Deletes as kube-apiserver does: at once when nothing holds the object back; otherwise it gets a
   * `deletionTimestamp` and stays until its finalizers are gone (the propagation policy adds the
   * garbage collector's `orphan` or `foregroundDeletion`) and, for a Pod, until the kubelet
   * confirms its containers stopped (a delete with grace period 0). Returns the object as it is
   * now: gone (the last state) or marked.
   */
  delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions = {},
  ): KubeObject {
    const entry = this.objects.get(key(type, type.namespaced ? (namespace ?? 'default') : undefined, name));
    if (!entry) throw notFound(type, name);
    const current = entry.object;
    const finalizers = finalizersAfterDelete(finalizersOf(current), options);
    let grace = type === POD ? podGracePeriodSeconds(current, options) : 0;
    const next = clone(current);
    const meta = next.metadata;
    const now = Date.now();
    if (meta.deletionTimestamp) {
      // Deleting again: only a shorter grace period counts, and the policy may swap GC finalizers.
      const pending = Number(meta['deletionGracePeriodSeconds'] ?? 0);
      if (grace < pending) {
        const start = Date.parse(meta.deletionTimestamp) - pending * 1000;
        meta.deletionTimestamp = kubeTimestamp(start + grace * 1000);
      } else grace = pending;
    } else {
      if (finalizers.length === 0 && grace === 0) return this.remove(type, current);
      meta.deletionTimestamp = kubeTimestamp(now + grace * 1000);
    }
    meta['deletionGracePeriodSeconds'] = grace;
    if (finalizers.length > 0) meta['finalizers'] = finalizers;
    else delete meta['finalizers'];
    if (readyToRemove(next)) return this.remove(type, next);
    if (!sameJson(current, next)) {
      this.commit(type, entry, next);
      this.gc.markedForDeletion(meta.uid ?? '');
    }
    return this.get(type, meta.namespace, meta.name) ?? clone(next);
  }

  private remove(type: ResourceType, object: KubeObject): KubeObject {
    const k = key(type, object.metadata.namespace, object.metadata.name);
    if (!this.objects.delete(k)) return clone(object);
    this.uids.delete(object.metadata.uid ?? '');
    const deleted = clone(object);
    deleted.metadata.resourceVersion = String(++this.revision);
    this.record('DELETED', type, deleted);
    this.gc.removed(deleted);
    if (type === NAMESPACE) {
      for (const entry of [...this.objects.values()]) {
        if (entry.resource.namespaced && entry.object.metadata.namespace === deleted.metadata.name) {
          this.remove(entry.resource, entry.object);
        }
      }
    }
    return deleted;
  }

  private record(
    type: WatchEventType,
    resource: ResourceType,
    object: KubeObject,
    previous?: KubeObject,
  ): void {
    const event: StoreEvent = {
      type,
      resource,
      object: clone(object),
      rv: this.revision,
      ...(previous ? { previous: clone(previous) } : {}),
    };
    this.log.push(event);
    if (this.log.length > this.historyLimit) {
      const dropped = this.log.splice(0, this.log.length - this.historyLimit);
      this.compactedAt = dropped[dropped.length - 1]!.rv;
    }
    this.emitter.emit('event', event);
  }

  /**
   * Forgets the event history, as etcd compaction does: a watch that resumes from an older
   * resourceVersion now gets 410 Gone.
   */
  compact(): void {
    this.log.length = 0;
    this.compactedAt = this.revision;
  }

  /**
   * Subscribes to changes of one kind (or every kind). With `sinceResourceVersion` the events after
   * that version are replayed first; a version older than the retained history throws 410 Gone.
   * Returns the unsubscribe function.
   */
  watch(
    type: ResourceType | undefined,
    listener: (event: StoreEvent) => void,
    options: ListOptions & { sinceResourceVersion?: string } = {},
  ): () => void {
    const labels = options.labelSelector ? parseLabelSelector(options.labelSelector) : undefined;
    const fields = options.fieldSelector ? parseFieldSelector(options.fieldSelector) : undefined;
    const selects = (object: KubeObject): boolean =>
      (!labels || labels(object.metadata.labels ?? {})) && (!fields || fields(object));
    const inScope = (event: StoreEvent): boolean =>
      (!type || event.resource === type) &&
      (!options.namespace ||
        !event.resource.namespaced ||
        event.object.metadata.namespace === options.namespace);
    const deliver = (event: StoreEvent): void => {
      const seen = inScope(event) ? selectedEvent(event, selects) : undefined;
      if (seen) listener(seen);
    };
    if (
      options.sinceResourceVersion !== undefined &&
      options.sinceResourceVersion !== '' &&
      options.sinceResourceVersion !== '0'
    ) {
      const since = Number(options.sinceResourceVersion);
      if (!Number.isInteger(since))
        throw new StatusError(400, 'BadRequest', `invalid resourceVersion "${options.sinceResourceVersion}"`);
      if (since < this.compactedAt) {
        throw new StatusError(410, 'Expired', `too old resource version: ${since} (${this.compactedAt})`);
      }
      for (const event of this.log) if (event.rv > since) deliver(event);
    }
    this.emitter.on('event', deliver);
    return () => this.emitter.off('event', deliver);
  }
}

/** Nothing holds a marked object any more: no finalizer, no grace period left. */
function readyToRemove(object: KubeObject): boolean {
  return (
    Boolean(object.metadata.deletionTimestamp) &&
    finalizersOf(object).length === 0 &&
    Number(object.metadata['deletionGracePeriodSeconds'] ?? 0) === 0
  );
}

/**
 * BeforeUpdate and ValidateObjectMetaUpdate: an update never sets, moves or clears a
 * deletionTimestamp or grace period (only DELETE does), and adds no finalizer to an object
 * being deleted.
 */
function keepDeletionState(type: ResourceType, current: KubeObject, next: KubeObject): void {
  const meta = next.metadata;
  for (const field of ['deletionTimestamp', 'deletionGracePeriodSeconds'] as const) {
    if (current.metadata[field] === undefined) delete meta[field];
    else (meta as Record<string, unknown>)[field] = current.metadata[field];
  }
  if (!current.metadata.deletionTimestamp) return;
  const before = new Set(finalizersOf(current));
  const added = finalizersOf(next).filter((f) => !before.has(f));
  if (added.length > 0) {
    throw new StatusError(
      422,
      'Invalid',
      `${type.kind} "${meta.name}" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => `"${f}"`).join(', ')}}`,
    );
  }
}

type LabelPredicate = (labels: Record<string, string>) => boolean;

/** Parses a Kubernetes label selector: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`. */
export function parseLabelSelector(selector: string): LabelPredicate {
  const clauses: LabelPredicate[] = [];
  // Split on commas that are not inside parentheses.
  const parts = selector.match(/(?:[^,(]|\([^)]*\))+/g) ?? [];
  for (const raw of parts) {
    const part = raw.trim();
    if (!part) continue;
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      const [, k, op, list] = m as unknown as [string, string, string, string];
      const values = list.split(',').map((v) => v.trim());
      clauses.push(
        op === 'in' ? (l) => k in l && values.includes(l[k]!) : (l) => !(k in l) || !values.includes(l[k]!),
      );
    } else if ((m = part.match(/^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/))) {
      const [, k, op, v] = m as unknown as [string, string, string, string];
      clauses.push(op === '!=' ? (l) => l[k] !== v : (l) => l[k] === v);
    } else if ((m = part.match(/^!\s*([\w./-]+)$/))) {
      const k = m[1]!;
      clauses.push((l) => !(k in l));
    } else if ((m = part.match(/^([\w./-]+)$/))) {
      const k = m[1]!;
      clauses.push((l) => k in l);
    } else {
      throw new StatusError(400, 'BadRequest', `unable to parse requirement: "${part}"`);
    }
  }
  return (labels) => clauses.every((clause) => clause(labels));
}

/** Field selectors: `path=value` / `path!=value` over dotted paths (metadata.name, involvedObject.uid, ...). */
export function parseFieldSelector(selector: string): (object: KubeObject) => boolean {
  const clauses = selector
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const m = part.match(/^([\w.]+)\s*(==|=|!=)\s*(.*)$/);
      if (!m) throw new StatusError(400, 'BadRequest', `invalid field selector: "${part}"`);
      const [, path, op, value] = m as unknown as [string, string, string, string];
      return (object: KubeObject) => {
        let current: unknown = object;
        for (const segment of path.split('.'))
          current = (current as Record<string, unknown> | undefined)?.[segment];
        const actual =
          typeof current === 'string' || typeof current === 'number' || typeof current === 'boolean'
            ? String(current)
            : '';
        return op === '!=' ? actual !== value : actual === value;
      };
    });
  return (object) => clauses.every((clause) => clause(object));
}
