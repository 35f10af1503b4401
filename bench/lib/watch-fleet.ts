// The objects of N healthy Flux apps, as a cluster holds them, written straight into the sandbox
// store (no Git, no controllers): the watch benchmark measures the detector's scale, not the
// sandbox's Flux syncer. Each app: a Kustomization (Ready on a revision, Rewind's last-healthy
// annotation already set, so the detector writes nothing), a Namespace, a Deployment, its ReplicaSet
// and one Pod, with managedFields and kubectl's last-applied-configuration like a real API server.
import { LAST_HEALTHY_ANNOTATION } from '../../src/pipeline/detect.ts';
import { DEPLOYMENT, KUSTOMIZATION, NAMESPACE, POD, REPLICA_SET } from '../../src/sandbox/resources.ts';
import type { KubeObject, ObjectStore } from '../../src/sandbox/store.ts';

const REVISION = `main@sha1:${'a1b2c3d4e5'.repeat(4)}`;
export const FLUX_NAMESPACE = 'flux-system';

export const appName = (i: number): string => `app-${i}`;
export const appNamespace = (i: number): string => `team-${i}`;

function template(i: number) {
  return {
    metadata: { labels: { app: 'web', 'app.kubernetes.io/part-of': appName(i) } },
    spec: {
      containers: [
        {
          name: 'web',
          image: `ghcr.io/example/web:1.${i % 50}.0`,
          ports: [{ containerPort: 8080, name: 'http', protocol: 'TCP' }],
          env: [
            { name: 'LOG_LEVEL', value: 'info' },
            { name: 'APP_NAME', value: appName(i) },
          ],
          resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } },
          readinessProbe: { httpGet: { path: '/readyz', port: 8080 }, periodSeconds: 10 },
        },
      ],
    },
  };
}

/** What a server-side apply by one manager records (the shape, not every field). */
function managedFields(manager: string, fields: Record<string, unknown>) {
  return [
    {
      manager,
      operation: 'Apply',
      apiVersion: 'apps/v1',
      time: '2026-01-01T00:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: fields,
    },
  ];
}

const TEMPLATE_FIELDS = {
  'f:metadata': { 'f:labels': { 'f:app': {}, 'f:app.kubernetes.io/part-of': {} } },
  'f:spec': {
    'f:containers': {
      'k:{"name":"web"}': {
        '.': {},
        'f:env': { 'k:{"name":"LOG_LEVEL"}': { '.': {}, 'f:name': {}, 'f:value': {} } },
        'f:image': {},
        'f:name': {},
        'f:ports': { 'k:{"containerPort":8080,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
        'f:readinessProbe': { 'f:httpGet': { 'f:path': {}, 'f:port': {} }, 'f:periodSeconds': {} },
        'f:resources': { 'f:limits': { 'f:memory': {} }, 'f:requests': { 'f:cpu': {}, 'f:memory': {} } },
      },
    },
  },
};

/** Creates N healthy apps; returns each app's Pod (namespace, name) for the event burst. */
export function createWatchFleet(store: ObjectStore, apps: number): { namespace: string; name: string }[] {
  const pods: { namespace: string; name: string }[] = [];
  for (let i = 0; i < apps; i++) {
    const namespace = appNamespace(i);
    store.create(NAMESPACE, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    store.create(KUSTOMIZATION, {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: {
        name: appName(i),
        namespace: FLUX_NAMESPACE,
        annotations: { [LAST_HEALTHY_ANNOTATION]: REVISION },
      },
      spec: {
        interval: '10m',
        path: `./apps/${appName(i)}`,
        prune: true,
        wait: true,
        timeout: '5m',
        targetNamespace: namespace,
        sourceRef: { kind: 'GitRepository', name: 'fleet' },
      },
      status: {
        observedGeneration: 1,
        lastAppliedRevision: REVISION,
        lastAttemptedRevision: REVISION,
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'ReconciliationSucceeded',
            message: `Applied revision: ${REVISION}`,
            lastTransitionTime: '2026-01-01T00:00:00Z',
            observedGeneration: 1,
          },
        ],
      },
    });
    const labels = {
      app: 'web',
      'kustomize.toolkit.fluxcd.io/name': appName(i),
      'kustomize.toolkit.fluxcd.io/namespace': FLUX_NAMESPACE,
    };
    const deployment = store.create(DEPLOYMENT, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'web',
        namespace,
        labels,
        generation: 1,
        annotations: {
          'deployment.kubernetes.io/revision': '1',
          'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ spec: template(i) }),
        },
        managedFields: managedFields('kustomize-controller', { 'f:spec': { 'f:template': TEMPLATE_FIELDS } }),
      },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
        template: template(i),
      },
      status: {
        observedGeneration: 1,
        replicas: 1,
        updatedReplicas: 1,
        readyReplicas: 1,
        availableReplicas: 1,
        conditions: [
          { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
          { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
        ],
      },
    });
    const hash = `5d${(i * 7919).toString(16).padStart(8, '0')}`;
    const owner = (o: KubeObject, kind: string) => ({
      apiVersion: o.apiVersion,
      kind,
      name: o.metadata.name,
      uid: o.metadata.uid!,
      controller: true,
      blockOwnerDeletion: true,
    });
    const replicaSet = store.create(REPLICA_SET, {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `web-${hash}`,
        namespace,
        labels: { app: 'web', 'pod-template-hash': hash },
        annotations: {
          'deployment.kubernetes.io/revision': '1',
          'deployment.kubernetes.io/desired-replicas': '1',
        },
        ownerReferences: [owner(deployment, 'Deployment')],
        managedFields: managedFields('kube-controller-manager', {
          'f:spec': { 'f:template': TEMPLATE_FIELDS },
        }),
      },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web', 'pod-template-hash': hash } },
        template: {
          ...template(i),
          metadata: { labels: { ...template(i).metadata.labels, 'pod-template-hash': hash } },
        },
      },
      status: { replicas: 1, readyReplicas: 1, availableReplicas: 1, observedGeneration: 1 },
    });
    const pod = store.create(POD, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `web-${hash}-x${i.toString(36)}`,
        namespace,
        labels: { app: 'web', 'pod-template-hash': hash },
        ownerReferences: [owner(replicaSet, 'ReplicaSet')],
        managedFields: managedFields('kubelet', {
          'f:status': { 'f:conditions': {}, 'f:containerStatuses': {}, 'f:hostIP': {}, 'f:podIP': {} },
        }),
      },
      spec: {
        ...template(i).spec,
        nodeName: 'sandbox-node',
        restartPolicy: 'Always',
        serviceAccountName: 'default',
      },
      status: {
        phase: 'Running',
        hostIP: '10.0.0.1',
        podIP: `10.1.${Math.floor(i / 250) % 250}.${i % 250}`,
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'ContainersReady', status: 'True' },
        ],
        containerStatuses: [
          {
            name: 'web',
            ready: true,
            started: true,
            restartCount: 0,
            image: template(i).spec.containers[0]!.image,
            imageID: `ghcr.io/example/web@sha256:${'0f'.repeat(32)}`,
            containerID: `containerd://${'ab'.repeat(32)}`,
            state: { running: { startedAt: '2026-01-01T00:00:00Z' } },
          },
        ],
      },
    });
    pods.push({ namespace, name: pod.metadata.name });
  }
  return pods;
}
