// v1 Events as Kubernetes' controllers write them, for every sandbox controller (Deployment and
// ReplicaSet controllers, the Flux syncer): repeats bump `count`, and the number kept is bounded.
import { EVENT, apiVersionOf } from './resources.ts';
import type { KubeObject, ObjectStore } from './store.ts';

/** Caps the Events one recorder keeps, deleting its oldest: enough for `kubectl describe`. */
const MAX_RECORDED_EVENTS = 3000;

/** v1 Events as kube-controller-manager's recorders write them; repeats bump `count`. */
export class EventRecorder {
  private readonly recorded = new Map<string, { namespace: string; name: string }>();
  private sequence = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly component: string,
  ) {}

  normal(object: KubeObject, reason: string, message: string, annotations?: Record<string, string>): void {
    this.record(object, 'Normal', reason, message, annotations);
  }

  warning(object: KubeObject, reason: string, message: string, annotations?: Record<string, string>): void {
    this.record(object, 'Warning', reason, message, annotations);
  }

  record(
    object: KubeObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    annotations: Record<string, string> = {},
  ): void {
    const namespace = object.metadata.namespace ?? 'default';
    const identity = `${object.metadata.uid}\u0000${type}\u0000${reason}\u0000${message}`;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const previous = this.recorded.get(identity);
    if (previous) {
      const updated = this.store.mutate(EVENT, previous.namespace, previous.name, (event) => {
        event['count'] = (Number(event['count']) || 1) + 1;
        event['lastTimestamp'] = now;
      });
      if (updated) {
        this.recorded.delete(identity);
        this.recorded.set(identity, previous);
        return;
      }
    }
    const stamp = (BigInt(Date.now()) * 1_000_000n + BigInt(this.sequence++ % 1_000_000)).toString(16);
    const name = `${object.metadata.name}.${stamp}`;
    try {
      this.store.create(EVENT, {
        apiVersion: apiVersionOf(EVENT),
        kind: 'Event',
        metadata: { name, namespace, ...(Object.keys(annotations).length ? { annotations } : {}) },
        involvedObject: {
          apiVersion: object.apiVersion,
          kind: object.kind,
          name: object.metadata.name,
          namespace,
          uid: object.metadata.uid,
          resourceVersion: object.metadata.resourceVersion,
        },
        reason,
        message,
        source: { component: this.component },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
        type,
        eventTime: null,
        reportingComponent: this.component,
        reportingInstance: '',
      });
    } catch {
      return; // Events are best effort, as in Kubernetes.
    }
    this.recorded.set(identity, { namespace, name });
    while (this.recorded.size > MAX_RECORDED_EVENTS) {
      const [oldest, where] = this.recorded.entries().next().value!;
      this.recorded.delete(oldest);
      try {
        this.store.delete(EVENT, where.namespace, where.name);
      } catch {
        // Someone deleted it already.
      }
    }
  }
}
