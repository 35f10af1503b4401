// A short, real tour of the sandbox: create a Deployment, roll it forward, roll it back the way
// `kubectl rollout undo` does, and print the ReplicaSet history. Everything goes through the real
// @kubernetes/client-node over HTTP.
import {
  AppsV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
} from '@kubernetes/client-node';
import { ownedReplicaSets, rollbackDeployment } from '../cluster/native-rollback.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';

export interface TourOptions {
  sandbox: Sandbox;
  log: (line: string) => void;
  namespace?: string;
  timeoutMs?: number;
}

function deployment(name: string, image: string): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image, ports: [{ containerPort: 8080 }] }] },
      },
    },
  };
}

export async function waitForRollout(
  apps: AppsV1Api,
  namespace: string,
  name: string,
  timeoutMs: number,
): Promise<V1Deployment> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await apps.readNamespacedDeployment({ namespace, name });
    const s = d.status ?? {};
    const want = d.spec?.replicas ?? 1;
    if (
      (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
      (s.updatedReplicas ?? 0) === want &&
      (s.replicas ?? 0) === want &&
      (s.availableReplicas ?? 0) === want
    ) {
      return d;
    }
    if (Date.now() > deadline)
      throw new Error(`deployment ${namespace}/${name} did not roll out within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runTour({
  sandbox,
  log,
  namespace = 'default',
  timeoutMs = 30_000,
}: TourOptions): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(sandbox.kubeconfigPath);
  const apps = kc.makeApiClient(AppsV1Api);
  const name = 'podinfo';
  const started = Date.now();
  const t = (): string => `${((Date.now() - started) / 1000).toFixed(2)}s`;

  await apps.createNamespacedDeployment({
    namespace,
    body: deployment(name, 'ghcr.io/stefanprodan/podinfo:6.5.0'),
  });
  await waitForRollout(apps, namespace, name, timeoutMs);
  log(`[${t()}] created deployment/${name} with podinfo:6.5.0 (3 replicas), rolled out`);

  await apps.patchNamespacedDeployment(
    {
      namespace,
      name,
      body: {
        spec: {
          template: { spec: { containers: [{ name: 'app', image: 'ghcr.io/stefanprodan/podinfo:6.6.0' }] } },
        },
      },
    },
    setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
  );
  await waitForRollout(apps, namespace, name, timeoutMs);
  log(`[${t()}] rolled forward to podinfo:6.6.0, rolled out`);

  const undo = await rollbackDeployment(apps, namespace, name);
  if (undo.kind !== 'rolled-back') throw new Error(`rollback skipped: ${undo.reason}`);
  const back = await waitForRollout(apps, namespace, name, timeoutMs);
  log(
    `[${t()}] rolled back (like kubectl rollout undo) to revision ${undo.toRevision}: ReplicaSet ${undo.replicaSet} reused`,
  );

  log('');
  log('REVISION  REVISION-HISTORY  REPLICASET                 IMAGE                                READY');
  const replicaSets = await ownedReplicaSets(apps, back);
  replicaSets.sort(
    (a, b) =>
      Number(a.metadata?.annotations?.['deployment.kubernetes.io/revision']) -
      Number(b.metadata?.annotations?.['deployment.kubernetes.io/revision']),
  );
  for (const rs of replicaSets) {
    const annotations = rs.metadata?.annotations ?? {};
    log(
      [
        (annotations['deployment.kubernetes.io/revision'] ?? '?').padEnd(9),
        (annotations['deployment.kubernetes.io/revision-history'] ?? '-').padEnd(17),
        (rs.metadata?.name ?? '').padEnd(26),
        (rs.spec?.template?.spec?.containers[0]?.image ?? '').padEnd(36),
        `${rs.status?.readyReplicas ?? 0}/${rs.spec?.replicas ?? 0}`,
      ].join(' '),
    );
  }
}
