// The GitHub deliveries Rewind reads, checked at the edge: a signed payload of any other shape is
// refused (422) before it is deduplicated or handed over, so the consumer only ever sees the typed
// fields below. Only what Rewind reads is required; GitHub's other fields are dropped unread.
import { z } from 'zod';
import { MAX_MARKED_TEXT_LENGTH, parseRollbackMarkers } from '../domain/branch.ts';
import type { Logger } from '../pipeline/ports.ts';

// Bodies and comments longer than GitHub can store did not come from GitHub (see MAX_MARKED_TEXT_LENGTH).
const text = z.string().max(MAX_MARKED_TEXT_LENGTH);
const action = z.string().max(100);
const issueNumber = z.number().int().positive();

const pullRequestPayload = z.object({
  action,
  pull_request: z.object({
    number: issueNumber,
    body: text.nullable(),
    merged: z.boolean().nullish(),
  }),
});

const issueCommentPayload = z.object({
  action,
  issue: z.object({
    number: issueNumber,
    body: text.nullable(),
    // Present when the issue is a pull request; its fields are not read.
    pull_request: z.object({}).optional(),
  }),
  comment: z.object({
    body: text,
    // Read by ChatOps (src/chatops/github-comments.ts); optional so a wake-up needs only the body.
    id: z.number().int().positive().optional(),
    html_url: z.string().max(2_000).optional(),
    user: z.object({ login: z.string().min(1).max(100), type: z.string().max(50).optional() }).optional(),
  }),
  repository: z
    .object({ name: z.string().min(1).max(100), owner: z.object({ login: z.string().min(1).max(100) }) })
    .optional(),
});

const pingPayload = z.object({ zen: z.string().max(1_000), hook_id: z.number().int() });

export type PullRequestPayload = z.infer<typeof pullRequestPayload>;
export type IssueCommentPayload = z.infer<typeof issueCommentPayload>;

/** A delivery Rewind acts on, after its payload passed the schema of its event. */
export type GitHubWebhookEvent =
  | { readonly name: 'pull_request'; readonly deliveryId: string; readonly payload: PullRequestPayload }
  | { readonly name: 'issue_comment'; readonly deliveryId: string; readonly payload: IssueCommentPayload };

export type ParsedDelivery =
  | { readonly kind: 'event'; readonly event: GitHubWebhookEvent }
  /** GitHub's hello when a webhook is created: answered, nothing to do. */
  | { readonly kind: 'ping' }
  /** An event Rewind does not subscribe to: acknowledged so GitHub does not report a failure. */
  | { readonly kind: 'ignored' }
  /** `problems`: where the payload differs from the schema (paths and expectations, no values). */
  | { readonly kind: 'invalid'; readonly problems: readonly string[] };

const MAX_PROBLEMS = 10;

/** Where a payload differs from the schema (paths and expectations, never values). */
export function problemsOf(error: z.ZodError): string[] {
  return error.issues
    .slice(0, MAX_PROBLEMS)
    .map((issue) => `${issue.path.map(String).join('.') || '(payload)'}: ${issue.message}`);
}

/** Checks a parsed JSON payload against the schema of its `X-GitHub-Event`. */
export function parseGitHubDelivery(name: string, deliveryId: string, payload: unknown): ParsedDelivery {
  switch (name) {
    case 'pull_request': {
      const parsed = pullRequestPayload.safeParse(payload);
      return parsed.success
        ? { kind: 'event', event: { name, deliveryId, payload: parsed.data } }
        : { kind: 'invalid', problems: problemsOf(parsed.error) };
    }
    case 'issue_comment': {
      const parsed = issueCommentPayload.safeParse(payload);
      return parsed.success
        ? { kind: 'event', event: { name, deliveryId, payload: parsed.data } }
        : { kind: 'invalid', problems: problemsOf(parsed.error) };
    }
    case 'ping': {
      const parsed = pingPayload.safeParse(payload);
      return parsed.success ? { kind: 'ping' } : { kind: 'invalid', problems: problemsOf(parsed.error) };
    }
    default:
      return { kind: 'ignored' };
  }
}

/** The part of the runtime a webhook may touch: waking incidents, never running them. */
export interface IncidentWaker {
  wake(incidentId: string): Promise<boolean>;
  followMerged(incidentId: string): Promise<boolean>;
}

/**
 * A pull request (or a comment on one) that carries Rewind's marker wakes the incident it belongs
 * to; the merge of a PR Rewind was refused lets that incident go on.
 */
export async function wakeIncidentsFor(
  event: GitHubWebhookEvent,
  incidents: IncidentWaker,
  log: Logger,
): Promise<void> {
  const body = event.name === 'pull_request' ? event.payload.pull_request.body : event.payload.issue.body;
  const merged = event.name === 'pull_request' && event.payload.pull_request.merged === true;
  for (const marker of parseRollbackMarkers(body ?? '')) {
    const woken =
      (merged && (await incidents.followMerged(marker.incident))) || (await incidents.wake(marker.incident));
    log.info({ incident: marker.incident, event: event.name, woken }, 'webhook for an incident pull request');
  }
}
