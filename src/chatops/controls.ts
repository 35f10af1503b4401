// Pause, resume and cancel, whoever asks: a ChatOps command (service.ts words the answer in Markdown
// for its channel) or the command line (`rewind pause|resume|cancel`, plain text). Each returns what
// happened as data; the caller says it in its own medium.
import type { KubeObjectJson } from '../cluster/informer.ts';
import type { RewindConfig } from '../config/index.ts';
import type { AppRef } from '../domain/app-ref.ts';
import { IncidentChangedError, isRewindError } from '../domain/errors.ts';
import { type IncidentCondition, isTerminal } from '../domain/incident.ts';
import type { EngineCluster, EngineObjectRef } from '../engines/engine.ts';
import { engineFor } from '../engines/registry.ts';
import { PAUSED_ANNOTATION } from '../pipeline/durable-ledger.ts';
import type { IncidentRecord, IncidentStore } from '../pipeline/incident-record.ts';
import { IncidentRecorder } from '../pipeline/incident-recorder.ts';
import { PAUSED_BY_ANNOTATION, globalPauseRef } from '../pipeline/pause-switch.ts';
import type { Clock, Logger } from '../pipeline/ports.ts';
import { writeGlobalPause } from './global-pause.ts';

export type ControlCluster = Pick<EngineCluster, 'get' | 'annotate'> & {
  create(object: KubeObjectJson): Promise<KubeObjectJson>;
};

/** The app's object in the cluster, or undefined (absent, or not an app reference Rewind knows). */
export async function appObject(
  cluster: Pick<EngineCluster, 'get'>,
  app: AppRef,
): Promise<KubeObjectJson | undefined> {
  try {
    return await cluster.get(engineFor(app).ref(app));
  } catch (error) {
    if (isRewindError(error)) return undefined;
    throw error;
  }
}

export type PauseOutcome =
  | { readonly kind: 'no-such-app' }
  | { readonly kind: 'app' }
  | { readonly kind: 'every-app'; readonly configMap: EngineObjectRef };

/**
 * Pauses automatic rollbacks (`by` set: who paused, where and why) or resumes them (`by` null): of one
 * app (the annotation on its Kustomization or Application), or of every app (the ConfigMap
 * chatops.pauseConfigMap). Resuming every app leaves apps paused one by one paused.
 */
export async function setPaused(
  deps: { readonly cluster: ControlCluster; readonly config: Pick<RewindConfig, 'chatops'> },
  app: AppRef | undefined,
  by: string | null,
): Promise<PauseOutcome> {
  const annotations =
    by === null
      ? { [PAUSED_ANNOTATION]: null, [PAUSED_BY_ANNOTATION]: null }
      : { [PAUSED_ANNOTATION]: 'true', [PAUSED_BY_ANNOTATION]: by };
  if (app) {
    if (!(await appObject(deps.cluster, app))) return { kind: 'no-such-app' };
    await deps.cluster.annotate(engineFor(app).ref(app), annotations);
    return { kind: 'app' };
  }
  await writeGlobalPause(deps.cluster, deps.config, annotations);
  return { kind: 'every-app', configMap: globalPauseRef(deps.config) };
}

export interface CancelDeps {
  readonly incidents: IncidentStore;
  readonly clock: Clock;
  readonly log: Logger;
  /** Metrics, notifications and outcome Events of the cancel (see RecorderDeps.onTransition). */
  readonly onTransition?: (record: IncidentRecord) => Promise<void>;
}

export type CancelOutcome =
  | { readonly kind: 'no-such-incident' }
  /** It had already ended (`last` says how). */
  | { readonly kind: 'ended'; readonly record: IncidentRecord; readonly last: IncidentCondition }
  /** Its revert is pushed (or a pull request is open): too late to cancel. */
  | { readonly kind: 'pushed'; readonly record: IncidentRecord; readonly last: IncidentCondition }
  /** It moved on while being cancelled. */
  | { readonly kind: 'moved'; readonly record: IncidentRecord }
  | { readonly kind: 'cancelled'; readonly record: IncidentRecord };

/** Stops an incident that has not pushed its revert yet: Ignored/Cancelled, `by` recorded. */
export async function cancelIncident(
  deps: CancelDeps,
  incidentId: string,
  by: string,
): Promise<CancelOutcome> {
  const record = await deps.incidents.get(incidentId);
  if (!record) return { kind: 'no-such-incident' };
  const last = record.conditions.at(-1)!;
  if (isTerminal(last.type)) return { kind: 'ended', record, last };
  if (!['Detected', 'Located'].includes(last.type) || record.details.revert)
    return { kind: 'pushed', record, last };
  const recorder = new IncidentRecorder(record, deps);
  try {
    await recorder.details({ cancelledBy: by });
    await recorder.to('Ignored', 'Cancelled', `Cancelled by ${by}.`);
  } catch (error) {
    if (error instanceof IncidentChangedError) return { kind: 'moved', record };
    throw error;
  }
  return { kind: 'cancelled', record };
}
