// A list+watch cache that survives what @kubernetes/client-node 1.x does not handle by itself:
// - 410 Gone (compacted resourceVersion): re-list and emit the difference;
// - a watch that ends or errors: re-watch from the last resourceVersion, with capped backoff;
// - a silently stalled watch (half-open socket; 1.4.0 has no client-side timeout, see
//   kubernetes-client/javascript#3020 and reference/performance-reliability-security.md §2.3): an
//   inactivity timer aborts it; the server is asked for bookmarks so a quiet watch is not "inactive";
// - periodic full resync (re-list and diff), so a missed event heals within `resyncMs`.
// Handlers get ADDED/MODIFIED/DELETED with the object as JSON; the cache keeps whole objects by key.
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
}

function keyOf(object: KubeObjectJson): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

export class ResilientInformer {
  private readonly cache = new Map<string, KubeObjectJson>();
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
  /** Counters for health probes and tests. */
  readonly stats = { lists: 0, watches: 0, gone: 0, stalls: 0, errors: 0, lastEventAt: 0 };

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: InformerOptions,
  ) {
    this.objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    this.watcher = new Watch(kubeConfig);
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

  /** Lists everything and emits the difference against the cache. */
  private async relist(): Promise<void> {
    this.stats.lists++;
    const list = await this.objects.list(
      this.options.apiVersion,
      this.options.kind,
      this.options.namespace,
      undefined,
      undefined,
      undefined,
      undefined,
      this.options.labelSelector,
    );
    // Serialize through JSON: list results are typed models (Dates), watch results plain JSON
    // (client-node #655); the cache must hold one shape.
    const items = (JSON.parse(JSON.stringify(list.items)) as KubeObjectJson[]).map((item) => ({
      apiVersion: this.options.apiVersion,
      kind: this.options.kind,
      ...item,
    }));
    const seen = new Set<string>();
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      const previous = this.cache.get(key);
      this.cache.set(key, item);
      if (!previous) this.emit('ADDED', item);
      else if (previous.metadata?.resourceVersion !== item.metadata?.resourceVersion)
        this.emit('MODIFIED', item);
    }
    for (const [key, object] of this.cache) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.emit('DELETED', object);
      }
    }
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
  }

  private armInactivityTimer(): void {
    clearTimeout(this.inactivityTimer);
    this.inactivityTimer = setTimeout(() => {
      this.stats.stalls++;
      this.abort?.abort(); // the done callback restarts the watch
    }, this.options.inactivityMs ?? 90_000);
    this.inactivityTimer.unref();
  }

  private async watch(): Promise<void> {
    if (!this.running) return;
    this.stats.watches++;
    let gone = false;
    const params: Record<string, string | number | boolean> = {
      allowWatchBookmarks: true,
      timeoutSeconds: this.options.watchTimeoutSeconds ?? 300,
    };
    if (this.resourceVersion) params['resourceVersion'] = this.resourceVersion;
    if (this.options.labelSelector) params['labelSelector'] = this.options.labelSelector;
    this.armInactivityTimer();
    try {
      this.abort = await this.watcher.watch(
        this.options.path,
        params,
        (type: string, object: KubeObjectJson & { code?: number }) => {
          this.stats.lastEventAt = Date.now();
          this.backoffMs = 250;
          this.armInactivityTimer();
          if (type === 'ERROR') {
            if (object.code === 410) gone = true;
            return;
          }
          const rv = object.metadata?.resourceVersion;
          if (rv) this.resourceVersion = rv;
          if (type === 'BOOKMARK') return;
          const full = { apiVersion: this.options.apiVersion, kind: this.options.kind, ...object };
          const key = keyOf(full);
          if (type === 'DELETED') {
            this.cache.delete(key);
            this.emit('DELETED', full);
          } else if (type === 'ADDED' || type === 'MODIFIED') {
            const known = this.cache.has(key);
            this.cache.set(key, full);
            this.emit(known ? 'MODIFIED' : 'ADDED', full);
          }
        },
        (error: unknown) => {
          void this.restart(gone || (error as { statusCode?: number } | null)?.statusCode === 410, error);
        },
      );
    } catch (error) {
      await this.restart((error as { statusCode?: number }).statusCode === 410, error);
    }
  }

  private async restart(gone: boolean, error: unknown): Promise<void> {
    clearTimeout(this.inactivityTimer);
    if (!this.running) return;
    const aborted = (error as { name?: string } | null)?.name === 'AbortError';
    if (error && !aborted) {
      this.stats.errors++;
      this.options.onError?.(error);
    }
    if (gone) {
      this.stats.gone++;
      this.resourceVersion = '';
    }
    const delay = gone || aborted ? 0 : this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
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
