// Early failure signals from Pods, so Rewind does not wait for the engine's health-check timeout
// (Flux spec.timeout, Argo CD's 600 s progress deadline) when the new Pods are already failing.
import type { KubeObjectJson } from '../cluster/informer.ts';

/** Waiting reasons that do not heal by themselves. */
export const FAILING_WAITING_REASONS = new Set([
  'ImagePullBackOff',
  'ErrImagePull',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
  'InvalidImageName',
  'RunContainerError',
]);

export interface PodFailure {
  readonly pod: string;
  readonly container: string;
  readonly reason: string;
  readonly message: string;
  readonly restarts: number;
}

interface ContainerStatus {
  name?: string;
  restartCount?: number;
  state?: {
    waiting?: { reason?: string; message?: string };
    terminated?: { reason?: string; exitCode?: number };
  };
  lastState?: { terminated?: { reason?: string; exitCode?: number } };
}

/** Why this Pod is failing, or undefined when it is fine or still starting normally. */
export function podFailure(pod: KubeObjectJson, restartThreshold: number): PodFailure | undefined {
  const statuses = [
    ...((pod.status?.initContainerStatuses ?? []) as ContainerStatus[]),
    ...((pod.status?.containerStatuses ?? []) as ContainerStatus[]),
  ];
  for (const status of statuses) {
    const waiting = status.state?.waiting;
    const restarts = status.restartCount ?? 0;
    const oomKilled = status.lastState?.terminated?.reason === 'OOMKilled';
    if (
      (waiting?.reason && FAILING_WAITING_REASONS.has(waiting.reason)) ||
      restarts >= restartThreshold ||
      oomKilled
    ) {
      return {
        pod: pod.metadata?.name ?? '',
        container: status.name ?? '',
        reason: waiting?.reason ?? (oomKilled ? 'OOMKilled' : 'Restarting'),
        message: waiting?.message ?? `${restarts} restarts`,
        restarts,
      };
    }
  }
  return undefined;
}
