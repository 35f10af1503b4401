// What a watch with a label or field selector sees of one change, as kube-apiserver's watch cache
// decides it (cacheWatcher.convertToWatchEvent): an object that starts matching is ADDED, one that
// stops matching is DELETED (its previous state, at the new resourceVersion), one that matches
// before and after is MODIFIED, and changes that never match are not sent.
import type { KubeObject, StoreEvent } from './store.ts';

export function selectedEvent(
  event: StoreEvent,
  selects: (object: KubeObject) => boolean,
): StoreEvent | undefined {
  const now = selects(event.object);
  if (event.type !== 'MODIFIED' || !event.previous) return now ? event : undefined;
  const before = selects(event.previous);
  if (now) return before ? event : { ...event, type: 'ADDED' };
  if (!before) return undefined;
  const last = structuredClone(event.previous);
  last.metadata.resourceVersion = event.object.metadata.resourceVersion!;
  return { ...event, type: 'DELETED', object: last };
}
