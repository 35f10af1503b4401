// The sandbox cluster: object store + HTTP API server + Deployment controller + simulated Pods +
// Flux syncer + Argo CD application-controller, in one process. Used by `rewind sandbox`, the demo, tests and benchmarks.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type AccessOptions, ADMIN_TOKEN } from './access-control.ts';
import { ApiServer } from './api-server.ts';
import { ApplicationSetController } from './argo-applicationset.ts';
import { ArgoController } from './argo-controller.ts';
import { applyObjectDefaults } from './defaults.ts';
import { DeploymentController } from './deployment-controller.ts';
import { FluxSyncer } from './flux-syncer.ts';
import { selfSignedCertificate } from './serving-certificate.ts';
import { ObjectStore } from './store.ts';

export interface SandboxOptions {
  /** Where to write the kubeconfig; default: a file in a fresh temporary directory. */
  kubeconfig?: string;
  host?: string;
  /** 0 (default) = any free port. */
  port?: number;
  podReadyMs?: number;
  unreadyImages?: readonly string[];
  crashImages?: readonly string[];
  /**
   * Image globs whose readiness probes fail: a Pod whose container has a readinessProbe runs but
   * is never Ready. Read at every probe, so a test may change the array to make probes start or
   * stop failing. A container without a readinessProbe is Ready whatever its image.
   */
  probeFailImages?: readonly string[];
  /** The crash-loop back-off's first wait; default 10 000 (the kubelet's), doubling up to 30 times it. */
  crashBackoffBaseMs?: number;
  /** Events kept for resuming watches; older resumes get 410 Gone. */
  eventHistory?: number;
  /** Run the Argo CD application-controller (Applications in namespace `argocd`); default true. */
  argo?: boolean;
  /** Argo's timeout.reconciliation: how often each Application is compared with Git; default 180 s. */
  argoReconcileTimeoutMs?: number;
  /** Argo's self-heal timeout: the wait after a sync before a self-heal; default 5 s. */
  argoSelfHealTimeoutMs?: number;
  /** A Helm 3 binary for Argo CD sources that are charts; without one, they fail to render. */
  helm?: string;
  /** Argo's repo error grace period (manifest errors kept quiet by periodic refreshes); default 180 s. */
  argoRepoErrorGracePeriodMs?: number;
  /**
   * Authorization mode and audit log of the API server; default: no checks, no log. With RBAC it
   * serves https (self-signed; kubeconfigs skip verification).
   */
  access?: AccessOptions;
  /**
   * Run the controllers (Deployments, Pods, Flux, Argo CD); default true. Without, the sandbox is an
   * API server over a store the caller fills (bench/watch.ts: objects as they would be, at scale).
   */
  controllers?: boolean;
}

export interface Sandbox {
  readonly url: string;
  readonly kubeconfigPath: string;
  readonly store: ObjectStore;
  readonly api: ApiServer;
  stop(): Promise<void>;
}

/** A kubeconfig for the sandbox: the admin's token, or another (a ServiceAccount's, for RBAC tests). */
export function kubeconfigYaml(url: string, token = ADMIN_TOKEN): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: rewind-sandbox',
    '  cluster:',
    `    server: ${url}`,
    // client-node 1.x refuses plain http unless TLS verification is explicitly off.
    '    insecure-skip-tls-verify: true',
    'users:',
    '- name: rewind-sandbox',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: rewind-sandbox',
    '  context:',
    '    cluster: rewind-sandbox',
    '    user: rewind-sandbox',
    '    namespace: default',
    'current-context: rewind-sandbox',
    '',
  ].join('\n');
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const store = new ObjectStore({
    admit: applyObjectDefaults,
    ...(options.eventHistory === undefined ? {} : { eventHistory: options.eventHistory }),
  });
  const host = options.host ?? '127.0.0.1';
  // kubectl sends no token over plain http: a sandbox that checks them serves https.
  const tls = options.access?.authorization === 'RBAC' ? await selfSignedCertificate(host) : undefined;
  const api = new ApiServer(store, {
    host,
    ...(tls ? { tls } : {}),
    port: options.port ?? 0,
    ...(options.access ? { access: options.access } : {}),
  });
  const workloads = new DeploymentController(store, {
    podReadyMs: options.podReadyMs ?? 200,
    unreadyImages: options.unreadyImages ?? [],
    crashImages: options.crashImages ?? [],
    probeFailImages: options.probeFailImages ?? [],
    ...(options.crashBackoffBaseMs === undefined ? {} : { crashBackoffBaseMs: options.crashBackoffBaseMs }),
  });
  const scratch = await mkdtemp(path.join(tmpdir(), 'rewind-sandbox-'));
  const flux = new FluxSyncer(store, { cacheDir: path.join(scratch, 'sources') });
  const argo =
    options.argo === false
      ? undefined
      : new ArgoController(store, {
          cacheDir: path.join(scratch, 'argocd-repo-server'),
          ...(options.argoReconcileTimeoutMs === undefined
            ? {}
            : { reconcileTimeoutMs: options.argoReconcileTimeoutMs }),
          ...(options.argoSelfHealTimeoutMs === undefined
            ? {}
            : { selfHealTimeoutMs: options.argoSelfHealTimeoutMs }),
          ...(options.helm === undefined ? {} : { helm: options.helm }),
          ...(options.argoRepoErrorGracePeriodMs === undefined
            ? {}
            : { repoErrorGracePeriodMs: options.argoRepoErrorGracePeriodMs }),
        });
  const appSets =
    options.argo === false
      ? undefined
      : new ApplicationSetController(store, { cacheDir: path.join(scratch, 'argocd-applicationset') });
  const url = await api.listen();
  if (options.controllers !== false) {
    workloads.start();
    flux.start();
    argo?.start();
    appSets?.start();
  }
  const kubeconfigPath = options.kubeconfig ?? path.join(scratch, 'kubeconfig');
  await writeFile(kubeconfigPath, kubeconfigYaml(url), { mode: 0o600 });
  let stopped = false;
  return {
    url,
    kubeconfigPath,
    store,
    api,
    async stop() {
      if (stopped) return;
      stopped = true;
      workloads.stop();
      await flux.stop();
      await appSets?.stop();
      await argo?.stop();
      await api.close();
      await rm(scratch, { recursive: true, force: true });
    },
  };
}
