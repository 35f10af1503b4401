// Queue names, job payloads and idempotency keys. Job data carries identifiers only: no secrets,
// no tokens, no PR bodies (validated on both ends).
import { z } from 'zod';

export const QUEUE_NAMES = {
  /** detect -> locate -> revert -> push -> reconcile request, one job per incident. */
  rollback: 'rollback',
  /** engine applied the revert and Deployments converged back; one job per incident. */
  verify: 'verify',
  /** A `/rollback` comment: acknowledge, authorize, act, reply, then report the outcome. */
  chatops: 'chatops',
} as const;

const sha = z.string().regex(/^[0-9a-f]{40}$/, 'a 40-hex commit SHA');

export const appRefSchema = z.strictObject({
  engine: z.enum(['flux-kustomization', 'flux-helmrelease', 'argo-application']),
  namespace: z.string().min(1).max(63),
  name: z.string().min(1).max(253),
});

export const rollbackJobSchema = z.strictObject({
  incidentId: z.string().regex(/^inc-[a-z0-9.-]+-[0-9a-f]{12}$/),
  app: appRefSchema,
  badRevision: sha,
  goodRevision: sha.optional(),
  /** What noticed the failure. */
  trigger: z.enum(['engine', 'pods', 'alert', 'manual', 'chatops']),
  reason: z.string().max(200),
  message: z.string().max(2000),
  failingSince: z.string().optional(),
  /** The bad revision is the head of the ref the engine failed at, read by Rewind (see FailureSignal). */
  badFromRefHead: z.boolean().optional(),
  detectedAt: z.string(),
  /** Manual rollbacks (`rewind rollback`, ChatOps) skip the "still failing?" re-check. */
  manual: z.boolean().default(false),
  dryRun: z.boolean().default(false),
  /** Who asked, where and why (ChatOps: login, comment URL or Slack channel, reason), one line. */
  requestedBy: z.string().max(600).optional(),
  /** ChatOps rollbacks count against the app's budget unless an admin overrode it. */
  overrideBudget: z.boolean().optional(),
});
export type RollbackJob = z.output<typeof rollbackJobSchema>;

export const verifyJobSchema = z.strictObject({
  incidentId: z.string().regex(/^inc-[a-z0-9.-]+-[0-9a-f]{12}$/),
  revertSha: sha,
  deadline: z.string(),
});
export type VerifyJob = z.output<typeof verifyJobSchema>;

/** A `/rollback` comment on GitHub: identifiers and the one command line, never the whole comment. */
export const githubCommentJobSchema = z.strictObject({
  owner: z.string().min(1).max(100),
  repo: z.string().min(1).max(100),
  issueNumber: z.number().int().positive(),
  commentId: z.number().int().positive(),
  commentUrl: z.string().max(2000),
  login: z.string().min(1).max(100),
  line: z.string().max(1001),
});
export type GitHubCommentJob = z.output<typeof githubCommentJobSchema>;

/** One job per comment, whatever the deliveries: the comment id is the request's identity. */
export function githubCommentJobId(job: Pick<GitHubCommentJob, 'owner' | 'repo' | 'commentId'>): string {
  return `gh-${job.owner}-${job.repo}-${job.commentId}`.replace(/[^A-Za-z0-9._-]/g, '-');
}

/** BullMQ job ids may not contain ':'; incident ids never do. */
export function rollbackJobId(incidentId: string): string {
  return `rollback-${incidentId}`;
}

export function verifyJobId(incidentId: string): string {
  return `verify-${incidentId}`;
}

const WEEK_SECONDS = 7 * 24 * 3600;

/** Options for every job Rewind enqueues: the id makes the add idempotent; failures back off. */
export function jobOptions(jobId: string, delayMs = 0) {
  return {
    jobId,
    delay: delayMs,
    attempts: 8,
    backoff: { type: 'exponential' as const, delay: 1000 },
    removeOnComplete: { age: WEEK_SECONDS },
    removeOnFail: { age: WEEK_SECONDS },
  };
}
