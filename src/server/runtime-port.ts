// What the HTTP server needs from the running bot: a port, so src/server never imports the
// composition root (workers/runtime.ts implements it; tests can pass anything that fits).
import type { IncidentStore } from '../pipeline/incident-record.ts';
import type { GitHubWebhookEvent } from './github-events.ts';
import type { RewindMetrics } from './metrics.ts';

/** How current one informer's cache is (ResilientInformer's stats, with what it watches). */
export interface InformerHealth {
  /** What it watches: a workload kind (`deployments`) or an engine id for its app objects. */
  readonly resource: string;
  /** '' for all namespaces. */
  readonly namespace: string;
  readonly lists: number;
  /** Last watch event or bookmark (epoch ms; 0: none yet). */
  readonly lastEventAt: number;
  /** Last proof the cache is current: event, bookmark, successful list or accepted watch (epoch ms). */
  readonly lastSyncAt: number;
  /** The last list or watch reached the API server. */
  readonly connected: boolean;
}

/** What the probes ask; health.ts bounds each check in time and caches its answer briefly. */
export interface ProbeChecks {
  /** Liveness fails when an informer has not synced for longer than this. */
  readonly wedgedAfterMs: number;
  /** Resolves when Redis answers a PING; rejects saying why. */
  pingRedis(signal: AbortSignal): Promise<void>;
  /** Resolves when the Kubernetes API server says it is ready; rejects saying why. */
  pingApiServer(signal: AbortSignal): Promise<void>;
}

export interface ServerRuntime {
  /** Absent in a process that runs no detector (other roles, or not the leader). */
  readonly detector?: { informerStats(): readonly InformerHealth[] } | undefined;
  readonly probes: ProbeChecks;
  readonly metrics: RewindMetrics;
  readonly incidents: Pick<IncidentStore, 'list' | 'get'>;
  /** Wakes an incident waiting on its pull request (a webhook said it changed). */
  wake(incidentId: string): Promise<boolean>;
  /** A person merged a pull request Rewind was refused: the incident goes on to reconcile and verify. */
  followMerged(incidentId: string): Promise<boolean>;
  /** ChatOps: a comment carrying a `/rollback` command is queued (absent: comments only wake). */
  readonly chatops?: { acceptComment(event: GitHubWebhookEvent): Promise<void> };
}
