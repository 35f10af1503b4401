// The ports the pipeline sees. Adapters (src/cluster, src/git, src/queue, src/forge) implement
// them; only composition roots (workers/, src/cli.ts, src/server) wire adapters in.
import type { KubeObjectJson } from '../cluster/informer.ts';
import type { Kind, ObjectRef } from '../cluster/kube.ts';

export interface ClusterPort {
  get(ref: ObjectRef): Promise<KubeObjectJson | undefined>;
  list(kind: Kind, namespace?: string, labelSelector?: string): Promise<KubeObjectJson[]>;
  annotate(ref: ObjectRef, annotations: Record<string, string | null>): Promise<KubeObjectJson>;
  requestReconcile(ref: ObjectRef, token?: string): Promise<string>;
  setSuspended(ref: ObjectRef, suspended: boolean): Promise<void>;
  /** Replaces a Deployment's pod template (what `kubectl rollout undo` patches). */
  setPodTemplate(namespace: string, name: string, template: unknown): Promise<void>;
  deploymentsOfKustomization(namespace: string, name: string): Promise<KubeObjectJson[]>;
  replicaSetsOf(deployment: KubeObjectJson): Promise<KubeObjectJson[]>;
  podsOf(replicaSet: KubeObjectJson): Promise<KubeObjectJson[]>;
  recordEvent(
    involved: KubeObjectJson,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Structured logger (pino-compatible subset). */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  child(bindings: object): Logger;
}

import type { RollbackGit } from '../git/rollback-git.ts';

/** The git side of a rollback (implemented by src/git/rollback-git.ts over real repositories). */
export type GitPort = Pick<
  RollbackGit,
  | 'locate'
  | 'pushedRevert'
  | 'revertAndPush'
  | 'revertAndPushBranch'
  | 'revertOf'
  | 'filesChangedBy'
  | 'closureOf'
  | 'isAncestor'
  | 'laterChanges'
>;
