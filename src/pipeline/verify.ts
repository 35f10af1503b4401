// Verification: the engine applied the revert revision and is Ready, and
// every Deployment of the app is back on its last-good pod template, on a ReplicaSet that existed
// before the incident, fully rolled out, with the bad ReplicaSet scaled to 0. When the bad revision
// was never applied (a build or render error), the last-good templates are those that kept running.
import type { KubeObjectJson } from '../cluster/informer.ts';
import {
  activeReplicaSet,
  lastGoodTemplateCandidates,
  rolledBackFrom,
  timestampOf,
} from '../cluster/rollout-history.ts';
import { convergenceVerdict, deploymentComplete, rolloutStatus } from '../cluster/rollout-verdict.ts';
import type { PodTemplate } from '../cluster/template.ts';
import type { AppRef } from '../domain/app-ref.ts';
import { engineFor } from '../engines/registry.ts';
import { workloadsOf } from './app-objects.ts';
import type { DeploymentVerdictSummary, IncidentRecord } from './incident-record.ts';
import type { ClusterPort } from './ports.ts';

export type VerifyOutcome =
  | { state: 'converged'; deployments: DeploymentVerdictSummary[]; warnings: string[] }
  | { state: 'pending'; message: string; deployments: DeploymentVerdictSummary[] }
  | { state: 'failed'; message: string; deployments: DeploymentVerdictSummary[] }
  /** Nothing will change until a person acts (a paused Deployment): waiting longer cannot help. */
  | { state: 'needs-human'; reason: string; message: string; deployments: DeploymentVerdictSummary[] };

/** Who set `spec.paused`: the field manager that owns it, from managedFields. */
function pausedBy(deployment: KubeObjectJson): string | undefined {
  const entries = (deployment.metadata as { managedFields?: unknown } | undefined)?.managedFields;
  if (!Array.isArray(entries)) return undefined;
  const owner = entries.find((entry: { fieldsV1?: { 'f:spec'?: Record<string, unknown> } }) =>
    Boolean(entry?.fieldsV1?.['f:spec']?.['f:paused']),
  ) as { manager?: unknown } | undefined;
  return typeof owner?.manager === 'string' && owner.manager !== '' ? owner.manager : undefined;
}

/**
 * A paused Deployment (`spec.paused: true`) rolls nothing out, the revert included, until someone
 * resumes it: Argo CD calls it Suspended, Flux's health check (kstatus) waits on it as InProgress,
 * and `kubectl rollout status` waits forever. Rewind does not resume what a person paused; it says
 * so at once instead of waiting for the verification deadline.
 */
export function pausedOutcome(
  deployments: readonly KubeObjectJson[],
  summaries: DeploymentVerdictSummary[] = [],
): Extract<VerifyOutcome, { state: 'needs-human' }> | undefined {
  const paused = deployments.filter((deployment) => deployment.spec?.['paused'] === true);
  if (paused.length === 0) return undefined;
  const message = paused
    .map((deployment) => {
      const name = deployment.metadata?.name ?? '';
      const namespace = deployment.metadata?.namespace ?? 'default';
      const by = pausedBy(deployment);
      return `Deployment ${namespace}/${name} is paused (spec.paused: true, set by ${by ? `field manager "${by}"` : 'an unknown manager'}), so it will not roll out the revert; resume it with "kubectl rollout resume deployment/${name} -n ${namespace}".`;
    })
    .join(' ');
  return { state: 'needs-human', reason: 'DeploymentPaused', message, deployments: summaries };
}

export interface WorkloadTemplates {
  /** Pod templates per Deployment (`namespace/name`) recorded when the incident was located. */
  readonly lastGood: Readonly<Record<string, { template: PodTemplate; rsUid?: string }>>;
  readonly bad: Readonly<Record<string, PodTemplate>>;
}

export function deploymentKey(deployment: KubeObjectJson): string {
  return `${deployment.metadata?.namespace ?? ''}/${deployment.metadata?.name ?? ''}`;
}

/**
 * The last-good and bad templates of each Deployment of an app, read from the ReplicaSet history:
 * last good = the most recently rolled-out other template created before the incident. Bad = the
 * Deployment's current template while the bad revision is live. Once the engine applied another
 * revision (`revertReached`: an incident of a storm taken up after the shared revert reached its app),
 * the current template may be the good one again, on its reused ReplicaSet: then bad = the template
 * of the ReplicaSet that rollback moved away from.
 */
export async function recordTemplates(
  cluster: ClusterPort,
  deployments: readonly KubeObjectJson[],
  incidentStartedAt: string,
  revertReached = false,
): Promise<WorkloadTemplates> {
  const lastGood: Record<string, { template: PodTemplate; rsUid?: string }> = {};
  const bad: Record<string, PodTemplate> = {};
  for (const deployment of deployments) {
    const replicaSets = await cluster.replicaSetsOf(deployment);
    const key = deploymentKey(deployment);
    const replaced = revertReached ? rolledBackFrom(deployment, replicaSets, incidentStartedAt) : undefined;
    bad[key] = (replaced?.spec?.template ?? deployment.spec?.template) as PodTemplate;
    const [candidate] = lastGoodTemplateCandidates(deployment, replicaSets, {
      before: incidentStartedAt,
      badTemplate: bad[key],
    });
    if (candidate) lastGood[key] = { template: candidate.template, rsUid: candidate.uid };
  }
  return { lastGood, bad };
}

/**
 * The templates of an incident whose bad revision never reached the workloads: the engine reports
 * its attempt failed before applying (`object` read after `deployments`), and every Deployment is
 * fully rolled out on a ReplicaSet created before the incident. The last-good templates are then the
 * ones running now and there is no bad template, so verifying the revert needs no rollout: the
 * engine Ready at it, and these ReplicaSets still running. Undefined otherwise.
 */
export async function unappliedTemplates(
  cluster: ClusterPort,
  app: AppRef,
  object: KubeObjectJson,
  badRevision: string,
  deployments: readonly KubeObjectJson[],
  incidentStartedAt: string,
): Promise<WorkloadTemplates | undefined> {
  if (!engineFor(app).failedBeforeApply(object, badRevision)) return undefined;
  const before = timestampOf(incidentStartedAt);
  const lastGood: Record<string, { template: PodTemplate; rsUid?: string }> = {};
  for (const deployment of deployments) {
    if (!deploymentComplete(deployment)) return undefined;
    const active = activeReplicaSet(deployment, await cluster.replicaSetsOf(deployment));
    const created = timestampOf(active?.metadata?.creationTimestamp);
    if (!active || before === undefined || created === undefined || created >= before) return undefined;
    lastGood[deploymentKey(deployment)] = {
      template: active.spec?.template as PodTemplate,
      ...(active.metadata?.uid ? { rsUid: active.metadata.uid } : {}),
    };
  }
  return { lastGood, bad: {} };
}

/** Rebuilds the last-good templates from the ReplicaSets recorded in the durable incident. */
export async function templatesFromReplicaSets(
  cluster: ClusterPort,
  deployments: readonly KubeObjectJson[],
  lastGoodUids: Readonly<Record<string, string>>,
): Promise<WorkloadTemplates | undefined> {
  const lastGood: Record<string, { template: PodTemplate; rsUid?: string }> = {};
  for (const deployment of deployments) {
    const key = deploymentKey(deployment);
    const uid = lastGoodUids[key];
    if (!uid) continue;
    const rs = (await cluster.replicaSetsOf(deployment)).find((r) => r.metadata?.uid === uid);
    if (!rs) return undefined; // garbage-collected: fall back to the history
    lastGood[key] = { template: rs.spec?.template as PodTemplate, rsUid: uid };
  }
  return { lastGood, bad: {} };
}

export async function verifyOnce(
  cluster: ClusterPort,
  record: IncidentRecord,
  revertSha: string,
  templates: WorkloadTemplates,
  /** Whether `descendant` contains `ancestor` (a commit landed after the revert before Flux fetched). */
  contains?: (ancestor: string, descendant: string) => Promise<boolean>,
): Promise<VerifyOutcome> {
  const { app } = record;
  const engine = engineFor(app);
  const object = await cluster.get(engine.ref(app));
  if (!object)
    return {
      state: 'failed',
      message: `${engine.noun} ${app.namespace}/${app.name} no longer exists.`,
      deployments: [],
    };
  const verdict = engine.assess(object);
  const applied = engine.appliedRevision(object);
  const hasRevert = async (revision: { sha: string } | undefined): Promise<boolean> =>
    revision !== undefined &&
    (revision.sha === revertSha || ((await contains?.(revertSha, revision.sha).catch(() => false)) ?? false));
  const revertApplied = await hasRevert(applied);
  if (verdict.state !== 'healthy' || !revertApplied) {
    // Once the engine is at the revert (applied, or applying it: Flux's health check of it waits on
    // a paused Deployment, Argo calls the app Suspended), a paused Deployment is what blocks it.
    // The attempted revision is often the applied one, already asked about: no second git call.
    const attempted = engine.attemptedRevision(object);
    if (revertApplied || (attempted?.sha !== applied?.sha && (await hasRevert(attempted)))) {
      const paused = pausedOutcome(await workloadsOf(cluster, app));
      if (paused) return paused;
    }
    return {
      state: 'pending',
      message: `waiting for the ${engine.noun} to apply ${revertSha.slice(0, 12)} (now: ${verdict.state}, applied ${applied?.sha.slice(0, 12) ?? 'nothing'}: ${verdict.message})`,
      deployments: [],
    };
  }
  const deployments = await workloadsOf(cluster, app);
  const summaries: DeploymentVerdictSummary[] = [];
  const warnings: string[] = [];
  let allConverged = true;
  let failure: string | undefined;
  const startedAt = record.failingSince ?? record.conditions[0]?.at ?? new Date().toISOString();
  for (const deployment of deployments) {
    const key = deploymentKey(deployment);
    const good = templates.lastGood[key];
    const replicaSets = await cluster.replicaSetsOf(deployment);
    if (!good) {
      // No earlier template known (a new Deployment, or its history was pruned): it only has to be
      // fully rolled out, with nothing failing.
      const status = rolloutStatus(deployment);
      summaries.push({
        name: deployment.metadata?.name ?? '',
        namespace: deployment.metadata?.namespace ?? '',
        state: status.state === 'done' ? 'unchanged' : status.state === 'error' ? 'failed' : 'progressing',
        reasons: status.state === 'done' ? [] : [status.message],
      });
      if (status.state === 'error') failure = `${key}: ${status.message}`;
      if (status.state === 'waiting') allConverged = false;
      continue;
    }
    const verdictForDeployment = convergenceVerdict({
      deployment: deployment,
      replicaSets: replicaSets,
      lastGoodTemplate: good.template,
      ...(good.rsUid ? { lastGoodRsUid: good.rsUid } : {}),
      incidentStartedAt: startedAt,
      ...(templates.bad[key] ? { badTemplate: templates.bad[key] } : {}),
    });
    summaries.push({
      name: deployment.metadata?.name ?? '',
      namespace: deployment.metadata?.namespace ?? '',
      state: verdictForDeployment.state,
      reasons: verdictForDeployment.reasons,
    });
    warnings.push(...verdictForDeployment.warnings.map((w) => `${key}: ${w}`));
    if (verdictForDeployment.state === 'failed')
      failure = `${key}: ${verdictForDeployment.reasons.join('; ')}`;
    if (verdictForDeployment.state !== 'converged' && verdictForDeployment.state !== 'converged-different')
      allConverged = false;
  }
  if (failure) return { state: 'failed', message: failure, deployments: summaries };
  if (!allConverged) {
    const paused = pausedOutcome(deployments, summaries);
    if (paused) return paused;
    const waiting = summaries.filter(
      (s) => s.state !== 'converged' && s.state !== 'converged-different' && s.state !== 'unchanged',
    );
    return {
      state: 'pending',
      message: waiting.map((s) => `${s.namespace}/${s.name}: ${s.reasons.join('; ')}`).join(' | '),
      deployments: summaries,
    };
  }
  return { state: 'converged', deployments: summaries, warnings };
}
