// How long a deleted Pod stays Terminating on the simulated kubelet: each running container runs
// its preStop hook, then gets SIGTERM, and is killed when the grace period ends. The simulated
// applications exit on SIGTERM at once, so the time is the longest preStop hook, capped by the
// grace period; a Pod without one goes right away, whatever terminationGracePeriodSeconds says
// (30 by default, as the API server writes it: the grace period is a bound, not a wait).
import type { KubeObject } from './store.ts';

/**
 * The duration of a container's preStop hook: `lifecycle.preStop.sleep.seconds`, or an exec
 * command that sleeps (`sleep 5`, `sh -c "sleep 5 && nginx -s quit"`). httpGet and other
 * commands are taken as instant.
 */
export function preStopSeconds(container: any): number {
  const preStop = container?.lifecycle?.preStop;
  if (!preStop || typeof preStop !== 'object') return 0;
  const sleep = Number(preStop.sleep?.seconds);
  if (Number.isFinite(sleep) && sleep > 0) return sleep;
  const command: unknown[] = Array.isArray(preStop.exec?.command) ? preStop.exec.command : [];
  const match = command
    .map(String)
    .join(' ')
    .match(/(?:^|[\s;&|(])sleep\s+(\d+(?:\.\d+)?)s?\b/);
  return match ? Number(match[1]) : 0;
}

/** Milliseconds from the deletion to the kubelet's final delete (grace period 0). */
export function terminationDelayMs(pod: KubeObject): number {
  const graceMs = Number(pod.metadata['deletionGracePeriodSeconds'] ?? 0) * 1000;
  const running = new Set(
    ((pod.status?.containerStatuses ?? []) as any[])
      .filter((status) => status?.state?.running)
      .map((status) => String(status.name)),
  );
  const containers: any[] = Array.isArray(pod.spec?.containers) ? pod.spec.containers : [];
  // Hooks run only in containers that are running; the others have nothing to stop.
  const hookMs = Math.max(
    0,
    ...containers.filter((c) => running.has(String(c?.name))).map((c) => preStopSeconds(c) * 1000),
  );
  return Math.min(hookMs, graceMs);
}

/** Whether the hook outlived the grace period (the containers were killed: exit code 137). */
export function killedAtGrace(pod: KubeObject): boolean {
  const graceMs = Number(pod.metadata['deletionGracePeriodSeconds'] ?? 0) * 1000;
  const containers: any[] = Array.isArray(pod.spec?.containers) ? pod.spec.containers : [];
  return containers.some((c) => preStopSeconds(c) * 1000 > graceMs);
}
