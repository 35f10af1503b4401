// The kubelet's restart back-off for crashing containers (client-go flowcontrol.Backoff as used by
// kuberuntime's doBackOff): the first restart is immediate, then each waits twice the previous
// one, from the base (10 s) up to the cap (5 min); an entry idle for twice the cap (a container
// that ran fine for 10 min) starts over from the base.

/** The kubelet's values: 10 s doubling, capped at 300 s. */
export const KUBELET_BACKOFF_BASE_MS = 10_000;
/** The cap is 30 bases (5 min for 10 s), so a scaled-down base keeps the kubelet's shape. */
const CAP_IN_BASES = 30;

interface Entry {
  backoffMs: number;
  lastUpdate: number;
}

export class CrashBackoff {
  private readonly entries = new Map<string, Entry>();
  readonly maxMs: number;

  constructor(readonly baseMs: number = KUBELET_BACKOFF_BASE_MS) {
    this.maxMs = baseMs * CAP_IN_BASES;
  }

  /** A container of `key` just exited at `now`: how long it waits in CrashLoopBackOff before restarting. */
  next(key: string, now: number): number {
    const entry = this.entries.get(key);
    const expired = !entry || now - entry.lastUpdate > 2 * this.maxMs;
    const backoffMs = expired ? this.baseMs : Math.min(entry.backoffMs * 2, this.maxMs);
    this.entries.set(key, { backoffMs, lastUpdate: now });
    return backoffMs;
  }

  forget(keyPrefix: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(keyPrefix)) this.entries.delete(key);
  }
}
