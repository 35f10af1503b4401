// A sample Argo CD fleet for the demo and the benchmarks: a bare Git repository with two apps (web
// and api, plain YAML directories), one Application each in `argocd` with automated sync, prune and
// self-heal (as a team would kubectl-apply them), and helpers to push commits and to wait for Argo.
import { createFleetRepository, type FleetRepository } from './fleet-repository.ts';
import { APPLICATION, NAMESPACE } from './resources.ts';
import type { Sandbox } from './sandbox.ts';
import type { KubeObject } from './store.ts';

export const ARGO_CONTROL_NAMESPACE = 'argocd';

export interface ArgoFleetOptions {
  sandbox: Sandbox;
  replicas?: number;
  /** Where the apps' objects go (spec.destination.namespace). */
  destination?: string;
}

export interface ArgoFleet extends FleetRepository {
  /** The destination namespace of both apps. */
  readonly destination: string;
  readonly apps: readonly string[];
  /** Sets an app's image (and its MODE variable), commits and pushes, returns the SHA. */
  setImage(
    app: string,
    image: string,
    extra?: Record<string, string | null>,
    message?: string,
  ): Promise<string>;
  /** What Argo's Git webhook does on push: every Application refreshes now (`argocd.argoproj.io/refresh`). */
  notifyPush(): void;
}

/**
 * An app's Deployment. A long progress deadline, as in real clusters: Argo reports Degraded only after
 * it, so Rewind has to notice the failing Pods of the new ReplicaSet itself.
 */
export function argoDeployment(name: string, image: string, replicas: number, mode = 'a'): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  progressDeadlineSeconds: 600
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
        - name: ${name}
          image: ${image}
          env:
            - {name: MODE, value: "${mode}"}
`;
}

export async function createArgoFleet(options: ArgoFleetOptions): Promise<ArgoFleet> {
  const { sandbox } = options;
  const replicas = options.replicas ?? 2;
  const destination = options.destination ?? 'shop';
  const repository = await createFleetRepository();
  const apps = ['web', 'api'];
  await repository.commit('Add web and api', {
    'README.md': '# fleet\n',
    'apps/web/deployment.yaml': argoDeployment('web', 'ghcr.io/example/web:1.0', replicas),
    'apps/api/deployment.yaml': argoDeployment('api', 'ghcr.io/example/api:1.0', replicas),
  });
  if (!sandbox.store.get(NAMESPACE, '', destination)) {
    sandbox.store.create(NAMESPACE, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: destination } });
  }
  for (const app of apps) {
    sandbox.store.create(APPLICATION, {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: app, namespace: ARGO_CONTROL_NAMESPACE },
      spec: {
        project: 'default',
        source: { repoURL: `file://${repository.remote}`, path: `apps/${app}`, targetRevision: 'main' },
        destination: { server: 'https://kubernetes.default.svc', namespace: destination },
        syncPolicy: { automated: { prune: true, selfHeal: true } },
      },
    });
  }

  return {
    ...repository,
    destination,
    apps,
    setImage(app, image, extra = {}, message) {
      return repository.commit(message ?? `Bump ${app} to ${image.split(':').pop() ?? image}`, {
        [`apps/${app}/deployment.yaml`]: argoDeployment(app, image, replicas),
        ...extra,
      });
    },
    notifyPush() {
      for (const app of apps) {
        sandbox.store.mutate(APPLICATION, ARGO_CONTROL_NAMESPACE, app, (object) => {
          object.metadata.annotations = {
            ...object.metadata.annotations,
            'argocd.argoproj.io/refresh': 'normal',
          };
        });
      }
    },
  };
}

/** Argo reports the Application Synced + Healthy at exactly this commit, with no operation pending. */
export function syncedAndHealthyAt(sha: string) {
  return (app: KubeObject): boolean =>
    app.status?.sync?.status === 'Synced' &&
    app.status.sync.revision === sha &&
    app.status.health?.status === 'Healthy' &&
    app['operation'] === undefined;
}

/** Waits until an Application in `argocd` satisfies the predicate; returns it. */
export async function waitForApplication(
  sandbox: Sandbox,
  name: string,
  predicate: (app: KubeObject) => boolean,
  timeoutMs = 30_000,
): Promise<KubeObject> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const app = sandbox.store.get(APPLICATION, ARGO_CONTROL_NAMESPACE, name);
    if (app && predicate(app)) return app;
    if (Date.now() > deadline) {
      throw new Error(
        `Application ${ARGO_CONTROL_NAMESPACE}/${name} did not reach the expected state: ${JSON.stringify({ sync: app?.status?.sync, health: app?.status?.health })}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
