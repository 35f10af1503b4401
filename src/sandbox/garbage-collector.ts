// The garbage collector's decisions (pkg/controller/garbagecollector: attemptToDeleteItem,
// processDeletingDependentsItem, orphanDependents), run synchronously by the store when an object
// is marked for deletion or leaves it. Kubernetes' GC works from an informer-fed graph and gets
// there a moment later; here every step happens inside the write that caused it, so what a client
// reads next already reflects it. What takes time (a dependent Pod's graceful termination) still
// does: a foreground owner stays until its blocking dependents are really gone.
import { FOREGROUND_FINALIZER, ORPHAN_FINALIZER, finalizersOf } from './deletion.ts';
import type { DeleteOptions } from './deletion.ts';
import type { ResourceType } from './resources.ts';
import type { KubeObject, OwnerReference } from './store.ts';

export interface StoredObject {
  resource: ResourceType;
  object: KubeObject;
}

/** What the collector needs from the store. Reads return copies. */
export interface CollectedStore {
  byUid(uid: string): StoredObject | undefined;
  /** Objects with an ownerReference to this uid, being deleted or not. */
  dependentsOf(uid: string): StoredObject[];
  update(type: ResourceType, object: KubeObject): KubeObject;
  delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options?: DeleteOptions,
  ): KubeObject;
}

export class GarbageCollector {
  constructor(private readonly store: CollectedStore) {}

  /** An object was marked for deletion (or deleted again): start what its finalizers ask of the GC. */
  markedForDeletion(uid: string): void {
    const owner = this.store.byUid(uid);
    if (!owner) return;
    const finalizers = finalizersOf(owner.object);
    if (finalizers.includes(ORPHAN_FINALIZER)) this.orphanDependents(owner);
    else if (finalizers.includes(FOREGROUND_FINALIZER)) {
      for (const dependent of this.store.dependentsOf(uid))
        this.attemptToDelete(dependent.object.metadata.uid);
      this.finishForeground(uid);
    }
  }

  /**
   * An object left the store: its dependents may have lost their last owner, and owners deleting
   * in the foreground may have been waiting for it.
   */
  removed(object: KubeObject): void {
    const uid = object.metadata.uid ?? '';
    for (const dependent of this.store.dependentsOf(uid)) this.attemptToDelete(dependent.object.metadata.uid);
    for (const ref of object.metadata.ownerReferences ?? []) this.finishForeground(ref.uid);
  }

  /** Orphan: the owner's references are removed from every dependent, then its `orphan` finalizer. */
  private orphanDependents(owner: StoredObject): void {
    const uid = owner.object.metadata.uid ?? '';
    for (const dependent of this.store.dependentsOf(uid)) {
      this.removeOwnerReferences(dependent, new Set([uid]));
    }
    this.removeFinalizer(uid, ORPHAN_FINALIZER);
  }

  /** Foreground: the owner goes once no dependent that blocks its deletion is left. */
  private finishForeground(uid: string): void {
    const owner = this.store.byUid(uid);
    if (!owner || !waitingForDependents(owner.object)) return;
    const blocking = this.store
      .dependentsOf(uid)
      .some(({ object }) =>
        object.metadata.ownerReferences?.some((ref) => ref.uid === uid && ref.blockOwnerDeletion),
      );
    if (!blocking) this.removeFinalizer(uid, FOREGROUND_FINALIZER);
  }

  /**
   * attemptToDeleteItem: an object with an owner that still stands ("solid") only loses its
   * references to the others; one without is deleted, in the foreground when an owner waits for it
   * and it has dependents of its own, else as its own finalizers say (Background by default).
   */
  private attemptToDelete(uid: string | undefined): void {
    const item = uid ? this.store.byUid(uid) : undefined;
    if (!item) return;
    const meta = item.object.metadata;
    if (meta.deletionTimestamp) return;
    const refs = meta.ownerReferences ?? [];
    if (refs.length === 0) return;
    const solid: OwnerReference[] = [];
    const gone = new Set<string>();
    let ownerWaiting = false;
    for (const ref of refs) {
      const owner = this.store.byUid(ref.uid);
      if (!owner) gone.add(ref.uid);
      else if (waitingForDependents(owner.object)) {
        gone.add(ref.uid);
        ownerWaiting = true;
      } else solid.push(ref);
    }
    if (solid.length > 0) {
      if (gone.size > 0) this.removeOwnerReferences(item, gone);
      return;
    }
    const options: DeleteOptions =
      ownerWaiting && this.store.dependentsOf(uid!).length > 0 ? { propagationPolicy: 'Foreground' } : {};
    this.store.delete(item.resource, meta.namespace, meta.name, options);
  }

  private removeOwnerReferences(item: StoredObject, uids: ReadonlySet<string>): void {
    const current = this.store.byUid(item.object.metadata.uid ?? '');
    if (!current) return;
    const refs = current.object.metadata.ownerReferences ?? [];
    const kept = refs.filter((ref) => !uids.has(ref.uid));
    if (kept.length === refs.length) return;
    const next = current.object;
    if (kept.length > 0) next.metadata.ownerReferences = kept;
    else delete next.metadata.ownerReferences;
    this.store.update(current.resource, next);
  }

  private removeFinalizer(uid: string, finalizer: string): void {
    const current = this.store.byUid(uid);
    if (!current) return;
    const finalizers = finalizersOf(current.object);
    if (!finalizers.includes(finalizer)) return;
    const next = current.object;
    const kept = finalizers.filter((f) => f !== finalizer);
    if (kept.length > 0) next.metadata['finalizers'] = kept;
    else delete next.metadata['finalizers'];
    this.store.update(current.resource, next);
  }
}

function waitingForDependents(object: KubeObject): boolean {
  return Boolean(object.metadata.deletionTimestamp) && finalizersOf(object).includes(FOREGROUND_FINALIZER);
}
