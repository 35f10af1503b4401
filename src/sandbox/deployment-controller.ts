// CONTRACT STUB — replaced by the real Deployment/ReplicaSet controller and Pod simulator.
import type { ObjectStore } from './store.ts';

export interface WorkloadOptions {
  /** How long a simulated Pod takes to become Ready. */
  podReadyMs: number;
  /** Image globs whose Pods never become Ready (waiting reason ImagePullBackOff). */
  unreadyImages: readonly string[];
  /** Image globs whose Pods crash-loop (CrashLoopBackOff, restartCount rising). */
  crashImages: readonly string[];
}

export class DeploymentController {
  constructor(
    readonly store: ObjectStore,
    readonly options: WorkloadOptions,
  ) {}
  start(): void {}
  stop(): void {}
}
