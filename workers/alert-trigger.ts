// An alert that names an app (Alertmanager, a Flux event) joins the cluster detector's incident path:
// the engine says which revision is failing and which was good, the incident is opened the same way
// (same id, same record, same rollback job), and the alert is kept on it as evidence. An alert is a
// confirmed failure (Alertmanager's `for:` and Flux's own retries filtered flapping), so the job runs
// at once, also when the detector already opened the incident and is waiting out its grace period.
import type { Queue } from 'bullmq';
import type { RewindConfig } from '../src/config/index.ts';
import { appKey } from '../src/domain/app-ref.ts';
import { incidentIdFor, isTerminal } from '../src/domain/incident.ts';
import { engineFor, isSupportedEngine } from '../src/engines/registry.ts';
import { type AlertOutcome, type RaiseAlert, withAlertEvidence } from '../src/pipeline/alert-evidence.ts';
import { alertedFailure, rollbackJobFor } from '../src/pipeline/detect.ts';
import type { IncidentStore } from '../src/pipeline/incident-record.ts';
import type { Clock, ClusterPort, Logger } from '../src/pipeline/ports.ts';
import type { RollbackJob } from '../src/queue/jobs.ts';
import { enqueueIncident, openIncidentId } from './incident-opening.ts';

export interface AlertTriggerDeps {
  readonly config: RewindConfig;
  readonly cluster: Pick<ClusterPort, 'get'>;
  readonly incidents: IncidentStore;
  readonly rollbackQueue: Queue<RollbackJob>;
  /** Runs an incident's delayed rollback job now (the runtime's wake). */
  readonly wake: (incidentId: string) => Promise<boolean>;
  readonly clock: Clock;
  readonly log: Logger;
}

/** Compare-and-set retries when the rollback job writes the record at the same moment. */
const EVIDENCE_WRITE_ATTEMPTS = 5;

export function alertTrigger(deps: AlertTriggerDeps): RaiseAlert {
  const log = deps.log.child({ component: 'alerts' });

  async function addEvidence(incidentId: string, evidence: Parameters<RaiseAlert>[1]): Promise<void> {
    for (let attempt = 0; attempt < EVIDENCE_WRITE_ATTEMPTS; attempt++) {
      const record = await deps.incidents.get(incidentId);
      if (!record) return;
      const saved = await deps.incidents.save({
        ...record,
        details: { ...record.details, alerts: withAlertEvidence(record.details.alerts, evidence) },
        updatedAt: deps.clock.now().toISOString(),
      });
      if (saved.kind === 'saved') return;
    }
    log.warn({ incident: incidentId }, 'alert evidence not recorded: the incident kept changing');
  }

  return async (app, evidence): Promise<AlertOutcome> => {
    if (!isSupportedEngine(app.engine))
      return {
        kind: 'ignored',
        reason: 'UnsupportedEngine',
        message: `Rewind does not drive ${app.engine} apps.`,
      };
    const engine = engineFor(app);
    const object = await deps.cluster.get(engine.ref(app));
    if (!object)
      return {
        kind: 'ignored',
        reason: 'UnknownApp',
        message: `No ${engine.noun} ${app.namespace}/${app.name} in the cluster.`,
      };
    const now = deps.clock.now();
    const signal = alertedFailure(
      app,
      object,
      { reason: evidence.name, message: `${evidence.source} alert: ${evidence.summary ?? evidence.name}` },
      now,
    );
    if ('ignored' in signal) {
      if (signal.revision) {
        // The detector may already be timing an incident for the revision in flight (its Pods fail):
        // the alert is kept there as evidence, but the incident waits out its grace period.
        const pending = await deps.incidents.get(incidentIdFor(app, signal.revision));
        const last = pending?.conditions.at(-1);
        if (last && !isTerminal(last.type)) {
          await addEvidence(pending!.id, evidence);
          return {
            kind: 'joined',
            incidentId: pending!.id,
            message: `Kept as evidence on incident ${pending!.id}; ${signal.message}`,
          };
        }
      }
      return { kind: 'ignored', reason: signal.ignored, message: signal.message };
    }
    if (await deps.incidents.isOwnCommit(signal.badRevision))
      return {
        kind: 'ignored',
        reason: 'OwnRevert',
        message: `${signal.badRevision.slice(0, 12)} is Rewind's own revert, still rolling out; its incident verifies it.`,
      };
    const incidentId = await openIncidentId(deps.incidents, signal, log);
    if (!incidentId)
      return {
        kind: 'ignored',
        reason: 'Flapping',
        message: 'The app keeps failing and recovering on this revision; a person should look.',
      };
    const existing = await deps.incidents.get(incidentId);
    const last = existing?.conditions.at(-1);
    if (existing && last && isTerminal(last.type))
      return {
        kind: 'ignored',
        reason: 'IncidentEnded',
        message: `Incident ${incidentId} for this revision already ended ${last.type} (${last.reason}).`,
      };
    if (existing) {
      await addEvidence(incidentId, evidence);
      const woken = await deps.wake(incidentId);
      log.info({ incident: incidentId, app: appKey(app), woken }, 'alert joined an open incident');
      return { kind: 'joined', incidentId, message: `Joined incident ${incidentId}.` };
    }
    await enqueueIncident(deps, rollbackJobFor({ ...signal, incidentId }, now), 0, now, {
      alerts: withAlertEvidence(undefined, evidence),
    });
    log.info({ incident: incidentId, app: appKey(app), alert: evidence.name }, 'alert opened an incident');
    return { kind: 'opened', incidentId, message: `Opened incident ${incidentId}.` };
  };
}
