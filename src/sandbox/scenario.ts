// A sample Flux fleet for the demo, the e2e tests and the benchmarks: a bare Git repository with two
// apps (podinfo through a kustomize base directory, frontend plain), a GitRepository and two
// Kustomizations with health checks in the sandbox, and helpers to push good and bad commits.
import type { SimpleGit } from 'simple-git';
import { createFleetRepository } from './fleet-repository.ts';
import { GIT_REPOSITORY, KUSTOMIZATION } from './resources.ts';
import type { Sandbox } from './sandbox.ts';

export const BROKEN_IMAGE_GLOB = '*-broken*';

export interface FleetOptions {
  sandbox: Sandbox;
  /** Flux health-check timeout for each Kustomization. */
  timeout?: string;
  interval?: string;
  replicas?: number;
  /** Name of the Flux namespace objects. */
  namespace?: string;
  /** Where the repositories go (createFleetRepository); default a temporary directory. */
  dir?: string;
}

export interface Fleet {
  readonly dir: string;
  readonly remote: string;
  readonly work: SimpleGit;
  readonly workDir: string;
  readonly namespace: string;
  readonly apps: readonly string[];
  /** Commits a change of files (path -> content, null deletes), pushes it, returns the SHA. */
  commit(message: string, files: Record<string, string | null>): Promise<string>;
  /** Sets podinfo's image in the base directory (commit + push). */
  setPodinfoImage(image: string, extra?: Record<string, string | null>): Promise<string>;
  /** What a Flux webhook Receiver does on push: ask the GitRepository to fetch now. */
  notifyPush(): void;
  head(): Promise<string>;
  cleanup(): Promise<void>;
}

export function podinfoDeployment(image: string, replicas: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: default
spec:
  replicas: ${replicas}
  progressDeadlineSeconds: 600
  selector:
    matchLabels:
      app: podinfo
  template:
    metadata:
      labels:
        app: podinfo
    spec:
      containers:
        - name: podinfo
          image: ${image}
          ports:
            - containerPort: 9898
          env:
            - name: PODINFO_UI_COLOR
              value: "#34577c"
`;
}

export function frontendDeployment(image: string, replicas: number, color = 'blue'): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
  namespace: default
spec:
  replicas: ${replicas}
  selector:
    matchLabels:
      app: frontend
  template:
    metadata:
      labels:
        app: frontend
    spec:
      containers:
        - name: frontend
          image: ${image}
          env:
            - name: THEME
              value: ${color}
`;
}

export async function createFleet(options: FleetOptions): Promise<Fleet> {
  const { sandbox } = options;
  const namespace = options.namespace ?? 'flux-system';
  const replicas = options.replicas ?? 2;
  const repository = await createFleetRepository(options.dir === undefined ? {} : { dir: options.dir });
  const { dir, remote, work, workDir, commit } = repository;

  await commit('Add podinfo and frontend', {
    'README.md': '# fleet\n',
    'apps/base/podinfo/deployment.yaml': podinfoDeployment('ghcr.io/stefanprodan/podinfo:6.5.0', replicas),
    'apps/base/podinfo/kustomization.yaml': 'resources:\n  - deployment.yaml\n',
    'apps/podinfo/kustomization.yaml': 'resources:\n  - ../base/podinfo\n',
    'apps/frontend/deployment.yaml': frontendDeployment('ghcr.io/example/frontend:1.0.0', replicas),
  });

  const timeout = options.timeout ?? '10s';
  const interval = options.interval ?? '10m';
  sandbox.store.create(GIT_REPOSITORY, {
    apiVersion: 'source.toolkit.fluxcd.io/v1',
    kind: 'GitRepository',
    metadata: { name: 'fleet', namespace },
    spec: { url: `file://${remote}`, ref: { branch: 'main' }, interval },
  });
  const apps = ['podinfo', 'frontend'];
  for (const app of apps) {
    sandbox.store.create(KUSTOMIZATION, {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: app, namespace },
      spec: {
        interval,
        path: `./apps/${app}`,
        prune: true,
        wait: true,
        timeout,
        sourceRef: { kind: 'GitRepository', name: 'fleet' },
      },
    });
  }

  const notifyPush = (): void => {
    sandbox.store.mutate(GIT_REPOSITORY, namespace, 'fleet', (repo) => {
      repo.metadata.annotations = {
        ...repo.metadata.annotations,
        'reconcile.fluxcd.io/requestedAt': new Date().toISOString(),
      };
    });
  };

  return {
    dir,
    remote,
    work,
    workDir,
    namespace,
    apps,
    commit,
    async setPodinfoImage(image, extra = {}) {
      return commit(`Bump podinfo to ${image.split(':').pop() ?? image}`, {
        'apps/base/podinfo/deployment.yaml': podinfoDeployment(image, replicas),
        ...extra,
      });
    },
    notifyPush,
    head: () => repository.head(),
    cleanup: () => repository.cleanup(),
  };
}

/** Waits until a Kustomization reports Ready=True for the given commit (or any, without one). */
export async function waitForKustomization(
  sandbox: Sandbox,
  namespace: string,
  name: string,
  predicate: (ks: { status?: any }) => boolean,
  timeoutMs = 30_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ks = sandbox.store.get(KUSTOMIZATION, namespace, name);
    if (ks && predicate(ks)) return ks;
    if (Date.now() > deadline) {
      throw new Error(
        `Kustomization ${namespace}/${name} did not reach the expected state: ${JSON.stringify(ks?.status)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export function readyFor(sha: string) {
  return (ks: { status?: any }): boolean =>
    (ks.status?.lastAppliedRevision as string | undefined)?.endsWith(sha) === true &&
    (ks.status?.conditions as { type: string; status: string }[] | undefined)?.some(
      (c) => c.type === 'Ready' && c.status === 'True',
    ) === true;
}
