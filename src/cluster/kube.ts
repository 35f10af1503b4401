// The Kubernetes adapter: everything Rewind reads from or writes to a cluster, through the real
// @kubernetes/client-node. An instance per process with explicit dependencies (no module singletons).
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import {
  AppsV1Api,
  KubeConfig,
  KubernetesObjectApi,
  Health,
  PatchStrategy,
  VersionApi,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { InvalidInputError, TransientError } from '../domain/errors.ts';
import type { KubeObjectJson } from './informer.ts';

export const FLUX_KUSTOMIZATION = {
  apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
  kind: 'Kustomization',
} as const;
export const FLUX_GIT_REPOSITORY = {
  apiVersion: 'source.toolkit.fluxcd.io/v1',
  kind: 'GitRepository',
} as const;
export const FLUX_HELM_RELEASE = { apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease' } as const;
export const DEPLOYMENT = { apiVersion: 'apps/v1', kind: 'Deployment' } as const;
export const REPLICA_SET = { apiVersion: 'apps/v1', kind: 'ReplicaSet' } as const;
export const POD = { apiVersion: 'v1', kind: 'Pod' } as const;

export const RECONCILE_REQUESTED_AT = 'reconcile.fluxcd.io/requestedAt';
export const KUSTOMIZE_NAME_LABEL = 'kustomize.toolkit.fluxcd.io/name';
export const KUSTOMIZE_NAMESPACE_LABEL = 'kustomize.toolkit.fluxcd.io/namespace';

export interface Kind {
  apiVersion: string;
  kind: string;
}

export interface ObjectRef extends Kind {
  namespace: string;
  name: string;
}

const POINT_ELSEWHERE =
  'Point Rewind at a cluster with --kubeconfig FILE, kubernetes.kubeconfig in rewind.yaml (REWIND_KUBERNETES_KUBECONFIG), or KUBECONFIG.';
const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export function loadKubeConfig(kubeconfig: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  const fromEnv = process.env['KUBECONFIG'];
  const home = path.join(homedir(), '.kube', 'config');
  // With nothing to load, client-node falls back to http://localhost:8080, which fails later with a
  // message about TLS: say instead where a kubeconfig was looked for.
  if (!kubeconfig && !fromEnv && !existsSync(home) && !existsSync(IN_CLUSTER_TOKEN)) {
    throw new InvalidInputError(
      `No kubeconfig found: tried --kubeconfig and kubernetes.kubeconfig (not given), KUBECONFIG (not set), ${home} (no such file) and the in-cluster service account (${IN_CLUSTER_TOKEN}: not running in a Pod). ${POINT_ELSEWHERE}`,
    );
  }
  const source = kubeconfig ?? fromEnv ?? (existsSync(home) ? home : 'the in-cluster service account');
  const empty = (): InvalidInputError =>
    new InvalidInputError(
      `The kubeconfig ${source} has no current context with a cluster${
        kc.getCurrentContext()
          ? ` (current-context "${kc.getCurrentContext()}" names no cluster it defines)`
          : ' (it is empty, or sets no current-context)'
      }: select one with \`kubectl config use-context NAME --kubeconfig ${source}\`, or use another kubeconfig. ${POINT_ELSEWHERE}`,
    );
  try {
    const file =
      kubeconfig ?? fromEnv?.split(path.delimiter).find((f) => f) ?? (existsSync(home) ? home : undefined);
    if (file && existsSync(file) && readFileSync(file, 'utf8').trim() === '') throw empty();
    if (kubeconfig) kc.loadFromFile(kubeconfig);
    else kc.loadFromDefault(); // $KUBECONFIG, ~/.kube/config, then in-cluster
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    throw kubeconfigError(kubeconfig, error);
  }
  if (!kc.getCurrentCluster()) throw empty();
  return kc;
}

/** A kubeconfig that cannot be read, named with where it was looked for and how to point elsewhere. */
function kubeconfigError(kubeconfig: string | undefined, error: unknown): InvalidInputError {
  const e = error as NodeJS.ErrnoException;
  const fromEnv = process.env['KUBECONFIG'];
  const [tried, from] = kubeconfig
    ? [kubeconfig, '--kubeconfig or kubernetes.kubeconfig']
    : fromEnv
      ? [e.path ?? fromEnv, 'KUBECONFIG']
      : [e.path ?? '~/.kube/config', 'the default location'];
  const what = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
  return new InvalidInputError(
    `Cannot read the kubeconfig ${tried} (from ${from}): ${what}. ${POINT_ELSEWHERE}`,
    { cause: error },
  );
}

export function statusCode(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown; body?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** `spec.selector.matchLabels` as a label selector string. */
function matchLabelsSelector(object: KubeObjectJson): string {
  return Object.entries((object.spec?.selector?.matchLabels ?? {}) as Record<string, string>)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

function plain<T>(value: unknown): T {
  // Typed models carry Date objects; Rewind works on the JSON shape the API sends.
  return JSON.parse(JSON.stringify(value)) as T;
}

export class KubeCluster {
  private readonly objects: KubernetesObjectApi;
  private readonly apps: AppsV1Api;
  private readonly version: VersionApi;
  private readonly health: Health;

  constructor(readonly kubeConfig: KubeConfig) {
    this.objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
    this.version = kubeConfig.makeApiClient(VersionApi);
    this.health = new Health(kubeConfig);
  }

  get server(): string {
    return this.kubeConfig.getCurrentCluster()?.server ?? '(no cluster)';
  }

  /**
   * Fails with an actionable message when the API server does not answer or refuses the
   * credentials. GET /version needs no RBAC grant (every authenticated user may read it, through
   * the bootstrap ClusterRole system:public-info-viewer), yet an invalid token gets a 401: so it
   * checks reachability and authentication without asking deploy/rbac.yaml for anything.
   */
  async ping(): Promise<void> {
    try {
      await this.version.getCode();
    } catch (error) {
      throw new TransientError(
        `Cannot reach the Kubernetes API server at ${this.server}: ${(error as Error).message}. ` +
          'Check kubernetes.kubeconfig in rewind.yaml (or $KUBECONFIG) and that the cluster is up.',
        { cause: error },
      );
    }
  }

  /**
   * For readiness: the API server's own `/readyz` (public, no RBAC needed). Gives up when `signal`
   * aborts, so a connection nobody answers does not hold the probe.
   */
  async assertReady(signal: AbortSignal): Promise<void> {
    if (!(await this.health.readyz({ signal }))) {
      throw new TransientError(`The Kubernetes API server at ${this.server} says it is not ready.`);
    }
  }

  async get(ref: ObjectRef): Promise<KubeObjectJson | undefined> {
    try {
      const object = await this.objects.read({
        apiVersion: ref.apiVersion,
        kind: ref.kind,
        metadata: { name: ref.name, namespace: ref.namespace },
      });
      return plain<KubeObjectJson>(object);
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw error;
    }
  }

  async list(kind: Kind, namespace?: string, labelSelector?: string): Promise<KubeObjectJson[]> {
    const list = await this.objects.list(
      kind.apiVersion,
      kind.kind,
      namespace,
      undefined,
      undefined,
      undefined,
      undefined,
      labelSelector,
    );
    return plain<KubeObjectJson[]>(list.items).map((item) => ({ ...kind, ...item }));
  }

  /** JSON merge patch; `null` removes a key. */
  async mergePatch(ref: ObjectRef, patch: Record<string, unknown>): Promise<KubeObjectJson> {
    const body = {
      apiVersion: ref.apiVersion,
      kind: ref.kind,
      metadata: {
        name: ref.name,
        namespace: ref.namespace,
        ...((patch['metadata'] as object | undefined) ?? {}),
      },
      ...Object.fromEntries(Object.entries(patch).filter(([key]) => key !== 'metadata')),
    };
    const result = await this.objects.patch(
      body,
      undefined,
      undefined,
      'rewind',
      undefined,
      PatchStrategy.MergePatch,
    );
    return plain<KubeObjectJson>(result);
  }

  /** Creates an object (Rewind's own ConfigMap switch, when it does not exist yet). */
  async create(object: KubeObjectJson): Promise<KubeObjectJson> {
    return plain<KubeObjectJson>(
      await this.objects.create(object as Parameters<KubernetesObjectApi['create']>[0]),
    );
  }

  async annotate(ref: ObjectRef, annotations: Record<string, string | null>): Promise<KubeObjectJson> {
    return this.mergePatch(ref, { metadata: { annotations } });
  }

  /**
   * Replaces a Deployment's pod template with a JSON patch, as `kubectl rollout undo` does
   * (kubectl pkg/polymorphichelpers/rollback.go); the pod-template-hash label is dropped so the
   * controller finds and reuses the ReplicaSet that carries this template.
   */
  async setPodTemplate(namespace: string, name: string, template: unknown): Promise<void> {
    const value = structuredClone(template) as { metadata?: { labels?: Record<string, string> } };
    delete value.metadata?.labels?.['pod-template-hash'];
    await this.apps.patchNamespacedDeployment(
      { namespace, name, body: [{ op: 'replace', path: '/spec/template', value }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
  }

  /** ReplicaSets controlled by a Deployment (label selector + controller owner reference, as kubectl does). */
  async replicaSetsOf(deployment: KubeObjectJson): Promise<KubeObjectJson[]> {
    const all = await this.list(REPLICA_SET, deployment.metadata?.namespace, matchLabelsSelector(deployment));
    return all.filter((rs) =>
      (rs.metadata?.ownerReferences ?? []).some(
        (ref) => ref.controller && ref.uid === deployment.metadata?.uid,
      ),
    );
  }

  async podsOf(replicaSet: KubeObjectJson): Promise<KubeObjectJson[]> {
    const all = await this.list(POD, replicaSet.metadata?.namespace, matchLabelsSelector(replicaSet));
    return all.filter((pod) =>
      (pod.metadata?.ownerReferences ?? []).some((ref) => ref.uid === replicaSet.metadata?.uid),
    );
  }

  /** Records a v1 Event on an object (what `kubectl describe` shows). Never carries secrets. */
  async recordEvent(
    involved: KubeObjectJson,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const now = new Date().toISOString();
    const namespace = involved.metadata?.namespace ?? 'default';
    await this.objects.create({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${involved.metadata?.name ?? 'rewind'}.${randomUUID().slice(0, 8)}`, namespace },
      involvedObject: {
        apiVersion: involved.apiVersion,
        kind: involved.kind,
        name: involved.metadata?.name,
        namespace,
        uid: involved.metadata?.uid,
        resourceVersion: involved.metadata?.resourceVersion,
      },
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: 'rewind' },
      reportingComponent: 'rewind',
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    } as never);
  }
}
