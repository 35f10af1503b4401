// kstatus-like health of applied objects (kubernetes-sigs/cli-utils pkg/kstatus), and the wait
// that Flux's health checks do (fluxcd/pkg ssa WaitForSet with fail-fast). Only Deployments have
// real rules; any other kind is Current once it exists. The wait subscribes to the store instead
// of polling it.
import type { ResourceType } from './resources.ts';
import type { KubeObject, ObjectStore } from './store.ts';

export type ObjectStatus = 'Current' | 'InProgress' | 'Failed' | 'NotFound';

export interface HealthTarget {
  type: ResourceType;
  namespace: string | undefined;
  name: string;
}

/** `Deployment/default/podinfo` (namespaced) or `Namespace/apps`, as fluxcd/pkg ssa formats ids. */
export function formatTarget(target: HealthTarget): string {
  return target.type.namespaced
    ? `${target.type.kind}/${target.namespace ?? 'default'}/${target.name}`
    : `${target.type.kind}/${target.name}`;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/**
 * kstatus' rules for a Deployment (cli-utils pkg/kstatus/status/core.go deploymentConditions), in
 * its order. A paused Deployment is InProgress: its Progressing condition is Unknown/DeploymentPaused,
 * not True/NewReplicaSetAvailable, so Flux's health check waits for it and then fails.
 */
export function deploymentStatus(deployment: KubeObject): ObjectStatus {
  const status = deployment.status ?? {};
  const generation = deployment.metadata.generation ?? 0;
  if (count(status.observedGeneration) < generation) return 'InProgress';
  // Without a progress deadline the controller sets no Progressing condition to wait for.
  let progressing = typeof deployment.spec?.progressDeadlineSeconds !== 'number';
  let available = false;
  const conditions: any[] = Array.isArray(status.conditions) ? status.conditions : [];
  for (const condition of conditions) {
    if (condition?.type === 'Progressing') {
      if (condition.reason === 'ProgressDeadlineExceeded') return 'Failed';
      if (condition.status === 'True' && condition.reason === 'NewReplicaSetAvailable') progressing = true;
    }
    if (condition?.type === 'Available' && condition.status === 'True') available = true;
  }
  const wanted = typeof deployment.spec?.replicas === 'number' ? deployment.spec.replicas : 1;
  const replicas = count(status.replicas);
  const updated = count(status.updatedReplicas);
  if (wanted > replicas || wanted > updated || replicas > wanted) return 'InProgress';
  if (updated > count(status.availableReplicas) || wanted > count(status.readyReplicas)) return 'InProgress';
  return progressing && available ? 'Current' : 'InProgress';
}

export function objectStatus(object: KubeObject | undefined): ObjectStatus {
  if (!object) return 'NotFound';
  if (object.kind === 'Deployment') return deploymentStatus(object);
  return 'Current';
}

export type HealthOutcome =
  | { result: 'healthy' }
  | { result: 'timeout'; message: string }
  | { result: 'failed'; message: string }
  | { result: 'aborted' };

function describe(entries: { target: HealthTarget; status: ObjectStatus }[]): string {
  return `[${entries.map(({ target, status }) => `${formatTarget(target)} status: '${status}'`).join(', ')}]`;
}

/**
 * Waits until every target is Current (healthy), any is Failed (fail-fast), the timeout passes,
 * or the signal aborts. Re-evaluates only when one of the targets changes in the store.
 */
export function waitForHealth(
  store: ObjectStore,
  targets: readonly HealthTarget[],
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<HealthOutcome> {
  const evaluate = (): { target: HealthTarget; status: ObjectStatus }[] =>
    targets.map((target) => ({
      target,
      status: objectStatus(store.get(target.type, target.namespace, target.name)),
    }));

  return new Promise<HealthOutcome>((resolve) => {
    const unsubscribes: (() => void)[] = [];
    let timer: NodeJS.Timeout | undefined = undefined;
    let scheduled = false;
    let done = false;
    const finish = (outcome: HealthOutcome): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      for (const unsubscribe of unsubscribes) unsubscribe();
      options.signal?.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const check = (): void => {
      scheduled = false;
      if (done) return;
      const statuses = evaluate();
      const failed = statuses.filter((entry) => entry.status === 'Failed');
      if (failed.length > 0) {
        finish({ result: 'failed', message: `failed early due to stalled resources: ${describe(failed)}` });
      } else if (statuses.every((entry) => entry.status === 'Current')) {
        finish({ result: 'healthy' });
      }
    };
    const onAbort = (): void => finish({ result: 'aborted' });
    if (options.signal?.aborted) return finish({ result: 'aborted' });
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const wanted = new Set(
      targets.map((t) => `${t.type.namespaced ? (t.namespace ?? 'default') : ''}/${t.name}`),
    );
    for (const type of new Set(targets.map((target) => target.type))) {
      unsubscribes.push(
        store.watch(type, (event) => {
          const id = `${type.namespaced ? (event.object.metadata.namespace ?? 'default') : ''}/${event.object.metadata.name}`;
          if (!wanted.has(id) || scheduled || done) return;
          scheduled = true;
          queueMicrotask(check);
        }),
      );
    }
    timer = setTimeout(
      () => {
        if (done) return;
        const pending = evaluate().filter((entry) => entry.status !== 'Current');
        if (pending.length === 0) return finish({ result: 'healthy' });
        finish({ result: 'timeout', message: `timeout waiting for: ${describe(pending)}` });
      },
      Math.max(0, options.timeoutMs),
    );
    check();
  });
}
