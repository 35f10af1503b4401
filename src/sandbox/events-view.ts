// events.k8s.io/v1 Events are another view of the core v1 Events in the store, converted field by
// field as kube-apiserver's conversion does (k8s.io/kubernetes pkg/apis/events/v1/conversion.go):
// involvedObject <-> regarding, message <-> note, source/firstTimestamp/lastTimestamp/count <->
// deprecatedSource/deprecatedFirstTimestamp/deprecatedLastTimestamp/deprecatedCount,
// reportingComponent <-> reportingController.
import type { KubeObject } from './store.ts';

/** How a served group-version shows objects stored as another kind. */
export interface ObjectView {
  readonly apiVersion: string;
  toStored(object: KubeObject): KubeObject;
  fromStored(object: KubeObject): KubeObject;
}

const RENAMED: readonly (readonly [core: string, events: string])[] = [
  ['involvedObject', 'regarding'],
  ['message', 'note'],
  ['source', 'deprecatedSource'],
  ['firstTimestamp', 'deprecatedFirstTimestamp'],
  ['lastTimestamp', 'deprecatedLastTimestamp'],
  ['count', 'deprecatedCount'],
  ['reportingComponent', 'reportingController'],
];

function rename(object: KubeObject, pairs: readonly (readonly [string, string])[]): KubeObject {
  const out: KubeObject = { ...object };
  for (const [from, to] of pairs) {
    delete out[from];
    if (object[from] !== undefined && object[from] !== null) out[to] = object[from];
  }
  return out;
}

export const EVENTS_V1_VIEW: ObjectView = {
  apiVersion: 'events.k8s.io/v1',
  toStored(object) {
    const core = rename(
      object,
      RENAMED.map(([coreName, eventsName]) => [eventsName, coreName] as const),
    );
    return { ...core, apiVersion: 'v1', kind: 'Event' };
  },
  fromStored(object) {
    const events = rename(object, RENAMED);
    return { ...events, apiVersion: 'events.k8s.io/v1', kind: 'Event' };
  },
};
