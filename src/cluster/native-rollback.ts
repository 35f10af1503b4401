// What `kubectl rollout undo` does (kubernetes/kubectl pkg/polymorphichelpers/rollback.go): find the
// ReplicaSet of the wanted revision among the Deployment's ReplicaSets, then JSON-patch the Deployment's
// pod template to that ReplicaSet's template without the pod-template-hash label. The Deployment
// controller then reuses that ReplicaSet (and bumps its revision). Used by the MTTR benchmark's
// baseline; the Flux fast path patches the recorded last-good template instead
// (KubeCluster.setPodTemplate).
import type { AppsV1Api, V1Deployment, V1ReplicaSet } from '@kubernetes/client-node';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { revisionOf } from './rollout-history.ts';

export type NativeRollbackOutcome =
  { kind: 'rolled-back'; toRevision: number; replicaSet: string } | { kind: 'skipped'; reason: string };

async function ownedReplicaSets(apps: AppsV1Api, deployment: V1Deployment): Promise<V1ReplicaSet[]> {
  const namespace = deployment.metadata!.namespace!;
  const selector = Object.entries(deployment.spec?.selector?.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const list = await apps.listNamespacedReplicaSet({ namespace, labelSelector: selector });
  return list.items.filter((rs) =>
    (rs.metadata?.ownerReferences ?? []).some(
      (ref) => ref.controller && ref.uid === deployment.metadata?.uid,
    ),
  );
}

/** Rolls a Deployment back to `toRevision`, or to the previous revision when it is 0 or absent. */
export async function rollbackDeployment(
  apps: AppsV1Api,
  namespace: string,
  name: string,
  toRevision = 0,
): Promise<NativeRollbackOutcome> {
  const deployment = await apps.readNamespacedDeployment({ namespace, name });
  if (deployment.spec?.paused) return { kind: 'skipped', reason: `deployment "${name}" is paused` };
  const replicaSets = (await ownedReplicaSets(apps, deployment)).sort(
    (a, b) => revisionOf(b) - revisionOf(a),
  );
  const target = toRevision === 0 ? replicaSets[1] : replicaSets.find((rs) => revisionOf(rs) === toRevision);
  if (!target) {
    return {
      kind: 'skipped',
      reason:
        toRevision === 0
          ? 'no rollout history found'
          : `unable to find specified revision ${toRevision} in history`,
    };
  }
  const template = structuredClone(target.spec!.template!);
  delete template.metadata?.labels?.['pod-template-hash'];
  await apps.patchNamespacedDeployment(
    { namespace, name, body: [{ op: 'replace', path: '/spec/template', value: template }] },
    setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
  );
  return { kind: 'rolled-back', toRevision: revisionOf(target), replicaSet: target.metadata!.name! };
}
