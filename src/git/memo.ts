// A small memo for answers that never change once computed (a path closure at a commit, the later
// changes on a given head): concurrent askers share one computation, failures are not kept, and
// the oldest answers go first past `limit` so a long-running bot does not grow without bound.
export class Memo<V> {
  private readonly entries = new Map<string, Promise<V>>();

  constructor(private readonly limit = 2000) {}

  get(key: string, compute: () => Promise<V>): Promise<V> {
    const known = this.entries.get(key);
    if (known !== undefined) return known;
    const value = compute();
    this.entries.set(key, value);
    value.catch(() => this.entries.delete(key));
    if (this.entries.size > this.limit) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return value;
  }
}
