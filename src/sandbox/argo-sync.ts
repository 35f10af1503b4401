// One Argo CD sync operation over the store (gitops-engine/pkg/sync): validate every task first
// (dry-run), apply namespaces before the rest, then prune extraneous tracked objects when the
// operation prunes. The result is an OperationState's phase, message and syncResult.resources.
// A single-wave, hook-less sync does not wait for health (sync_context.go), so a Deployment that
// will never become ready still syncs Succeeded.
import type { ComparedResource, Comparison } from './argo-compare.ts';
import { writeObject } from './object-apply.ts';
import { NAMESPACE } from './resources.ts';
import type { ObjectStore } from './store.ts';

/** The field manager of Argo CD's (client-side, kubectl-library) apply. */
export const ARGO_FIELD_MANAGER = 'argocd-controller';

export type OperationPhase = 'Running' | 'Succeeded' | 'Failed' | 'Error';

export interface ResourceResult {
  group: string;
  version: string;
  kind: string;
  namespace: string;
  name: string;
  status: 'Synced' | 'SyncFailed' | 'Pruned' | 'PruneSkipped';
  message: string;
  hookPhase: 'Running' | 'Failed';
  syncPhase: 'Sync';
}

export interface SyncOutcome {
  phase: Exclude<OperationPhase, 'Running'>;
  message: string;
  resources: ResourceResult[];
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** kubectl's `deployment.apps/web` / `service/web` naming, as Argo's result messages carry it. */
function kubectlName(resource: ComparedResource): string {
  const kind = resource.kind.toLowerCase();
  return `${resource.group ? `${kind}.${resource.group}` : kind}/${resource.name}`;
}

function result(
  resource: ComparedResource,
  status: ResourceResult['status'],
  message: string,
): ResourceResult {
  return {
    group: resource.group,
    version: resource.version,
    kind: resource.kind,
    namespace: resource.namespace ?? '',
    name: resource.name,
    status,
    message,
    hookPhase: status === 'SyncFailed' ? 'Failed' : 'Running',
    syncPhase: 'Sync',
  };
}

export function runSync(store: ObjectStore, comparison: Comparison, prune: boolean): SyncOutcome {
  const applies = comparison.resources.filter((r) => r.desired);
  const extraneous = comparison.resources.filter((r) => r.requiresPruning);
  const namespacesInSet = new Set(applies.filter((r) => r.type === NAMESPACE).map((r) => r.name));

  // Dry-run: every task must be valid before anything is applied.
  const invalid: ResourceResult[] = [];
  for (const resource of applies) {
    if (!resource.type) {
      invalid.push(
        result(
          resource,
          'SyncFailed',
          `The Kubernetes API could not find ${resource.group ? `${resource.group}/` : ''}${resource.kind} for requested resource ${resource.namespace ?? ''}/${resource.name}. Make sure the "${resource.kind}" CRD is installed on the destination cluster.`,
        ),
      );
    } else if (
      resource.namespace &&
      !namespacesInSet.has(resource.namespace) &&
      !store.get(NAMESPACE, undefined, resource.namespace)
    ) {
      invalid.push(result(resource, 'SyncFailed', `namespaces "${resource.namespace}" not found`));
    }
  }
  if (invalid.length > 0) {
    return {
      phase: 'Failed',
      message: 'one or more synchronization tasks are not valid',
      resources: invalid,
    };
  }

  const ordered = [...applies].sort((a, b) => Number(b.type === NAMESPACE) - Number(a.type === NAMESPACE));
  const results: ResourceResult[] = [];
  let failure: string | undefined;
  for (const resource of ordered) {
    const type = resource.type!;
    try {
      const existing = store.get(type, resource.namespace, resource.name);
      const outcome = writeObject(store, type, resource.desired!.object, existing, ARGO_FIELD_MANAGER);
      results.push(result(resource, 'Synced', `${kubectlName(resource)} ${outcome}`));
    } catch (error) {
      failure ??= errorMessage(error);
      results.push(result(resource, 'SyncFailed', errorMessage(error)));
    }
  }
  for (const resource of extraneous) {
    if (!prune) {
      results.push(result(resource, 'PruneSkipped', 'ignored (requires pruning)'));
      continue;
    }
    try {
      store.delete(resource.type!, resource.namespace, resource.name);
      results.push(result(resource, 'Pruned', 'pruned'));
    } catch (error) {
      failure ??= errorMessage(error);
      results.push(result(resource, 'SyncFailed', errorMessage(error)));
    }
  }
  if (failure !== undefined) {
    return {
      phase: 'Failed',
      message: `one or more objects failed to apply, reason: ${failure}`,
      resources: results,
    };
  }
  return { phase: 'Succeeded', message: 'successfully synced (all tasks run)', resources: results };
}
