// The defaults kube-apiserver fills in that clients and controllers read back, applied by the
// store's admission on every write (HTTP, Flux syncer, controllers), so a Deployment's pod template
// and its ReplicaSets' templates have the same shape whoever wrote them.
import { applyDeploymentDefaults } from './deployment-controller.ts';
import { applyPodTemplateDefaults } from './pod-template.ts';
import { assertLeaseDecodes } from './lease.ts';
import { DEPLOYMENT, LEASE, REPLICA_SET, SECRET, type ResourceType } from './resources.ts';
import type { KubeObject } from './store.ts';

export function applyObjectDefaults(type: ResourceType, object: KubeObject): void {
  // Go clients' JSON carries `creationTimestamp: null` in pod templates (an unset metav1.Time), their
  // protobuf nothing: the same object either way, so the null is not kept.
  const template = object.spec?.template;
  if (template?.metadata && template.metadata.creationTimestamp === null)
    delete template.metadata.creationTimestamp;
  if (type === DEPLOYMENT && object.spec) {
    applyDeploymentDefaults(object);
  }
  if (type === REPLICA_SET && object.spec?.template) {
    object.spec.template = applyPodTemplateDefaults(object.spec.template);
  }
  if (type === SECRET) applySecretDefaults(object);
  if (type === LEASE) assertLeaseDecodes(object);
  if (type.kind === 'Service' && type.group === '') {
    const spec = (object.spec ??= {});
    spec.type ??= 'ClusterIP';
    if (spec.type !== 'ExternalName' && spec.clusterIP === undefined) {
      spec.clusterIP = `10.96.${Math.floor(Math.random() * 254) + 1}.${Math.floor(Math.random() * 254) + 1}`;
      spec.clusterIPs = [spec.clusterIP];
    }
    for (const port of (spec.ports ?? []) as any[]) {
      port.protocol ??= 'TCP';
      port.targetPort ??= port.port;
    }
  }
}

/** The API server's Secret defaulting: `Opaque`, and write-only `stringData` folded into `data`. */
function applySecretDefaults(secret: KubeObject): void {
  secret['type'] ??= 'Opaque';
  const stringData = secret['stringData'] as Record<string, string> | undefined;
  if (!stringData) return;
  const data = (secret['data'] ?? {}) as Record<string, string>;
  for (const [key, value] of Object.entries(stringData)) data[key] = Buffer.from(value).toString('base64');
  secret['data'] = data;
  delete secret['stringData'];
}
