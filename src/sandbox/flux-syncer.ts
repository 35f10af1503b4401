// CONTRACT STUB — replaced by the real Flux GitRepository/Kustomization syncer.
import type { ObjectStore } from './store.ts';

export interface FluxSyncerOptions {
  /** Where the syncer keeps its clones of GitRepository sources. */
  cacheDir: string;
}

export class FluxSyncer {
  constructor(
    readonly store: ObjectStore,
    readonly options: FluxSyncerOptions,
  ) {}
  start(): void {}
  async stop(): Promise<void> {}
}
