// The Kubernetes Event that says how an incident ended, on the app's own object (`kubectl describe`
// shows it next to the engine's events). The verifier writes its own for the outcomes it decides
// (RollbackConverged, RollbackFailed, RollbackNotConverged); every other end gets one here.
import { appLabel } from '../domain/app-ref.ts';
import { isTerminal } from '../domain/incident.ts';
import type { IncidentRecord } from './incident-record.ts';

export interface OutcomeEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

/** Reasons of Failed conditions the verifier records (and writes an Event for) itself. */
const VERIFIER_FAILURES = new Set(['VerifyTimeout', 'RolloutFailed']);

/** The Event for the record's current condition, or undefined when none is due (or the verifier writes it). */
export function outcomeEventFor(record: IncidentRecord): OutcomeEvent | undefined {
  const last = record.conditions.at(-1);
  if (!last || !isTerminal(last.type) || last.type === 'Converged') return undefined;
  if (last.type === 'Failed' && VERIFIER_FAILURES.has(last.reason)) return undefined;
  const what = `Rewind incident ${record.id} for ${appLabel(record.app)}`;
  const message = `${what}: ${last.type} (${last.reason}): ${last.message}`;
  switch (last.type) {
    case 'NeedsHuman':
      return { type: 'Warning', reason: 'RollbackNeedsHuman', message };
    case 'Failed':
      return { type: 'Warning', reason: 'RollbackGaveUp', message };
    case 'Superseded':
      return { type: 'Normal', reason: 'RollbackSuperseded', message };
    default:
      return { type: 'Normal', reason: 'RollbackIgnored', message };
  }
}
