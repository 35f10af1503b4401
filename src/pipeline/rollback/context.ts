// What every step of a rollback shares: its dependencies, the incident being recorded, the app and
// its engine, and the few things a later step must be able to undo or ask again.
import type { KubeObjectJson } from '../../cluster/informer.ts';
import type { Policy, RewindConfig } from '../../config/index.ts';
import type { AppRef } from '../../domain/app-ref.ts';
import type { CommitSha } from '../../domain/commit-sha.ts';
import type { ConditionType } from '../../domain/incident.ts';
import type { Engine } from '../../engines/engine.ts';
import type { CandidateCommit } from '../../git/culprit.ts';
import type { VerifyJob } from '../../queue/jobs.ts';
import type { Ledger } from '../durable-ledger.ts';
import type { IncidentRecord, IncidentStore } from '../incident-record.ts';
import type { IncidentRecorder } from '../incident-recorder.ts';
import type { Clock, ClusterPort, CulpritClaims, GitPort, Logger } from '../ports.ts';
import { type CrashPoint, type ForgeDeps, fixForwardMessage } from '../pull-request.ts';

export interface RollbackDeps {
  readonly cluster: ClusterPort;
  readonly git: GitPort;
  readonly incidents: IncidentStore;
  readonly config: RewindConfig;
  readonly clock: Clock;
  readonly log: Logger;
  readonly enqueueVerify: (job: VerifyJob) => Promise<void>;
  /** Fault injection for crash-safety tests: called at named points; may kill the process. */
  readonly crashPoint?: (name: CrashPoint) => void;
  /**
   * With a forge, reverts go through pull requests; without one (direct-push), they are pushed to the
   * tracked branch. Given the source URL, since the forge repository follows the GitOps source.
   */
  readonly forgeFor?: (sourceUrl: string) => ForgeDeps;
  /**
   * Refuses sources Rewind must not touch (returns why): credentials are only ever sent to the
   * configured Git hosts, and the forge only acts on its own host's repositories.
   */
  readonly trustSource?: (url: string) => string | undefined;
  /** Mutual exclusion across workers (Redis); without it, steps run unguarded (single process). */
  readonly withLock?: <T>(key: string, fn: () => Promise<T>) => Promise<T>;
  /** The pull request of each culprit, so the incidents of a storm join it with one read. */
  readonly culpritClaims?: CulpritClaims;
  /** Notifications and outcome Events (see RecorderDeps.onTransition). */
  readonly onTransition?: (record: IncidentRecord) => Promise<void>;
}

export type RollbackResult =
  | { kind: 'already-finished'; condition: ConditionType }
  | { kind: 'handed-to-verifier'; revertSha: string }
  | { kind: 'waiting-for-merge'; pullRequest: number }
  | { kind: 'stopped'; condition: ConditionType; reason: string };

/** A step either ends the rollback with a result, or hands its value to the next step. */
export type Step<T> = { readonly done: RollbackResult } | { readonly next: T };

export const next = <T>(value: T): Step<T> => ({ next: value });
export const done = <T = never>(result: RollbackResult | Promise<RollbackResult>): Promise<Step<T>> =>
  Promise.resolve(result).then((r) => ({ done: r }));

export interface GitSource {
  readonly url: string;
  readonly branch: string;
  readonly path: string;
  readonly key: string;
}

export interface RollbackContext {
  readonly deps: RollbackDeps;
  readonly rec: IncidentRecorder;
  readonly app: AppRef;
  readonly engine: Engine;
  readonly object: KubeObjectJson;
  readonly source: GitSource;
  readonly policy: Policy;
  readonly dryRun: boolean;
  /** Acting changes the world (not a dry run, not observe mode). */
  readonly acting: boolean;
  readonly manual: boolean;
  readonly bad: CommitSha;
  readonly ledger: Ledger;
  readonly forge: ForgeDeps | undefined;
  readonly log: Logger;
  /** Whether this incident's revert is already on the branch (asked once, only when it matters). */
  alreadyPushed(): Promise<boolean>;
}

export function createAlreadyPushed(
  deps: RollbackDeps,
  source: GitSource,
  incidentId: string,
  bad: CommitSha,
): () => Promise<boolean> {
  let pushedBefore: Promise<unknown> | undefined;
  return async () =>
    Boolean(await (pushedBefore ??= deps.git.pushedRevert(source.url, source.branch, incidentId, bad)));
}

/** Lets go of a hold Rewind placed, so the engine applies whatever Git now says. */
export async function releaseHold(ctx: RollbackContext): Promise<void> {
  const hold = ctx.rec.record.details.hold;
  if (!hold) return;
  await ctx.engine.applyNow(ctx.deps.cluster, {
    app: ctx.app,
    revision: '',
    token: `${ctx.rec.record.id}-release`,
    release: hold,
    fetchTimeoutMs: 0,
  });
  const { hold: _released, ...rest } = ctx.rec.record.details;
  ctx.rec.record = { ...ctx.rec.record, details: rest };
  await ctx.rec.details({});
}

/** People come first: a person's change after the bad revision wins, and any hold is let go. */
export async function supersededByPeople(
  ctx: RollbackContext,
  commits: readonly CandidateCommit[],
  when: string,
): Promise<RollbackResult> {
  await releaseHold(ctx);
  return ctx.rec.stop('Superseded', 'FixForward', fixForwardMessage(commits, ctx.bad, when));
}
