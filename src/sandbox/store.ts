// The sandbox's etcd: every object of every kind, one global resourceVersion counter, a bounded
// event log for resuming watches (older resumes get 410 Gone, as after an etcd compaction), and
// owner-reference garbage collection. Controllers and the HTTP API server both work on this store.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { NAMESPACE, type ResourceType, apiVersionOf } from './resources.ts';

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
    for (const name of ['default', 'kube-system', 'kube-public', 'flux-system', 'argocd']) {
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
    meta.resourceVersion = String(++this.revision);
    this.objects.set(k, { resource: type, object });
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
    next.metadata.resourceVersion = String(++this.revision);
    entry.object = next;
    this.record('MODIFIED', type, next);
    if (next.metadata.deletionTimestamp && !(next.metadata['finalizers'] as string[] | undefined)?.length) {
      this.remove(type, next);
    }
    return clone(next);
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

  delete(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const entry = this.objects.get(key(type, type.namespaced ? (namespace ?? 'default') : undefined, name));
    if (!entry) throw notFound(type, name);
    return this.remove(type, entry.object);
  }

  private remove(type: ResourceType, object: KubeObject): KubeObject {
    const k = key(type, object.metadata.namespace, object.metadata.name);
    if (!this.objects.delete(k)) return clone(object);
    const deleted = clone(object);
    deleted.metadata.resourceVersion = String(++this.revision);
    this.record('DELETED', type, deleted);
    this.collectDependents(deleted);
    if (type === NAMESPACE) {
      for (const entry of [...this.objects.values()]) {
        if (entry.resource.namespaced && entry.object.metadata.namespace === deleted.metadata.name) {
          this.remove(entry.resource, entry.object);
        }
      }
    }
    return deleted;
  }

  /** Background cascading deletion: whatever an object owned goes with it. */
  private collectDependents(owner: KubeObject): void {
    const uid = owner.metadata.uid;
    for (const entry of [...this.objects.values()]) {
      const refs = entry.object.metadata.ownerReferences ?? [];
      if (!refs.some((ref) => ref.uid === uid)) continue;
      const remaining = refs.filter(
        (ref) => ref.uid !== uid && this.ownerExists(ref, entry.object.metadata.namespace),
      );
      if (remaining.length === 0) this.remove(entry.resource, entry.object);
    }
  }

  private ownerExists(ref: OwnerReference, namespace: string | undefined): boolean {
    for (const entry of this.objects.values()) {
      if (
        entry.object.metadata.uid === ref.uid &&
        (entry.object.metadata.namespace ?? namespace) === namespace
      )
        return true;
    }
    return false;
  }

  private record(type: WatchEventType, resource: ResourceType, object: KubeObject): void {
    const event: StoreEvent = { type, resource, object: clone(object), rv: this.revision };
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
    const matches = (event: StoreEvent): boolean =>
      (!type || event.resource === type) &&
      (!options.namespace ||
        !event.resource.namespaced ||
        event.object.metadata.namespace === options.namespace) &&
      (!labels || labels(event.object.metadata.labels ?? {})) &&
      (!fields || fields(event.object));
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
      for (const event of this.log) if (event.rv > since && matches(event)) listener(event);
    }
    const onEvent = (event: StoreEvent): void => {
      if (matches(event)) listener(event);
    };
    this.emitter.on('event', onEvent);
    return () => this.emitter.off('event', onEvent);
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
