// One reconcile at a time per object, as controller-runtime's workqueue guarantees: the sandbox's
// Flux syncer and Argo CD controller both key their work by object.

/** Runs at most one task per key; a request that arrives while one runs queues exactly one more. */
export class SerialQueue {
  private readonly active = new Map<string, Promise<void>>();
  private readonly queued = new Set<string>();
  closed = false;

  constructor(private readonly run: (key: string) => Promise<void>) {}

  request(key: string): void {
    if (this.closed) return;
    if (this.active.has(key)) {
      this.queued.add(key);
      return;
    }
    // Start on a later turn: requests arrive from store listeners, and writing to the store from
    // inside a listener would deliver newer events before older ones to the other watchers.
    const task = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => (this.closed ? undefined : this.run(key)))
      .catch(() => undefined)
      .finally(() => {
        this.active.delete(key);
        if (this.queued.delete(key)) this.request(key);
      });
    this.active.set(key, task);
  }

  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active.values()]);
  }
}
