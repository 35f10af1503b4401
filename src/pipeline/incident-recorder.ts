// Records an incident's progress: every condition and detail change is saved at once (before the
// next side effect), logged with the stage timings, and idempotent when re-recorded. Saves are
// compare-and-set: a recorder whose copy went stale (another worker wrote the incident since) throws
// IncidentChangedError instead of writing an older state over it, e.g. over a Converged.
import {
  type ConditionType,
  PROGRESS_CONDITIONS,
  currentCondition,
  isTerminal,
  stageTimings,
  transition,
} from '../domain/incident.ts';
import type { CommitSha } from '../domain/commit-sha.ts';
import { IncidentChangedError, redact } from '../domain/errors.ts';
import { engineFor, isSupportedEngine } from '../engines/registry.ts';
import type { IncidentDetails, IncidentRecord, IncidentStore } from './incident-record.ts';
import type { Clock, Logger } from './ports.ts';

export type StopCondition = 'Failed' | 'NeedsHuman' | 'Superseded' | 'Ignored';

export interface RecorderDeps {
  readonly incidents: IncidentStore;
  readonly clock: Clock;
  readonly log: Logger;
  /**
   * Called once a new condition is saved (and by the rollback job when it creates an incident):
   * the one place notifications and outcome Events hang off. Must be bounded; its errors are logged.
   */
  readonly onTransition?: (record: IncidentRecord) => Promise<void>;
}

/** Tells the transition hook, if any; a failing hook never fails the incident's job. */
export async function announceTransition(record: IncidentRecord, deps: RecorderDeps): Promise<void> {
  if (!deps.onTransition) return;
  try {
    await deps.onTransition(record);
  } catch (error) {
    deps.log.warn({ incident: record.id, err: redact(String(error)) }, 'transition hook failed');
  }
}

export class IncidentRecorder {
  constructor(
    public record: IncidentRecord,
    private readonly deps: RecorderDeps,
  ) {}

  get condition(): ConditionType {
    return currentCondition(this.record).type;
  }

  async details(update: Partial<IncidentDetails>): Promise<void> {
    this.record = {
      ...this.record,
      details: { ...this.record.details, ...update },
      updatedAt: this.deps.clock.now().toISOString(),
    };
    await this.save();
  }

  private async save(): Promise<void> {
    const outcome = await this.deps.incidents.save(this.record);
    if (outcome.kind === 'conflict') {
      throw new IncidentChangedError(this.record.id, currentCondition(outcome.current).type);
    }
    this.record = outcome.record;
  }

  /**
   * Records a condition (idempotent: re-recording the current one, or a progress condition the
   * incident already passed, is a no-op, so a job retried after a crash can replay its steps).
   */
  async to(type: ConditionType, reason: string, message: string, culprit?: CommitSha): Promise<void> {
    if (
      (PROGRESS_CONDITIONS as readonly string[]).includes(type) &&
      this.record.conditions.some((c) => c.type === type)
    )
      return;
    // Whatever ends an incident while Rewind holds the engine must say so, and how to undo it.
    const app = this.record.app;
    const note =
      isTerminal(type) && type !== 'Converged' && this.record.details.hold && isSupportedEngine(app.engine)
        ? ` ${engineFor(app).releaseHint(app)}`
        : '';
    const result = transition(this.record, {
      type,
      reason,
      message: message + note,
      at: this.deps.clock.now(),
      ...(culprit ? { culprit } : {}),
    });
    if (!result.ok) throw result.error;
    if (!result.changed) return;
    this.record = { ...this.record, ...result.incident, updatedAt: this.deps.clock.now().toISOString() };
    await this.save();
    this.deps.log.info(
      { incident: this.record.id, condition: type, reason, timings: stageTimings(this.record) },
      message,
    );
    await announceTransition(this.record, this.deps);
  }

  async stop(
    type: StopCondition,
    reason: string,
    message: string,
  ): Promise<{ kind: 'stopped'; condition: StopCondition; reason: string }> {
    await this.to(type, reason, message);
    return { kind: 'stopped', condition: type, reason };
  }
}
