// Has a Deployment converged back to the last-good pod template (on a ReplicaSet that existed before
// the incident, fully rolled out, the bad one at 0)? Read with the Deployment controller's semantics
// (revision annotations, observedGeneration, rollout completeness). Pure: the verifier polls and owns
// the deadline.
import {
  activeReplicaSet,
  byRevisionDescending,
  controlledReplicaSets,
  parseRevisionHistory,
  REVISION_ANNOTATION,
  REVISION_HISTORY_ANNOTATION,
  revisionOf,
  timestampOf,
  type DeploymentConditionLike,
  type DeploymentLike,
  type ReplicaSetLike,
} from './rollout-history.ts';
import { templateDiff, templatesEqual, type PodTemplate } from './template.ts';

export const PROGRESS_DEADLINE_EXCEEDED = 'ProgressDeadlineExceeded';

export type RolloutStatus =
  | { state: 'done'; message: string }
  | { state: 'waiting'; message: string }
  | { state: 'error'; message: string };

function progressingCondition(deployment: DeploymentLike): DeploymentConditionLike | undefined {
  return deployment.status?.conditions?.find((c) => c.type === 'Progressing');
}

/**
 * `kubectl rollout status` for one Deployment, same order of checks and messages
 * (kubectl pkg/polymorphichelpers/rollout_status.go, DeploymentStatusViewer.Status).
 * A ProgressDeadlineExceeded condition is an error here even when stale: use convergenceVerdict to judge.
 */
export function rolloutStatus(deployment: DeploymentLike, revision = 0): RolloutStatus {
  const name = deployment.metadata?.name ?? '';
  if (revision > 0) {
    const running = revisionOf(deployment);
    if (running !== revision)
      return {
        state: 'error',
        message: `desired revision (${revision}) is different from the running revision (${running})`,
      };
  }
  const generation = deployment.metadata?.generation ?? 0;
  const status = deployment.status ?? {};
  if (generation <= (status.observedGeneration ?? 0)) {
    if (progressingCondition(deployment)?.reason === PROGRESS_DEADLINE_EXCEEDED)
      return { state: 'error', message: `deployment "${name}" exceeded its progress deadline` };
    const specReplicas = deployment.spec?.replicas;
    const updated = status.updatedReplicas ?? 0;
    if (specReplicas !== undefined && updated < specReplicas)
      return {
        state: 'waiting',
        message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${specReplicas} new replicas have been updated...`,
      };
    const replicas = status.replicas ?? 0;
    if (replicas > updated)
      return {
        state: 'waiting',
        message: `Waiting for deployment "${name}" rollout to finish: ${replicas - updated} old replicas are pending termination...`,
      };
    const available = status.availableReplicas ?? 0;
    if (available < updated)
      return {
        state: 'waiting',
        message: `Waiting for deployment "${name}" rollout to finish: ${available} of ${updated} updated replicas are available...`,
      };
    return { state: 'done', message: `deployment "${name}" successfully rolled out` };
  }
  return { state: 'waiting', message: 'Waiting for deployment spec update to be observed...' };
}

/** DeploymentComplete (deployment_util.go), with spec.replicas defaulting to 1 like the API server. */
export function deploymentComplete(deployment: DeploymentLike): boolean {
  const status = deployment.status ?? {};
  const desired = deployment.spec?.replicas ?? 1;
  const updated = status.updatedReplicas ?? 0;
  return (
    (status.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0) &&
    updated === desired &&
    (status.replicas ?? 0) === desired &&
    (status.availableReplicas ?? 0) === desired
  );
}

export type ConvergenceState = 'converged' | 'converged-different' | 'progressing' | 'failed';

export interface ConvergenceInput {
  deployment: DeploymentLike;
  replicaSets: ReplicaSetLike[];
  lastGoodTemplate: PodTemplate;
  /** uid of the last-good ReplicaSet when it was recorded; proves reuse even across clock skew. */
  lastGoodRsUid?: string;
  incidentStartedAt: string | Date;
  badTemplate?: PodTemplate;
}

export interface ConvergenceVerdict {
  state: ConvergenceState;
  /** Why this state, in words a person can act on; warnings are included, prefixed `warning: `. */
  reasons: string[];
  /** The subset of `reasons` a human should see even when converged (without the prefix). */
  warnings: string[];
  /** The newest ReplicaSet (highest revision), when there is one. */
  replicaSet?: string;
}

function replicaSetNamedIn(message: string | undefined): string | undefined {
  return message === undefined ? undefined : /ReplicaSet "([^"]+)"/.exec(message)?.[1];
}

function describeRevisions(rs: ReplicaSetLike): string {
  const history = rs.metadata?.annotations?.[REVISION_HISTORY_ANNOTATION];
  const revision = rs.metadata?.annotations?.[REVISION_ANNOTATION] ?? '?';
  return parseRevisionHistory(history).length > 0
    ? `revision ${revision}, previously ${history}`
    : `revision ${revision}`;
}

/**
 * Converged means: the newest ReplicaSet carries the last-good template (pod-template-hash ignored)
 * and existed before the incident (reused and renumbered by the controller), the controller observed
 * the current generation, updated == available == replicas == spec.replicas, and the bad ReplicaSet is
 * scaled to 0. A healthy rollout of another template is `converged-different`. A progress deadline
 * exceeded on the current rollout is `failed`; a stale one (counts complete, or naming an older
 * ReplicaSet) is tolerated, because the controller leaves the condition until it sees progress.
 */
export function convergenceVerdict(input: ConvergenceInput): ConvergenceVerdict {
  const { deployment, lastGoodTemplate, badTemplate } = input;
  const name = deployment.metadata?.name ?? '';
  const reasons: string[] = [];
  const warnings: string[] = [];
  const verdict = (state: ConvergenceState, replicaSet?: string): ConvergenceVerdict => {
    const all = [...reasons, ...warnings.map((w) => `warning: ${w}`)];
    return replicaSet === undefined
      ? { state, reasons: all, warnings }
      : { state, reasons: all, warnings, replicaSet };
  };

  const generation = deployment.metadata?.generation ?? 0;
  const observed = deployment.status?.observedGeneration ?? 0;
  if (observed < generation) {
    reasons.push(
      `deployment "${name}": waiting for the controller to observe generation ${generation} (observed ${observed})`,
    );
    return verdict('progressing');
  }

  const owned = controlledReplicaSets(deployment, input.replicaSets);
  const newest = [...owned].sort(byRevisionDescending)[0];
  if (newest === undefined) {
    reasons.push(`deployment "${name}" has no ReplicaSet yet`);
    return verdict('progressing');
  }
  const newestName = newest.metadata?.name ?? '';
  const active = activeReplicaSet(deployment, owned);
  if (active !== newest) {
    reasons.push(
      `deployment "${name}": the newest ReplicaSet "${newestName}" does not carry the Deployment's template yet`,
    );
    return verdict('progressing', newestName);
  }

  const complete = deploymentComplete(deployment);
  const status = rolloutStatus(deployment);
  const condition = progressingCondition(deployment);
  if (condition?.status === 'False' && condition.reason === PROGRESS_DEADLINE_EXCEEDED) {
    const named = replicaSetNamedIn(condition.message);
    if (complete) {
      warnings.push(
        `stale ${PROGRESS_DEADLINE_EXCEEDED} ignored (${condition.message ?? 'no message'}): replica counts show the rollout complete`,
      );
    } else if (named !== undefined && named !== newestName) {
      reasons.push(
        `${PROGRESS_DEADLINE_EXCEEDED} names ReplicaSet "${named}", not the current "${newestName}": stale, waiting for progress`,
      );
      return verdict('progressing', newestName);
    } else {
      reasons.push(
        `deployment "${name}" exceeded its progress deadline on generation ${generation}: ${condition.message ?? ''}`.trim(),
      );
      return verdict('failed', newestName);
    }
  }

  const isGood = templatesEqual(newest.spec?.template, lastGoodTemplate);
  if (!isGood && badTemplate !== undefined && templatesEqual(newest.spec?.template, badTemplate)) {
    reasons.push(
      `ReplicaSet "${newestName}" (${describeRevisions(newest)}) still runs the bad template: the revert has not reached the Deployment`,
    );
    return verdict('progressing', newestName);
  }

  if (!complete) {
    reasons.push(status.message);
    return verdict('progressing', newestName);
  }

  const others = owned.filter((rs) => rs !== newest);
  const leftovers = (
    badTemplate === undefined ? others : others.filter((rs) => templatesEqual(rs.spec?.template, badTemplate))
  ).filter((rs) => (rs.spec?.replicas ?? 0) > 0 || (rs.status?.replicas ?? 0) > 0);
  if (leftovers.length > 0) {
    for (const rs of leftovers)
      reasons.push(
        `${badTemplate === undefined ? 'old' : 'bad'} ReplicaSet "${rs.metadata?.name ?? ''}" is not scaled to 0 yet (spec ${rs.spec?.replicas ?? 0}, running ${rs.status?.replicas ?? 0})`,
      );
    return verdict('progressing', newestName);
  }

  const replicas = deployment.spec?.replicas ?? 1;
  reasons.push(`${status.message}: ${replicas}/${replicas} updated and available`);
  if (badTemplate !== undefined) {
    const bad = others.filter((rs) => templatesEqual(rs.spec?.template, badTemplate));
    if (bad.length > 0)
      reasons.push(
        `bad ReplicaSet ${bad.map((rs) => `"${rs.metadata?.name ?? ''}"`).join(', ')} scaled to 0`,
      );
  }

  if (!isGood) {
    const changes = templateDiff(lastGoodTemplate, newest.spec?.template).changes;
    reasons.push(
      `ReplicaSet "${newestName}" (${describeRevisions(newest)}) is healthy but not the last-good template`,
    );
    warnings.push(
      `running template differs from the last-good template: ${changes.join('; ') || 'no visible change'}`,
    );
    return verdict('converged-different', newestName);
  }

  const startedAt = timestampOf(input.incidentStartedAt);
  const createdAt = timestampOf(newest.metadata?.creationTimestamp);
  const sameUid = input.lastGoodRsUid !== undefined && newest.metadata?.uid === input.lastGoodRsUid;
  const createdBefore = startedAt !== undefined && createdAt !== undefined && createdAt < startedAt;
  if (sameUid || createdBefore) {
    reasons.push(
      `reused the last-good ReplicaSet "${newestName}" (${describeRevisions(newest)}), created ${createdAt?.toISOString() ?? 'at an unknown time'} before the incident`,
    );
  } else {
    reasons.push(`ReplicaSet "${newestName}" (${describeRevisions(newest)}) runs the last-good template`);
    warnings.push(
      `ReplicaSet "${newestName}" was created ${createdAt?.toISOString() ?? 'at an unknown time'}, after the incident started: ` +
        'the last-good ReplicaSet was recreated (garbage-collected by revisionHistoryLimit, or a different hash), ' +
        'so convergence rests on the template comparison alone',
    );
  }
  return verdict('converged', newestName);
}
