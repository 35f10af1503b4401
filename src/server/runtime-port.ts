// What the HTTP server needs from the running bot: a port, so src/server never imports the
// composition root (workers/runtime.ts implements it; tests can pass anything that fits).
import type { IncidentStore } from '../pipeline/incident-record.ts';
import type { GitHubWebhookEvent } from './github-events.ts';

export interface InformerHealth {
  readonly lists: number;
  readonly lastEventAt: number;
}

export interface ServerRuntime {
  readonly detector?: {
    readonly stats: { readonly enqueued: number };
    informerStats(): Record<string, readonly InformerHealth[]>;
  };
  readonly incidents: Pick<IncidentStore, 'list'>;
  /** Wakes an incident waiting on its pull request (a webhook said it changed). */
  wake(incidentId: string): Promise<boolean>;
  /** A person merged a pull request Rewind was refused: the incident goes on to reconcile and verify. */
  followMerged(incidentId: string): Promise<boolean>;
  /** ChatOps: a comment carrying a `/rollback` command is queued (absent: comments only wake). */
  readonly chatops?: { acceptComment(event: GitHubWebhookEvent): Promise<void> };
}
