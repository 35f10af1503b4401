// Argo CD's comparison of an Application's desired state (its source rendered at one revision) with
// the live objects (controller/state.go CompareAppState): per-resource sync status, extraneous
// tracked objects that require pruning, per-resource and app health. Objects are tracked the
// `annotation+label` way: the `argocd.argoproj.io/tracking-id` annotation decides ownership and the
// `app.kubernetes.io/instance` label is set for people and selectors.
import { type HealthStatus, type ResourceHealth, appHealth, resourceHealth } from './argo-health.ts';
import { isNamespaced } from './flux-kustomize.ts';
import { matchesLive } from './object-apply.ts';
import { EVENT, RESOURCES, type ResourceType, apiVersionOf, resourceByKind } from './resources.ts';
import type { KubeObject, ObjectStore } from './store.ts';

export const INSTANCE_LABEL = 'app.kubernetes.io/instance';
export const TRACKING_ANNOTATION = 'argocd.argoproj.io/tracking-id';
/** Argo CD applies with kubectl (client-side apply), which records what it applied here. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

export interface AppSource {
  repoURL: string;
  path: string;
  targetRevision: string;
  /** Multi-source: the name other sources use for this one's files (`$<ref>/...`). */
  ref?: string;
  /** helm.valueFiles: relative to the chart, or `$<ref>/<path>` in another source. */
  valueFiles?: string[];
  releaseName?: string;
}

/** One object of the desired state, with Argo's tracking metadata added. */
export interface DesiredResource {
  /** Undefined when the sandbox does not serve the kind (the sync then fails on it). */
  type: ResourceType | undefined;
  apiVersion: string;
  kind: string;
  namespace: string | undefined;
  name: string;
  object: KubeObject;
}

export interface ComparedResource {
  group: string;
  version: string;
  kind: string;
  namespace: string | undefined;
  name: string;
  type: ResourceType | undefined;
  status: 'Synced' | 'OutOfSync';
  health: ResourceHealth | undefined;
  requiresPruning: boolean;
  desired: DesiredResource | undefined;
  live: KubeObject | undefined;
}

export interface Comparison {
  sync: 'Synced' | 'OutOfSync';
  resources: ComparedResource[];
  health: { status: HealthStatus; message?: string };
  images: string[];
}

/** Application.InstanceName: the bare name in the control-plane namespace, else `<ns>_<name>`. */
export function instanceName(app: KubeObject, controlPlaneNamespace: string): string {
  const namespace = app.metadata.namespace ?? controlPlaneNamespace;
  return namespace === controlPlaneNamespace ? app.metadata.name : `${namespace}_${app.metadata.name}`;
}

function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
}

function versionOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.slice(apiVersion.indexOf('/') + 1) : apiVersion;
}

/** `<instance>:<group>/<kind>:<namespace>/<name>` (util/argo/resource_tracking.go BuildAppInstanceValue). */
export function trackingId(
  instance: string,
  apiVersion: string,
  kind: string,
  namespace: string | undefined,
  name: string,
): string {
  return `${instance}:${groupOf(apiVersion)}/${kind}:${namespace ?? ''}/${name}`;
}

/** The instance an object's tracking annotation names, if any. */
export function trackedInstance(object: KubeObject): string | undefined {
  const value = object.metadata.annotations?.[TRACKING_ANNOTATION];
  if (!value) return undefined;
  const colon = value.indexOf(':');
  return colon > 0 ? value.slice(0, colon) : undefined;
}

/** The rendered manifests as Argo applies them: destination namespace and tracking metadata added. */
export function desiredResources(
  manifests: readonly KubeObject[],
  instance: string,
  destinationNamespace: string | undefined,
): DesiredResource[] {
  return manifests.map((manifest) => {
    const type = resourceByKind(manifest.apiVersion, manifest.kind);
    const apiVersion = type ? apiVersionOf(type) : manifest.apiVersion;
    const namespace = isNamespaced(manifest.apiVersion, manifest.kind)
      ? (manifest.metadata.namespace ?? destinationNamespace ?? 'default')
      : undefined;
    const object: KubeObject = structuredClone(manifest);
    delete object.status;
    object.apiVersion = apiVersion;
    object.metadata = {
      ...object.metadata,
      labels: { ...object.metadata.labels, [INSTANCE_LABEL]: instance },
      annotations: {
        ...object.metadata.annotations,
        [TRACKING_ANNOTATION]: trackingId(
          instance,
          apiVersion,
          manifest.kind,
          namespace,
          manifest.metadata.name,
        ),
      },
    };
    if (namespace) object.metadata.namespace = namespace;
    else delete object.metadata.namespace;
    object.metadata.annotations![LAST_APPLIED_ANNOTATION] = JSON.stringify(object);
    return { type, apiVersion, kind: manifest.kind, namespace, name: manifest.metadata.name, object };
  });
}

/** Live top-level objects whose tracking annotation names `instance`. */
export function trackedObjects(
  store: ObjectStore,
  instance: string,
): { type: ResourceType; object: KubeObject }[] {
  const found: { type: ResourceType; object: KubeObject }[] = [];
  for (const type of RESOURCES) {
    if (type === EVENT) continue;
    for (const object of store.list(type, { labelSelector: `${INSTANCE_LABEL}=${instance}` })) {
      if (object.metadata.ownerReferences?.some((ref) => ref.controller === true)) continue;
      if (trackedInstance(object) === instance) found.push({ type, object });
    }
  }
  return found;
}

function imagesOf(object: KubeObject | undefined): string[] {
  const containers: any[] = object?.spec?.template?.spec?.containers ?? [];
  return containers.map((container) => container?.image).filter((image) => typeof image === 'string');
}

export function compare(
  store: ObjectStore,
  instance: string,
  desired: readonly DesiredResource[],
): Comparison {
  const resources: ComparedResource[] = [];
  const desiredIds = new Set<string>();
  for (const resource of desired) {
    desiredIds.add(`${resource.apiVersion}/${resource.kind}/${resource.namespace ?? ''}/${resource.name}`);
    const live = resource.type ? store.get(resource.type, resource.namespace, resource.name) : undefined;
    resources.push({
      group: groupOf(resource.apiVersion),
      version: versionOf(resource.apiVersion),
      kind: resource.kind,
      namespace: resource.namespace,
      name: resource.name,
      type: resource.type,
      status: live && matchesLive(resource.object, live) ? 'Synced' : 'OutOfSync',
      health: resourceHealth(live),
      requiresPruning: false,
      desired: resource,
      live,
    });
  }
  for (const { type, object } of trackedObjects(store, instance)) {
    const apiVersion = apiVersionOf(type);
    const namespace = type.namespaced ? object.metadata.namespace : undefined;
    if (desiredIds.has(`${apiVersion}/${type.kind}/${namespace ?? ''}/${object.metadata.name}`)) continue;
    resources.push({
      group: type.group,
      version: type.version,
      kind: type.kind,
      namespace,
      name: object.metadata.name,
      type,
      status: 'OutOfSync',
      health: resourceHealth(object),
      requiresPruning: true,
      desired: undefined,
      live: object,
    });
  }
  resources.sort((a, b) =>
    `${a.group}/${a.kind}/${a.namespace ?? ''}/${a.name}`.localeCompare(
      `${b.group}/${b.kind}/${b.namespace ?? ''}/${b.name}`,
    ),
  );
  const health = appHealth(
    resources.map((r) => ({ id: `${r.group}/${r.kind}:${r.namespace ?? ''}/${r.name}`, health: r.health })),
  );
  const images = [...new Set(resources.flatMap((r) => imagesOf(r.live)))].sort();
  return {
    sync: resources.every((r) => r.status === 'Synced') ? 'Synced' : 'OutOfSync',
    resources,
    health,
    images,
  };
}

/** `status.resources[]` entries (ResourceStatus), health persisted as with controller.resource.health.persist. */
export function resourceStatuses(comparison: Comparison): Record<string, unknown>[] {
  return comparison.resources.map((r) => ({
    ...(r.group ? { group: r.group } : {}),
    version: r.version,
    kind: r.kind,
    ...(r.namespace ? { namespace: r.namespace } : {}),
    name: r.name,
    status: r.status,
    ...(r.health ? { health: { ...r.health } } : {}),
    ...(r.requiresPruning ? { requiresPruning: true } : {}),
  }));
}
