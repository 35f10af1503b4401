// What the detector's informers keep of each object: only the fields detection reads (detect.ts,
// pod-signals.ts, the engines' verdicts). At 10,000 apps the cache is most of Rewind's memory, and
// most of a raw object is what detection never looks at: managedFields, kubectl's
// last-applied-configuration, the Pod spec. Pure functions of the object (an informer transform).
import type { KubeObjectJson } from '../cluster/informer.ts';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

type Metadata = NonNullable<KubeObjectJson['metadata']>;

/** Metadata without managedFields and last-applied-configuration; owner references as detection reads them. */
function metadataView(
  metadata: Metadata | undefined,
  keep: { labels: boolean; annotations: boolean },
): Metadata {
  if (!metadata) return {};
  const { name, namespace, uid, resourceVersion, generation, creationTimestamp, labels, annotations } =
    metadata;
  const view: Metadata = {};
  if (name !== undefined) view.name = name;
  if (namespace !== undefined) view.namespace = namespace;
  if (uid !== undefined) view.uid = uid;
  if (resourceVersion !== undefined) view.resourceVersion = resourceVersion;
  if (generation !== undefined) view.generation = generation;
  if (creationTimestamp !== undefined) view.creationTimestamp = creationTimestamp;
  if (keep.labels && labels) view.labels = labels;
  if (keep.annotations && annotations) {
    const { [LAST_APPLIED]: _lastApplied, ...rest } = annotations;
    view.annotations = rest;
  }
  if (metadata.ownerReferences?.length)
    view.ownerReferences = metadata.ownerReferences.map(
      ({ apiVersion, kind, name: owner, uid: ownerUid, controller }) => ({
        apiVersion,
        kind,
        name: owner,
        uid: ownerUid,
        ...(controller === undefined ? {} : { controller }),
      }),
    );
  return view;
}

/** An engine's app object: everything but managedFields and last-applied (verdicts read spec and status). */
export function appObjectView(object: KubeObjectJson): KubeObjectJson {
  return { ...object, metadata: metadataView(object.metadata, { labels: true, annotations: true }) };
}

/** A Deployment: labels (which app), spec (replicas, template), status (rollout complete). */
export function deploymentView(object: KubeObjectJson): KubeObjectJson {
  return {
    ...typeOf(object),
    metadata: metadataView(object.metadata, { labels: true, annotations: false }),
    spec: { replicas: object.spec?.replicas, template: object.spec?.template },
    status: object.status,
  };
}

/** A ReplicaSet: its owner and its pod template (which one carries the Deployment's template). */
export function replicaSetView(object: KubeObjectJson): KubeObjectJson {
  return {
    ...typeOf(object),
    metadata: metadataView(object.metadata, { labels: false, annotations: false }),
    spec: { template: object.spec?.template },
  };
}

interface ContainerStatusView {
  name?: string | undefined;
  restartCount?: number | undefined;
  state?: unknown;
  lastState?: unknown;
}

/** apiVersion and kind, as the informer set them. */
function typeOf(object: KubeObjectJson): Pick<KubeObjectJson, 'apiVersion' | 'kind'> {
  return {
    ...(object.apiVersion === undefined ? {} : { apiVersion: object.apiVersion }),
    ...(object.kind === undefined ? {} : { kind: object.kind }),
  };
}

function containerStatuses(list: unknown): ContainerStatusView[] | undefined {
  if (!Array.isArray(list)) return undefined;
  return (list as ContainerStatusView[]).map(({ name, restartCount, state, lastState }) => ({
    name,
    restartCount,
    state,
    lastState,
  }));
}

/** A Pod: its owner and its container statuses (why it fails); not its spec. */
export function podView(object: KubeObjectJson): KubeObjectJson {
  const init = containerStatuses(object.status?.initContainerStatuses);
  const main = containerStatuses(object.status?.containerStatuses);
  return {
    ...typeOf(object),
    metadata: metadataView(object.metadata, { labels: false, annotations: false }),
    status: {
      ...(init ? { initContainerStatuses: init } : {}),
      ...(main ? { containerStatuses: main } : {}),
    },
  };
}
