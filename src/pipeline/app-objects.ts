// Reading an app through its engine: the app object and the Deployments it manages. The one place
// the pipeline turns an AppRef into cluster reads, so no step needs to know which engine it is.
import type { KubeObjectJson } from '../cluster/informer.ts';
import type { AppRef } from '../domain/app-ref.ts';
import { engineFor } from '../engines/registry.ts';
import type { ClusterPort } from './ports.ts';

const DEPLOYMENT = { apiVersion: 'apps/v1', kind: 'Deployment' } as const;

export async function appObject(cluster: ClusterPort, app: AppRef): Promise<KubeObjectJson | undefined> {
  return cluster.get(engineFor(app).ref(app));
}

/** The Deployments the app's engine manages (its labels on them), in any namespace. */
export async function workloadsOf(cluster: ClusterPort, app: AppRef): Promise<KubeObjectJson[]> {
  return cluster.list(DEPLOYMENT, undefined, engineFor(app).workloadSelector(app));
}
