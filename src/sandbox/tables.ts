// Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for, with the columns the
// real API server (built-ins) or the CRDs' additionalPrinterColumns (Flux, Argo CD) define.
import type { KubeObject } from './store.ts';
import type { ResourceType } from './resources.ts';

export interface TableColumn {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

interface Column {
  name: string;
  type?: 'string' | 'integer' | 'date';
  format?: string;
  /** Columns with priority > 0 only show with `-o wide`. */
  priority?: number;
  cell: (object: KubeObject, now: number) => string | number;
}

const name: Column = { name: 'Name', format: 'name', cell: (o) => o.metadata.name };
const age: Column = {
  name: 'Age',
  type: 'date',
  cell: (o, now) => humanAge(o.metadata.creationTimestamp, now),
};

function condition(object: KubeObject, type: string): { status?: string; message?: string } | undefined {
  const conditions = object.status?.conditions;
  return Array.isArray(conditions) ? conditions.find((c: { type?: string }) => c?.type === type) : undefined;
}

const readyCondition: Column = { name: 'Ready', cell: (o) => condition(o, 'Ready')?.status ?? '' };
const readyMessage: Column = { name: 'Status', cell: (o) => condition(o, 'Ready')?.message ?? '' };

/** The `-o wide` container columns of workloads, read from their pod template. */
const containerColumns: Column[] = [
  { name: 'Containers', priority: 1, cell: (o) => names(o.spec?.template?.spec, 'name') },
  { name: 'Images', priority: 1, cell: (o) => names(o.spec?.template?.spec, 'image') },
];

function names(podSpec: any, field: 'name' | 'image'): string {
  const list: any[] = Array.isArray(podSpec?.containers) ? podSpec.containers : [];
  return list.map((c) => String(c?.[field] ?? '')).join(',');
}

function selectorString(selector: any): string {
  const labels = (selector?.matchLabels ?? {}) as Record<string, string>;
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** The STATUS column of `kubectl get pods`: a waiting/terminated reason beats the phase. */
function podStatus(pod: KubeObject): string {
  if (pod.metadata.deletionTimestamp) return 'Terminating';
  let reason: string = pod.status?.reason ?? pod.status?.phase ?? 'Pending';
  for (const status of (pod.status?.containerStatuses ?? []) as any[]) {
    const waiting = status?.state?.waiting?.reason;
    const terminated = status?.state?.terminated?.reason;
    if (waiting) reason = waiting;
    else if (terminated) reason = terminated;
  }
  return reason;
}

function podReady(pod: KubeObject): string {
  const statuses = (pod.status?.containerStatuses ?? []) as any[];
  const total = Array.isArray(pod.spec?.containers) ? pod.spec.containers.length : statuses.length;
  return `${statuses.filter((s) => s?.ready).length}/${total}`;
}

function podRestarts(pod: KubeObject): number {
  return ((pod.status?.containerStatuses ?? []) as any[]).reduce(
    (sum, s) => sum + Number(s?.restartCount ?? 0),
    0,
  );
}

function servicePorts(service: KubeObject): string {
  const ports = (service.spec?.ports ?? []) as any[];
  const text = ports
    .map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`)
    .join(',');
  return text || '<none>';
}

/** PVC access modes as kubectl abbreviates them. */
const ACCESS_MODES: Record<string, string> = {
  ReadWriteOnce: 'RWO',
  ReadOnlyMany: 'ROX',
  ReadWriteMany: 'RWX',
  ReadWriteOncePod: 'RWOP',
};

const createdAt: Column = {
  name: 'Created At',
  type: 'date',
  cell: (o) => text(o.metadata.creationTimestamp),
};

/** A binding's ROLE column and its subjects by kind (the -o wide columns). */
const bindingColumns: Column[] = [
  name,
  {
    name: 'Role',
    cell: (o) => {
      const ref = o['roleRef'] as { kind?: string; name?: string } | undefined;
      return `${ref?.kind ?? ''}/${ref?.name ?? ''}`;
    },
  },
  age,
  { name: 'Users', priority: 1, cell: (o) => subjectNames(o, 'User') },
  { name: 'Groups', priority: 1, cell: (o) => subjectNames(o, 'Group') },
  { name: 'ServiceAccounts', priority: 1, cell: (o) => subjectNames(o, 'ServiceAccount') },
];

function subjectNames(binding: KubeObject, kind: string): string {
  const subjects = (binding['subjects'] ?? []) as { kind?: string; name?: string; namespace?: string }[];
  return subjects
    .filter((s) => s?.kind === kind)
    .map((s) => (kind === 'ServiceAccount' ? `${s.namespace ?? ''}/${s.name ?? ''}` : (s.name ?? '')))
    .join(', ');
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** Columns per kind; kinds not listed print NAME and AGE, like a CRD without printer columns. */
function columnsFor(kind: string): Column[] {
  switch (kind) {
    case 'Deployment':
      return [
        name,
        { name: 'Ready', cell: (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}` },
        { name: 'Up-to-date', type: 'integer', cell: (o) => o.status?.updatedReplicas ?? 0 },
        { name: 'Available', type: 'integer', cell: (o) => o.status?.availableReplicas ?? 0 },
        age,
        ...containerColumns,
        { name: 'Selector', priority: 1, cell: (o) => selectorString(o.spec?.selector) },
      ];
    case 'ReplicaSet':
      return [
        name,
        { name: 'Desired', type: 'integer', cell: (o) => o.spec?.replicas ?? 0 },
        { name: 'Current', type: 'integer', cell: (o) => o.status?.replicas ?? 0 },
        { name: 'Ready', type: 'integer', cell: (o) => o.status?.readyReplicas ?? 0 },
        age,
        ...containerColumns,
        { name: 'Selector', priority: 1, cell: (o) => selectorString(o.spec?.selector) },
      ];
    case 'Pod':
      return [
        name,
        { name: 'Ready', cell: podReady },
        { name: 'Status', cell: podStatus },
        { name: 'Restarts', type: 'integer', cell: podRestarts },
        age,
        { name: 'IP', priority: 1, cell: (o) => o.status?.podIP ?? '<none>' },
        { name: 'Node', priority: 1, cell: (o) => o.spec?.nodeName ?? '<none>' },
      ];
    case 'Service':
      return [
        name,
        { name: 'Type', cell: (o) => o.spec?.type ?? 'ClusterIP' },
        { name: 'Cluster-IP', cell: (o) => o.spec?.clusterIP ?? '<none>' },
        { name: 'External-IP', cell: () => '<none>' },
        { name: 'Port(s)', cell: servicePorts },
        age,
      ];
    case 'Namespace':
      return [name, { name: 'Status', cell: (o) => o.status?.phase ?? 'Active' }, age];
    case 'ConfigMap':
      return [
        name,
        { name: 'Data', type: 'integer', cell: (o) => Object.keys((o['data'] as object) ?? {}).length },
        age,
      ];
    case 'Secret':
      return [
        name,
        { name: 'Type', cell: (o) => text(o['type']) },
        { name: 'Data', type: 'integer', cell: (o) => Object.keys((o['data'] as object) ?? {}).length },
        age,
      ];
    case 'ServiceAccount':
      return [
        name,
        { name: 'Secrets', type: 'integer', cell: (o) => ((o['secrets'] as unknown[]) ?? []).length },
        age,
      ];
    case 'PersistentVolumeClaim':
      return [
        name,
        { name: 'Status', cell: (o) => o.status?.phase ?? 'Pending' },
        { name: 'Volume', cell: (o) => o.spec?.volumeName ?? '' },
        { name: 'Capacity', cell: (o) => o.status?.capacity?.storage ?? '' },
        {
          name: 'Access Modes',
          cell: (o) => ((o.status?.accessModes ?? []) as string[]).map((m) => ACCESS_MODES[m] ?? m).join(','),
        },
        { name: 'StorageClass', cell: (o) => o.spec?.storageClassName ?? '<unset>' },
        { name: 'VolumeAttributesClass', cell: (o) => o.spec?.volumeAttributesClassName ?? '<unset>' },
        age,
        { name: 'VolumeMode', priority: 1, cell: (o) => o.spec?.volumeMode ?? 'Filesystem' },
      ];
    case 'Role':
    case 'ClusterRole':
      return [name, createdAt];
    case 'RoleBinding':
    case 'ClusterRoleBinding':
      return bindingColumns;
    case 'NetworkPolicy':
      return [
        name,
        {
          name: 'Pod-Selector',
          cell: (o) => selectorString(o.spec?.podSelector) || '<none>',
        },
        age,
      ];
    case 'Event':
      return [
        {
          name: 'Last Seen',
          cell: (o, now) => humanAge(o['lastTimestamp'] ?? o.metadata.creationTimestamp, now),
        },
        { name: 'Type', cell: (o) => text(o['type']) },
        { name: 'Reason', cell: (o) => text(o['reason']) },
        {
          name: 'Object',
          cell: (o) => {
            const involved = o['involvedObject'] as { kind?: string; name?: string } | undefined;
            return `${(involved?.kind ?? '').toLowerCase()}/${involved?.name ?? ''}`;
          },
        },
        { name: 'Message', cell: (o) => text(o['message']) },
      ];
    case 'Kustomization':
    case 'HelmRelease':
      return [name, age, readyCondition, readyMessage];
    case 'GitRepository':
      return [name, { name: 'URL', cell: (o) => o.spec?.url ?? '' }, age, readyCondition, readyMessage];
    case 'Application':
      return [
        name,
        { name: 'Sync Status', cell: (o) => o.status?.sync?.status ?? '' },
        { name: 'Health Status', cell: (o) => o.status?.health?.status ?? '' },
        { name: 'Revision', priority: 10, cell: (o) => o.status?.sync?.revision ?? '' },
      ];
    case 'Lease':
      return [name, { name: 'Holder', cell: (o) => text(o.spec?.holderIdentity) }, age];
    default:
      return [name, age];
  }
}

/** Kubernetes' short duration format: 45s, 3m12s, 5h, 2d3h, 400d. */
export function humanAge(timestamp: unknown, now = Date.now()): string {
  if (typeof timestamp !== 'string') return '<unknown>';
  const seconds = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  if (!Number.isFinite(seconds)) return '<unknown>';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return `${minutes}m${seconds % 60 ? `${seconds % 60}s` : ''}`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (days < 8 && hours % 24) return `${days}d${hours % 24}h`;
  return `${days}d`;
}

function rowObject(object: KubeObject, include: IncludeObject): Record<string, unknown> | undefined {
  if (include === 'None') return undefined;
  if (include === 'Object') return object;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: object.metadata };
}

/** Builds a Table of `objects`; `withColumns: false` omits the definitions (watch events after the first). */
export function toTable(
  type: ResourceType,
  objects: readonly KubeObject[],
  options: { include: IncludeObject; resourceVersion?: string; withColumns?: boolean },
): Record<string, unknown> {
  const columns = columnsFor(type.kind);
  const now = Date.now();
  const definitions: TableColumn[] = columns.map((column) => ({
    name: column.name,
    type: column.type === 'date' ? 'string' : (column.type ?? 'string'),
    format: column.format ?? '',
    description: column.name === 'Name' ? 'Name must be unique within a namespace.' : column.name,
    priority: column.priority ?? 0,
  }));
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: options.resourceVersion ? { resourceVersion: options.resourceVersion } : {},
    columnDefinitions: options.withColumns === false ? [] : definitions,
    rows: objects.map((object) => {
      const item = rowObject(object, options.include);
      return { cells: columns.map((column) => column.cell(object, now)), ...(item ? { object: item } : {}) };
    }),
  };
}
