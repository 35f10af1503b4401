// The kubelet's readiness prober (pkg/kubelet/prober/worker.go) for the simulated Pods: a container
// with a readinessProbe is Running but not Ready until a probe succeeds. Probes start
// initialDelaySeconds after the container started and run every periodSeconds; the container turns
// Ready after successThreshold successes in a row and back to not Ready after failureThreshold
// failures in a row. Seconds are real seconds: the fields keep their meaning. A probe fails when
// the container's image matches a glob of the sandbox's probe-fail images, and succeeds otherwise.
// A container without a readinessProbe is Ready as soon as it runs, as on a real node.

/** Kubernetes' defaults for a Probe's timing fields (core/v1 SetDefaults_Probe). */
const DEFAULTS = { initialDelaySeconds: 0, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 };

export interface ReadinessProbeSpec {
  initialDelayMs: number;
  periodMs: number;
  successThreshold: number;
  failureThreshold: number;
}

function field(probe: Record<string, unknown>, name: keyof typeof DEFAULTS, min: number): number {
  const value = Number(probe[name]);
  return Number.isInteger(value) && value >= min ? value : DEFAULTS[name];
}

/** The readinessProbe of a container of a Pod spec, with Kubernetes' defaults; undefined without one. */
export function readinessProbeOf(container: unknown): ReadinessProbeSpec | undefined {
  const probe = (container as { readinessProbe?: unknown } | undefined)?.readinessProbe;
  if (typeof probe !== 'object' || probe === null || Array.isArray(probe)) return undefined;
  const fields = probe as Record<string, unknown>;
  return {
    initialDelayMs: field(fields, 'initialDelaySeconds', 0) * 1000,
    periodMs: field(fields, 'periodSeconds', 1) * 1000,
    // Kubernetes validates successThreshold to be 1 for liveness and startup probes only.
    successThreshold: field(fields, 'successThreshold', 1),
    failureThreshold: field(fields, 'failureThreshold', 1),
  };
}

/**
 * One container's probe results. The kubelet starts a readiness worker at Failure (not Ready) and
 * only changes its result once the same outcome came `threshold` times in a row.
 */
export class ReadinessWorker {
  private ready = false;
  private last: boolean | undefined;
  private run = 0;

  constructor(readonly spec: ReadinessProbeSpec) {}

  get isReady(): boolean {
    return this.ready;
  }

  /** Records one probe outcome; returns true when the container's readiness changed. */
  record(success: boolean): boolean {
    this.run = success === this.last ? this.run + 1 : 1;
    this.last = success;
    const threshold = success ? this.spec.successThreshold : this.spec.failureThreshold;
    if (this.run < threshold || this.ready === success) return false;
    this.ready = success;
    return true;
  }
}
