// Argo CD's rules for Applications as pure functions: the source of an app or operation, when an
// automated sync runs (appcontroller.go autoSync), how an operation retries, and how a successful
// sync enters status.history (state.go persistRevisionHistory).
import type { AppSource, Comparison } from './argo-compare.ts';
import { kubeTime } from './conditions.ts';
import { durationOr } from './flux-duration.ts';
import type { KubeObject } from './store.ts';

/** spec.revisionHistoryLimit default (application_defaults.go RevisionHistoryLimit). */
const REVISION_HISTORY_LIMIT = 10;

export interface ApplicationCondition {
  type: string;
  message: string;
  lastTransitionTime: string;
}

/** Sources equal ignoring targetRevision (alreadyAttemptedSync compares the resolved SHA instead). */
function sameSource(a: unknown, b: AppSource): boolean {
  const source = (a ?? {}) as Record<string, unknown>;
  return source['repoURL'] === b.repoURL && (source['path'] ?? '') === b.path;
}

/** What a refresh compared against: the resolved commit of each source (one unless multi-source). */
export interface Target {
  sources: AppSource[];
  revisions: string[];
  multi: boolean;
}

/** Whether a sync result is for this target (same revisions and sources). */
function attemptedAt(syncResult: any, target: Target): boolean {
  if (!target.multi) {
    return syncResult?.revision === target.revisions[0] && sameSource(syncResult.source, target.sources[0]!);
  }
  const revisions: unknown = syncResult?.revisions;
  const sources: unknown = syncResult?.sources;
  return (
    Array.isArray(revisions) &&
    revisions.join(',') === target.revisions.join(',') &&
    Array.isArray(sources) &&
    sources.length === target.sources.length &&
    target.sources.every((source, i) => sameSource(sources[i], source))
  );
}

/** The operation's (and history's) revision fields: `revision` + `source`, or `revisions` + `sources`. */
export function revisionFields(target: Target, specSources: unknown): Record<string, unknown> {
  return target.multi
    ? { revisions: [...target.revisions], sources: structuredClone(specSources ?? []) }
    : { revision: target.revisions[0], source: structuredClone(specSources ?? {}) };
}

/** Retry backoff of an operation: duration * factor^(attempt-1), capped at maxDuration. */
export function retryDelayMs(retry: any, attempt: number): number {
  const base = durationOr(retry?.backoff?.duration, 5_000);
  const factor = typeof retry?.backoff?.factor === 'number' ? retry.backoff.factor : 2;
  const max = durationOr(retry?.backoff?.maxDuration, 180_000);
  return Math.min(base * factor ** (attempt - 1), max);
}

/**
 * appcontroller.go autoSync: only when automated sync is enabled, no operation is in progress
 * and the app is OutOfSync; one attempt per revision and source (a failed one is not retried and
 * leaves a SyncError condition); a successful one is repeated only to self-heal, no sooner than
 * selfHealTimeout after it finished.
 */
export function autoSyncDecision(
  app: KubeObject,
  comparison: Comparison,
  target: Target,
  selfHealTimeoutMs: number,
): { operation?: Record<string, unknown>; condition?: ApplicationCondition; selfHealInMs?: number } {
  const policy = app.spec?.syncPolicy ?? {};
  const automated = policy.automated;
  if (!automated || automated.enabled === false) return {};
  const state = app.status?.operationState;
  if (app['operation'] || state?.phase === 'Running') return {};
  if (comparison.sync !== 'OutOfSync') return {};
  const outOfSync = comparison.resources.filter((r) => r.status !== 'Synced');
  // "Skipping auto-sync: need to prune extra resources only but automated prune is disabled"
  if (automated.prune !== true && outOfSync.every((r) => r.requiresPruning)) return {};
  const attempted = attemptedAt(state?.syncResult, target) ? state : undefined;
  const sha = target.revisions.join(',');
  if (attempted) {
    if (attempted.phase !== 'Succeeded') {
      return {
        condition: {
          type: 'SyncError',
          message: `Failed last sync attempt to ${sha}: ${attempted.message ?? ''}`,
          lastTransitionTime: kubeTime(),
        },
      };
    }
    if (automated.selfHeal !== true) return {};
    const finishedAt = Date.parse(attempted.finishedAt ?? '');
    const remaining = Number.isNaN(finishedAt)
      ? selfHealTimeoutMs
      : selfHealTimeoutMs - (Date.now() - finishedAt);
    if (remaining > 0) return { selfHealInMs: remaining };
  }
  return {
    operation: {
      initiatedBy: { automated: true },
      ...(policy.retry ? { retry: structuredClone(policy.retry) } : {}),
      sync: {
        ...(target.multi ? { revisions: [...target.revisions] } : { revision: sha }),
        prune: automated.prune === true,
      },
    },
  };
}

/** persistRevisionHistory: id = last id + 1, truncated to spec.revisionHistoryLimit (default 10). */
export function appendHistory(
  app: KubeObject,
  history: unknown,
  entry: {
    /** `revision` + `source`, or (multi-source) `revisions` + `sources`. */
    revisions: Record<string, unknown>;
    deployStartedAt: string;
    deployedAt: string;
    initiatedBy: Record<string, unknown>;
  },
): unknown[] {
  const entries: any[] = Array.isArray(history) ? structuredClone(history) : [];
  const lastId: number = entries.length > 0 ? Number(entries[entries.length - 1].id) || 0 : -1;
  entries.push({
    deployStartedAt: entry.deployStartedAt,
    deployedAt: entry.deployedAt,
    id: lastId + 1,
    initiatedBy: entry.initiatedBy,
    ...entry.revisions,
  });
  const limit =
    typeof app.spec?.revisionHistoryLimit === 'number'
      ? app.spec.revisionHistoryLimit
      : REVISION_HISTORY_LIMIT;
  return entries.slice(Math.max(0, entries.length - limit));
}
