// A list+watch cache that survives what @kubernetes/client-node 1.x does not handle by itself:
// - 410 Gone (compacted resourceVersion): re-list and emit the difference;
// - a watch that ends or errors: re-watch from the last resourceVersion, with capped backoff;
// - a silently stalled watch (half-open socket; 1.4.0 has no client-side timeout, see
//   kubernetes-client/javascript#3020; 1.x has no client-side watch timeout at all): an
//   inactivity timer aborts it; the server is asked for bookmarks so a quiet watch is not "inactive";
// - a watch whose request never gets an answer (connection accepted, nothing comes back): the same
//   timer abandons it and watches again;
// - periodic full resync (re-list and diff), so a missed event heals within `resyncMs`.
// `stats` say how current the cache is (liveness and metrics read them).
// Handlers get ADDED/MODIFIED/DELETED with the object as JSON; the cache keeps objects by key, as
// the `transform` option trims them (only what the reader needs: at 10,000 apps, whole Pods and
// managedFields are most of the memory), and `indexers` look them up by any other key (uid, owner)
// without scanning (client-go's Indexers).
import { type KubeConfig, KubernetesObjectApi, Watch } from '@kubernetes/client-node';

export interface KubeObjectJson {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string | Date;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  };
  // Spec and status differ per kind; readers narrow them with engine-specific schemas.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec?: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  status?: any;
}

export type InformerEventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export type InformerHandler = (type: InformerEventType, object: KubeObjectJson) => void;

export interface InformerOptions {
  apiVersion: string;
  kind: string;
  /** Watch path, e.g. /apis/apps/v1/deployments or /apis/apps/v1/namespaces/x/deployments. */
  path: string;
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  /** Abort a watch that delivered nothing (not even a bookmark) for this long. */
  inactivityMs?: number;
  /** Re-list and diff this often. */
  resyncMs?: number;
  /** Ask the server to end each watch after this many seconds (it is restarted at once). */
  watchTimeoutSeconds?: number;
  onError?: (error: unknown) => void;
  /** What the cache keeps of each object (and handlers get); default: the whole object. */
  transform?: (object: KubeObjectJson) => KubeObjectJson;
  /** Named index functions: each gives the keys an object is found under (byIndex). */
  indexers?: Readonly<Record<string, (object: KubeObjectJson) => readonly string[]>>;
}

function keyOf(object: KubeObjectJson): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

export class ResilientInformer {
  private readonly cache = new Map<string, KubeObjectJson>();
  /** index name -> index key -> cache keys. */
  private readonly indexes = new Map<string, Map<string, Set<string>>>();
  private readonly handlers: InformerHandler[] = [];
  private readonly objects: KubernetesObjectApi;
  private readonly watcher: Watch;
  private resourceVersion = '';
  private abort: AbortController | undefined;
  private inactivityTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs = 250;
  private running = false;
  private synced!: Promise<void>;
  /** Bumped per watch attempt: a late answer to an abandoned attempt is dropped. */
  private attempt = 0;
  /**
   * Counters for health probes, metrics and tests. `lastSyncAt`: the last proof that the cache is
   * current (an event or bookmark, a successful list, or a watch the server accepted); `connected`:
   * the last request reached the API server (false after a failed list or watch until one succeeds).
   */
  readonly stats = {
    lists: 0,
    watches: 0,
    gone: 0,
    stalls: 0,
    errors: 0,
    lastEventAt: 0,
    lastSyncAt: 0,
    connected: false,
  };

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: InformerOptions,
  ) {
    this.objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    this.watcher = new Watch(kubeConfig);
  }

  /** The namespace watched; undefined for all. */
  get namespace(): string | undefined {
    return this.options.namespace;
  }

  on(handler: InformerHandler): this {
    this.handlers.push(handler);
    return this;
  }

  list(): KubeObjectJson[] {
    return [...this.cache.values()];
  }

  get(namespace: string | undefined, name: string): KubeObjectJson | undefined {
    return this.cache.get(`${namespace ?? ''}/${name}`);
  }

  /** The cached objects an indexer files under `value` (see InformerOptions.indexers). */
  byIndex(index: string, value: string): KubeObjectJson[] {
    const keys = this.indexes.get(index)?.get(value);
    if (!keys) return [];
    return [...keys].flatMap((key) => {
      const object = this.cache.get(key);
      return object ? [object] : [];
    });
  }

  /** Caches an object (replacing the one under its key) and files it in every index. */
  private put(key: string, object: KubeObjectJson): void {
    this.unindex(key);
    this.cache.set(key, object);
    for (const [name, indexer] of Object.entries(this.options.indexers ?? {})) {
      let index = this.indexes.get(name);
      if (!index) this.indexes.set(name, (index = new Map()));
      for (const value of indexer(object)) {
        let keys = index.get(value);
        if (!keys) index.set(value, (keys = new Set()));
        keys.add(key);
      }
    }
  }

  private remove(key: string): void {
    this.unindex(key);
    this.cache.delete(key);
  }

  private unindex(key: string): void {
    const previous = this.cache.get(key);
    if (!previous) return;
    for (const [name, indexer] of Object.entries(this.options.indexers ?? {})) {
      const index = this.indexes.get(name);
      for (const value of indexer(previous)) {
        const keys = index?.get(value);
        keys?.delete(key);
        if (keys?.size === 0) index?.delete(value);
      }
    }
  }

  private trimmed(object: KubeObjectJson): KubeObjectJson {
    return this.options.transform ? this.options.transform(object) : object;
  }

  /** Starts the informer; resolves after the first list has been delivered. */
  start(): Promise<void> {
    if (this.running) return this.synced;
    this.running = true;
    this.synced = this.relist().then(() => this.watch());
    this.resyncTimer = setInterval(() => {
      void this.relist().catch((error: unknown) => this.fail(error));
    }, this.options.resyncMs ?? 300_000);
    this.resyncTimer.unref();
    return this.synced;
  }

  stop(): void {
    this.running = false;
    clearInterval(this.resyncTimer);
    clearTimeout(this.inactivityTimer);
    clearTimeout(this.retryTimer);
    this.abort?.abort();
    this.abort = undefined;
  }

  private emit(type: InformerEventType, object: KubeObjectJson): void {
    for (const handler of this.handlers) {
      try {
        handler(type, object);
      } catch (error) {
        this.options.onError?.(error);
      }
    }
  }

  private markSynced(): void {
    this.stats.lastSyncAt = Date.now();
    this.stats.connected = true;
  }

  /** Lists everything and emits the difference against the cache. */
  private async relist(): Promise<void> {
    this.stats.lists++;
    const list = await this.objects
      .list(
        this.options.apiVersion,
        this.options.kind,
        this.options.namespace,
        undefined,
        undefined,
        undefined,
        undefined,
        this.options.labelSelector,
      )
      .catch((error: unknown) => {
        this.stats.connected = false;
        throw error;
      });
    this.markSynced();
    // Serialize through JSON: list results are typed models (Dates), watch results plain JSON
    // (client-node #655); the cache must hold one shape.
    const items = (JSON.parse(JSON.stringify(list.items)) as KubeObjectJson[]).map((item) =>
      this.trimmed({ apiVersion: this.options.apiVersion, kind: this.options.kind, ...item }),
    );
    const seen = new Set<string>();
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      const previous = this.cache.get(key);
      this.put(key, item);
      if (!previous) this.emit('ADDED', item);
      else if (previous.metadata?.resourceVersion !== item.metadata?.resourceVersion)
        this.emit('MODIFIED', item);
    }
    for (const [key, object] of this.cache) {
      if (!seen.has(key)) {
        this.remove(key);
        this.emit('DELETED', object);
      }
    }
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
  }

  private armInactivityTimer(): void {
    clearTimeout(this.inactivityTimer);
    this.inactivityTimer = setTimeout(() => {
      this.stats.stalls++;
      if (this.abort) {
        this.abort.abort(); // the done callback restarts the watch
        return;
      }
      // Still waiting for the server to answer the watch request: client-node gives no handle on
      // it until it does, so abandon it (a late answer is dropped) and watch again.
      this.attempt++;
      this.stats.connected = false;
      void this.restart(false, undefined);
    }, this.options.inactivityMs ?? 90_000);
    this.inactivityTimer.unref();
  }

  private async watch(): Promise<void> {
    if (!this.running) return;
    this.stats.watches++;
    const attempt = ++this.attempt;
    const current = (): boolean => attempt === this.attempt;
    this.abort = undefined;
    let gone = false;
    let ended = false;
    const params: Record<string, string | number | boolean> = {
      allowWatchBookmarks: true,
      timeoutSeconds: this.options.watchTimeoutSeconds ?? 300,
    };
    if (this.resourceVersion) params['resourceVersion'] = this.resourceVersion;
    if (this.options.labelSelector) params['labelSelector'] = this.options.labelSelector;
    this.armInactivityTimer();
    try {
      const abort = await this.watcher.watch(
        this.options.path,
        params,
        (type: string, object: KubeObjectJson & { code?: number }) => {
          if (!current()) return;
          this.stats.lastEventAt = Date.now();
          this.markSynced();
          this.backoffMs = 250;
          this.armInactivityTimer();
          if (type === 'ERROR') {
            if (object.code === 410) gone = true;
            return;
          }
          const rv = object.metadata?.resourceVersion;
          if (rv) this.resourceVersion = rv;
          if (type === 'BOOKMARK') return;
          const full = this.trimmed({
            apiVersion: this.options.apiVersion,
            kind: this.options.kind,
            ...object,
          });
          const key = keyOf(full);
          if (type === 'DELETED') {
            this.remove(key);
            this.emit('DELETED', full);
          } else if (type === 'ADDED' || type === 'MODIFIED') {
            const known = this.cache.has(key);
            this.put(key, full);
            this.emit(known ? 'MODIFIED' : 'ADDED', full);
          }
        },
        (error: unknown) => {
          ended = true;
          if (!current()) return;
          void this.restart(gone || (error as { statusCode?: number } | null)?.statusCode === 410, error);
        },
      );
      if (!current()) {
        abort.abort(); // answered after it was abandoned: another watch has taken its place
        return;
      }
      if (ended) return;
      this.abort = abort;
      this.markSynced();
    } catch (error) {
      if (current()) await this.restart((error as { statusCode?: number }).statusCode === 410, error);
    }
  }

  private async restart(gone: boolean, error: unknown): Promise<void> {
    clearTimeout(this.inactivityTimer);
    this.abort = undefined;
    if (!this.running) return;
    const aborted = (error as { name?: string } | null)?.name === 'AbortError';
    if (error && !aborted) {
      this.stats.errors++;
      this.stats.connected = false;
      this.options.onError?.(error);
    }
    if (gone) {
      this.stats.gone++;
      this.resourceVersion = '';
    }
    // Errors back off; a stall or a 410 re-watches at once (a stall already waited its timeout).
    let delay = 0;
    if (!gone && !aborted && error !== undefined) {
      delay = this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    }
    this.retryTimer = setTimeout(() => {
      const next = this.resourceVersion ? this.watch() : this.relist().then(() => this.watch());
      void next.catch((e: unknown) => this.restart(false, e));
    }, delay);
  }

  private fail(error: unknown): void {
    this.stats.errors++;
    this.options.onError?.(error);
  }
}
