// ChatOps in the running bot: the webhook hands `/rollback` comments over (one job per comment on
// the chatops queue, job id = comment), and a worker acknowledges, authorizes, acts and replies,
// then keeps looking at the incident the comment started ("check again later" as a delayed job)
// until it can say how it ended. Runs with the rollback role.
import { DelayedError, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ChatCommandExecutor } from '../src/chatops/executor.ts';
import { ChatOpsService } from '../src/chatops/service.ts';
import { slackExecutor } from '../src/chatops/slack-executor.ts';
import {
  commentCommandFrom,
  handleCommentCommand,
  reportOutcome,
  requestIdOf,
} from '../src/chatops/github-comments.ts';
import type { KubeCluster } from '../src/cluster/kube.ts';
import type { RewindConfig } from '../src/config/index.ts';
import type { GitHubForge } from '../src/forge/github.ts';
import type { RollbackGit } from '../src/git/rollback-git.ts';
import type { Clock, Logger } from '../src/pipeline/ports.ts';
import { ChatOpsRequests } from '../src/queue/chatops-requests.ts';
import type { RedisIncidentStore } from '../src/queue/incident-store.ts';
import {
  type GitHubCommentJob,
  QUEUE_NAMES,
  type RollbackJob,
  githubCommentJobId,
  githubCommentJobSchema,
  jobOptions,
  rollbackJobId,
} from '../src/queue/jobs.ts';
import type { GitHubWebhookEvent } from '../src/server/github-events.ts';
import type { OnTransition } from '../src/notify/transition-announcer.ts';

export interface ChatOpsRuntimeDeps {
  readonly config: RewindConfig;
  readonly cluster: KubeCluster;
  readonly git: RollbackGit;
  readonly incidents: RedisIncidentStore;
  readonly rollbackQueue: Queue<RollbackJob>;
  /** GitHub clients (forge github): without them, comments are not read; Slack still works. */
  readonly clients: ((owner: string, repo: string) => GitHubForge) | undefined;
  readonly connection: () => Redis;
  readonly trustSource: (url: string) => string | undefined;
  readonly clock: Clock;
  readonly log: Logger;
  /** Notifications and outcome Events (see RecorderDeps.onTransition). */
  readonly onTransition?: OnTransition;
  /** Run the worker here (the rollback role); the queue side is always there for the webhook. */
  readonly work: boolean;
  readonly workerOptions: {
    prefix: string;
    lockDuration: number;
    stalledInterval: number;
    maxStalledCount: number;
  };
  /** How often the outcome of a started rollback is looked at (default 2 s). */
  readonly followIntervalMs?: number;
}

export interface ChatOpsRuntime {
  /** Enqueues the command of an `issue_comment` delivery; anything else is left alone. */
  acceptComment(event: GitHubWebhookEvent): Promise<void>;
  /** Runs commands from the Slack endpoint through the same service. */
  readonly slack: ChatCommandExecutor;
  close(): Promise<void>;
}

export function startChatOps(deps: ChatOpsRuntimeDeps): ChatOpsRuntime {
  const { config, log } = deps;
  const prefix = config.redis.prefix;
  const queue = new Queue<GitHubCommentJob>(QUEUE_NAMES.chatops, { connection: deps.connection(), prefix });
  const requests = new ChatOpsRequests(deps.connection(), prefix);
  const service = new ChatOpsService({
    config,
    cluster: deps.cluster,
    git: deps.git,
    incidents: deps.incidents,
    requests,
    enqueueRollback: async (job) => {
      await deps.rollbackQueue.add(QUEUE_NAMES.rollback, job, jobOptions(rollbackJobId(job.incidentId)));
    },
    trustSource: deps.trustSource,
    ...(deps.onTransition ? { onTransition: deps.onTransition } : {}),
    clock: deps.clock,
    log: log.child({ role: 'chatops' }),
  });
  // Follow a started rollback as long as it may take to verify, and a little more.
  const followMs = config.policy.verifyTimeoutMs + 10 * 60_000;
  const interval = deps.followIntervalMs ?? 2000;
  const only = config.forge.type === 'github' ? { owner: config.forge.owner, repo: config.forge.repo } : {};

  const clients = deps.clients;
  const worker =
    deps.work && clients
      ? new Worker<GitHubCommentJob>(
          QUEUE_NAMES.chatops,
          async (job, token) => {
            const data = githubCommentJobSchema.parse(job.data);
            const forge = clients(data.owner, data.repo);
            const outcome = await handleCommentCommand(data, {
              forge,
              service,
              config: config.chatops,
              requests,
              log,
            });
            const incidentId = outcome.follow ?? (await requests.incidentFor(requestIdOf(data)));
            if (!incidentId) return outcome.kind;
            const giveUp = Date.now() - job.timestamp > followMs;
            if (await reportOutcome(data, incidentId, { forge, requests, incidents: deps.incidents }, giveUp))
              return 'reported';
            await job.moveToDelayed(Date.now() + interval, token);
            throw new DelayedError();
          },
          { ...deps.workerOptions, concurrency: 2, connection: deps.connection() },
        )
      : undefined;
  worker?.on('error', (error) => log.error({ err: String(error) }, 'chatops worker error'));

  return {
    slack: slackExecutor(service, config.chatops),
    async acceptComment(event) {
      if (event.name !== 'issue_comment' || !config.chatops.github.enabled || !clients) return;
      const job = commentCommandFrom(event.payload, only);
      if (typeof job === 'string') {
        log.debug({ deliveryId: event.deliveryId, ignored: job }, 'comment is not a command');
        return;
      }
      await queue.add(QUEUE_NAMES.chatops, job, jobOptions(githubCommentJobId(job)));
      log.info(
        { deliveryId: event.deliveryId, comment: job.commentId, login: job.login },
        'chatops command queued',
      );
    },
    async close() {
      await worker?.close();
      await queue.close();
    },
  };
}
