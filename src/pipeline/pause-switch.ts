// The global kill switch: the `rewind.dev/paused` annotation on a ConfigMap in Rewind's own
// namespace (chatops.pauseConfigMap, default rewind-system/rewind-switches). Kept in the cluster,
// like the per-app switch on the app object, so a restart or the loss of Redis forgets nothing;
// `/rollback pause` writes it, `kubectl annotate configmap ... rewind.dev/paused-` clears it too.
import type { RewindConfig } from '../config/index.ts';
import type { EngineCluster, EngineObjectRef } from '../engines/engine.ts';
import { PAUSED_ANNOTATION, isPausedByAnnotation } from './durable-ledger.ts';

/** Who paused, when and why, beside the switch (read by `/rollback status`). */
export const PAUSED_BY_ANNOTATION = 'rewind.dev/paused-by';

export function globalPauseRef(config: Pick<RewindConfig, 'chatops'>): EngineObjectRef {
  const { namespace, name } = config.chatops.pauseConfigMap;
  return { apiVersion: 'v1', kind: 'ConfigMap', namespace, name };
}

export interface GlobalPause {
  readonly paused: boolean;
  readonly by?: string;
}

/** A missing ConfigMap means "not paused"; any other read failure throws (the switch fails closed). */
export async function readGlobalPause(
  cluster: Pick<EngineCluster, 'get'>,
  config: Pick<RewindConfig, 'chatops'>,
): Promise<GlobalPause> {
  const object = await cluster.get(globalPauseRef(config));
  const annotations = object?.metadata?.annotations;
  const by = annotations?.[PAUSED_BY_ANNOTATION];
  return { paused: isPausedByAnnotation(annotations), ...(by ? { by } : {}) };
}

export { PAUSED_ANNOTATION };
