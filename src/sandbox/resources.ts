// The kinds the sandbox API server serves. One table drives discovery, routing and the store.

export interface ResourceType {
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly subresources: readonly Subresource[];
  readonly categories: readonly string[];
  readonly verbs: readonly string[];
}

/** `token` is a ServiceAccount's TokenRequest (service-account-token.ts). */
export type Subresource = 'status' | 'scale' | 'token';

const allVerbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] as const;

function resource(
  r: Omit<ResourceType, 'verbs' | 'categories' | 'shortNames' | 'subresources'> &
    Partial<Pick<ResourceType, 'verbs' | 'categories' | 'shortNames' | 'subresources'>>,
): ResourceType {
  return { verbs: allVerbs, categories: [], shortNames: [], subresources: [], ...r };
}

export const RESOURCES: readonly ResourceType[] = [
  resource({
    group: '',
    version: 'v1',
    kind: 'Namespace',
    plural: 'namespaces',
    singular: 'namespace',
    namespaced: false,
    shortNames: ['ns'],
    subresources: ['status'],
  }),
  resource({
    group: '',
    version: 'v1',
    kind: 'Pod',
    plural: 'pods',
    singular: 'pod',
    namespaced: true,
    shortNames: ['po'],
    subresources: ['status'],
    categories: ['all'],
  }),
  resource({
    group: '',
    version: 'v1',
    kind: 'Service',
    plural: 'services',
    singular: 'service',
    namespaced: true,
    shortNames: ['svc'],
    subresources: ['status'],
    categories: ['all'],
  }),
  resource({
    group: '',
    version: 'v1',
    kind: 'ConfigMap',
    plural: 'configmaps',
    singular: 'configmap',
    namespaced: true,
    shortNames: ['cm'],
  }),
  resource({
    group: '',
    version: 'v1',
    kind: 'Secret',
    plural: 'secrets',
    singular: 'secret',
    namespaced: true,
  }),
  resource({
    group: '',
    version: 'v1',
    kind: 'ServiceAccount',
    plural: 'serviceaccounts',
    singular: 'serviceaccount',
    namespaced: true,
    shortNames: ['sa'],
    subresources: ['token'],
  }),
  resource({
    group: '',
    version: 'v1',
    kind: 'PersistentVolumeClaim',
    plural: 'persistentvolumeclaims',
    singular: 'persistentvolumeclaim',
    namespaced: true,
    shortNames: ['pvc'],
    subresources: ['status'],
  }),
  resource({
    group: '',
    version: 'v1',
    kind: 'Event',
    plural: 'events',
    singular: 'event',
    namespaced: true,
    shortNames: ['ev'],
  }),
  // Served as a view of the core Events (events-view.ts); nothing is stored under this type.
  resource({
    group: 'events.k8s.io',
    version: 'v1',
    kind: 'Event',
    plural: 'events',
    singular: 'event',
    namespaced: true,
  }),
  resource({
    group: 'apps',
    version: 'v1',
    kind: 'Deployment',
    plural: 'deployments',
    singular: 'deployment',
    namespaced: true,
    shortNames: ['deploy'],
    subresources: ['status', 'scale'],
    categories: ['all'],
  }),
  resource({
    group: 'apps',
    version: 'v1',
    kind: 'ReplicaSet',
    plural: 'replicasets',
    singular: 'replicaset',
    namespaced: true,
    shortNames: ['rs'],
    subresources: ['status', 'scale'],
    categories: ['all'],
  }),
  // What an install (deploy/, the Helm chart) creates besides workloads.
  ...rbacResources(),
  resource({
    group: 'networking.k8s.io',
    version: 'v1',
    kind: 'NetworkPolicy',
    plural: 'networkpolicies',
    singular: 'networkpolicy',
    namespaced: true,
    shortNames: ['netpol'],
  }),
  resource({
    group: 'source.toolkit.fluxcd.io',
    version: 'v1',
    kind: 'GitRepository',
    plural: 'gitrepositories',
    singular: 'gitrepository',
    namespaced: true,
    shortNames: ['gitrepo'],
    subresources: ['status'],
    categories: ['fluxcd'],
  }),
  resource({
    group: 'kustomize.toolkit.fluxcd.io',
    version: 'v1',
    kind: 'Kustomization',
    plural: 'kustomizations',
    singular: 'kustomization',
    namespaced: true,
    shortNames: ['ks'],
    subresources: ['status'],
    categories: ['fluxcd'],
  }),
  resource({
    group: 'helm.toolkit.fluxcd.io',
    version: 'v2',
    kind: 'HelmRelease',
    plural: 'helmreleases',
    singular: 'helmrelease',
    namespaced: true,
    shortNames: ['hr'],
    subresources: ['status'],
    categories: ['fluxcd'],
  }),
  resource({
    group: 'argoproj.io',
    version: 'v1alpha1',
    kind: 'Application',
    plural: 'applications',
    singular: 'application',
    namespaced: true,
    shortNames: ['app', 'apps'],
    subresources: ['status'],
    categories: ['argoproj'],
  }),
  resource({
    group: 'argoproj.io',
    version: 'v1alpha1',
    kind: 'ApplicationSet',
    plural: 'applicationsets',
    singular: 'applicationset',
    namespaced: true,
    shortNames: ['appset', 'appsets'],
    subresources: ['status'],
    categories: ['argoproj'],
  }),
  // Leader election (client-go's resourcelock.LeaseLock; Rewind's detector).
  resource({
    group: 'coordination.k8s.io',
    version: 'v1',
    kind: 'Lease',
    plural: 'leases',
    singular: 'lease',
    namespaced: true,
  }),
];

function rbacResources(): ResourceType[] {
  const group = 'rbac.authorization.k8s.io';
  const kinds = [
    ['Role', true],
    ['ClusterRole', false],
    ['RoleBinding', true],
    ['ClusterRoleBinding', false],
  ] as const;
  return kinds.map(([kind, namespaced]) =>
    resource({
      group,
      version: 'v1',
      kind,
      plural: `${kind.toLowerCase()}s`,
      singular: kind.toLowerCase(),
      namespaced,
    }),
  );
}

export function apiVersionOf(type: ResourceType): string {
  return type.group === '' ? type.version : `${type.group}/${type.version}`;
}

export function resourceByKind(apiVersion: string, kind: string): ResourceType | undefined {
  return RESOURCES.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
}

export function resourceByPlural(group: string, version: string, plural: string): ResourceType | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

/** Looks a kind up by its Kind name only, e.g. for ownerReferences, whose apiVersion is known too. */
export function mustResource(apiVersion: string, kind: string): ResourceType {
  const type = resourceByKind(apiVersion, kind);
  if (!type) throw new Error(`the sandbox does not serve ${kind} in ${apiVersion}`);
  return type;
}

export const NAMESPACE = mustResource('v1', 'Namespace');
export const POD = mustResource('v1', 'Pod');
export const EVENT = mustResource('v1', 'Event');
export const EVENTS_K8S_IO_EVENT = mustResource('events.k8s.io/v1', 'Event');
export const CONFIG_MAP = mustResource('v1', 'ConfigMap');
export const SECRET = mustResource('v1', 'Secret');
export const SERVICE = mustResource('v1', 'Service');
export const SERVICE_ACCOUNT = mustResource('v1', 'ServiceAccount');
export const ROLE = mustResource('rbac.authorization.k8s.io/v1', 'Role');
export const CLUSTER_ROLE = mustResource('rbac.authorization.k8s.io/v1', 'ClusterRole');
export const ROLE_BINDING = mustResource('rbac.authorization.k8s.io/v1', 'RoleBinding');
export const CLUSTER_ROLE_BINDING = mustResource('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding');
export const DEPLOYMENT = mustResource('apps/v1', 'Deployment');
export const REPLICA_SET = mustResource('apps/v1', 'ReplicaSet');
export const GIT_REPOSITORY = mustResource('source.toolkit.fluxcd.io/v1', 'GitRepository');
export const KUSTOMIZATION = mustResource('kustomize.toolkit.fluxcd.io/v1', 'Kustomization');
export const HELM_RELEASE = mustResource('helm.toolkit.fluxcd.io/v2', 'HelmRelease');
export const APPLICATION = mustResource('argoproj.io/v1alpha1', 'Application');
export const APPLICATION_SET = mustResource('argoproj.io/v1alpha1', 'ApplicationSet');
export const LEASE = mustResource('coordination.k8s.io/v1', 'Lease');
