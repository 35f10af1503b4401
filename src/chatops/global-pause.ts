// Writing the global pause switch (`/rollback pause` and `resume` with no app): the annotation on
// the ConfigMap chatops.pauseConfigMap, created on first pause. The pipeline only reads it
// (src/pipeline/pause-switch.ts); this is the one writer, at the adapter edge, where the cluster's
// refusals are turned into advice for the person who asked.
import type { KubeObjectJson } from '../cluster/informer.ts';
import { statusCode } from '../cluster/kube.ts';
import type { RewindConfig } from '../config/index.ts';
import { TerminalError } from '../domain/errors.ts';
import type { EngineCluster } from '../engines/engine.ts';
import { globalPauseRef } from '../pipeline/pause-switch.ts';

/**
 * Turns the global switch on (`annotations` set) or off (`null` values), creating the ConfigMap on
 * first pause. A refusal by the cluster (its namespace missing, RBAC not granted, a bad name) is a
 * TerminalError that says what to fix: retrying it would only delay the answer to the person who
 * asked. Anything else (API server unreachable, 5xx) is thrown as it is, to be retried.
 */
export async function writeGlobalPause(
  cluster: Pick<EngineCluster, 'get' | 'annotate'> & {
    create(object: KubeObjectJson): Promise<KubeObjectJson>;
  },
  config: Pick<RewindConfig, 'chatops'>,
  annotations: Record<string, string | null>,
): Promise<void> {
  const ref = globalPauseRef(config);
  const turningOn = Object.values(annotations).some((value) => value !== null);
  try {
    if (await cluster.get(ref)) await cluster.annotate(ref, annotations);
    else if (turningOn)
      await cluster.create({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: ref.name,
          namespace: ref.namespace,
          annotations: Object.fromEntries(
            Object.entries(annotations).filter((entry): entry is [string, string] => entry[1] !== null),
          ),
        },
      });
  } catch (error) {
    const status = statusCode(error);
    if (status === undefined || status >= 500 || status === 409 || status === 429) throw error;
    throw new TerminalError(
      `the global pause switch (ConfigMap ${ref.namespace}/${ref.name}, chatops.pauseConfigMap) could not be written: ${kubeMessage(error)}. Check that the namespace ${ref.namespace} exists (deploy/namespace.yaml) and that Rewind may get, patch and create that ConfigMap there (deploy/rbac.yaml).`,
      { cause: error },
    );
  }
}

/** The API server's own message (a Status body), else the error's first line. */
function kubeMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  try {
    const parsed: unknown = typeof body === 'string' ? JSON.parse(body) : body;
    const message = (parsed as { message?: unknown } | undefined)?.message;
    if (typeof message === 'string') return message.slice(0, 300);
  } catch {
    // Not a Status body: fall through to the error's own message.
  }
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 300);
}
