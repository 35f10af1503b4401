// Rewind on Argo CD, end to end: a kubectl-applied Application with automated sync and
// self-heal, broken by a commit that also touches a healthy app, goes back to its original
// ReplicaSet with exactly one scoped revert commit in Git and Argo reporting Synced + Healthy at it.
// Rewind's configuration names nothing Argo-specific: only that the repository may be used.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { KubeCluster, loadKubeConfig } from '../../src/cluster/kube.ts';
import { parseConfig } from '../../src/config/index.ts';
import { GitWorkspace } from '../../src/git/workspace.ts';
import type { HistoryRow } from '../../src/history/format.ts';
import { runHistory } from '../../src/history/rollout-git-history.ts';
import { silentLogger } from '../../src/logging.ts';
import { APPLICATION, DEPLOYMENT, NAMESPACE, REPLICA_SET } from '../../src/sandbox/resources.ts';
import { argoDeployment } from '../../src/sandbox/argo-scenario.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/sandbox.ts';
import { type Runtime, startRuntime } from '../../workers/runtime.ts';
import { redisUrl } from '../global-setup.ts';
import { type GitDir, gitdir } from '../helpers/gitdir.ts';
import { until } from '../helpers/wait.ts';
import { finalIncident, refresh } from '../helpers/argo.ts';
import { pauseOnceDetected } from '../helpers/pause-rollout.ts';

/** How long an incident may take to end here. */
const FINAL_MS = 60_000;

const run = promisify(execFile);
const BROKEN = 'ghcr.io/example/web:2.0-broken';

// The sample fleet's Deployments (a 600 s progress deadline, as in real clusters: Rewind must not wait
// for Argo's Degraded); the Applications are applied with kubectl, as a person would.
const deploymentYaml = (name: string, image: string, mode = 'a'): string =>
  argoDeployment(name, image, 2, mode);

function applicationYaml(name: string, repo: GitDir): string {
  return `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: ${name}
  namespace: argocd
spec:
  project: default
  source:
    repoURL: file://${repo.remote}
    path: apps/${name}
    targetRevision: main
  destination:
    server: https://kubernetes.default.svc
    namespace: shop
  syncPolicy:
    automated: {prune: true, selfHeal: true}
`;
}

interface ArgoLoop {
  sandbox: Sandbox;
  repo: GitDir;
  runtime: Runtime;
  stop(): Promise<void>;
}

let counter = 0;

async function startArgoLoop(policy: Record<string, unknown> = {}): Promise<ArgoLoop> {
  const repo = gitdir();
  repo.commit('web and api', {
    'apps/web/deployment.yaml': deploymentYaml('web', 'ghcr.io/example/web:1.0'),
    'apps/api/deployment.yaml': deploymentYaml('api', 'ghcr.io/example/api:1.0'),
  });
  const sandbox = await startSandbox({
    kubeconfig: path.join(repo.root, 'kubeconfig'),
    podReadyMs: 100,
    unreadyImages: ['*-broken*'],
    argoReconcileTimeoutMs: 10 * 60_000,
    argoSelfHealTimeoutMs: 1_000,
  });
  sandbox.store.create(NAMESPACE, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  for (const name of ['web', 'api']) {
    const file = path.join(repo.root, `${name}-app.yaml`);
    await writeFile(file, applicationYaml(name, repo));
    await run('kubectl', ['--kubeconfig', sandbox.kubeconfigPath, 'apply', '-f', file], { timeout: 30_000 });
  }
  await until(() => healthyAt(sandbox, 'web', repo.head()), 'web Synced + Healthy at the first commit');

  const workdir = await mkdtemp(path.join(tmpdir(), 'rewind-argo-e2e-'));
  const prefix = `rewind-test-argo-${process.pid}-${Date.now()}-${counter++}`;
  const config = parseConfig(
    {
      redis: { url: redisUrl(), prefix },
      kubernetes: { kubeconfig: sandbox.kubeconfigPath },
      git: { workdir: path.join(workdir, 'git'), allowFileRemotes: true },
      forge: { type: 'direct-push' },
      policy: { gracePeriod: '500ms', verifyTimeout: '40s', ...policy },
    },
    { env: {} },
  );
  const runtime = await startRuntime({
    config,
    roles: ['detector', 'rollback', 'verifier'],
    log: silentLogger(),
    env: {},
    verifyIntervalMs: 100,
    lockDurationMs: 3000,
    detector: { debounceMs: 10 },
  });
  return {
    sandbox,
    repo,
    runtime,
    async stop() {
      await runtime.close();
      const redis = new Redis(redisUrl());
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
      await sandbox.stop();
      repo.cleanup();
      await rm(workdir, { recursive: true, force: true });
    },
  };
}

function healthyAt(sandbox: Sandbox, name: string, sha: string): boolean {
  const app = sandbox.store.get(APPLICATION, 'argocd', name);
  return (
    app?.status?.sync?.status === 'Synced' &&
    app.status.sync.revision === sha &&
    app.status.health?.status === 'Healthy'
  );
}

/** The incident's revert commits on main, after checking api kept the change the bad commit made. */
function revertsKeepingApi(repo: GitDir, incidentId: string): string[] {
  repo.git('fetch', '--quiet', 'origin');
  const reverts = repo
    .git('log', '--format=%H', `--grep=Rewind-Incident: ${incidentId}`, 'origin/main')
    .split('\n')
    .filter(Boolean);
  expect(reverts).toHaveLength(1);
  expect(repo.git('show', 'origin/main:apps/api/deployment.yaml')).toContain('value: "b"');
  return reverts;
}

function webReplicaSets(sandbox: Sandbox) {
  return sandbox.store
    .list(REPLICA_SET, { namespace: 'shop' })
    .filter((rs) => rs.metadata.name.startsWith('web-'));
}

describe('Rewind on Argo CD Applications, end to end (direct push)', () => {
  let loop: ArgoLoop | undefined;
  afterEach(async () => {
    await loop?.stop();
    loop = undefined;
  });

  it('reverts only the failing app part of a commit, and Argo reports Synced + Healthy on the original ReplicaSet', async () => {
    loop = await startArgoLoop();
    const { sandbox, repo } = loop;
    const goodRs = webReplicaSets(sandbox).find((rs) => rs.spec.replicas > 0)!;

    const bad = repo.commit('web 2.0, api mode b', {
      'apps/web/deployment.yaml': deploymentYaml('web', BROKEN),
      'apps/api/deployment.yaml': deploymentYaml('api', 'ghcr.io/example/api:1.0', 'b'),
    });
    refresh(sandbox, 'web');
    refresh(sandbox, 'api');
    const incident = await finalIncident(loop, bad, FINAL_MS);

    expect(incident.app).toEqual({ engine: 'argo-application', namespace: 'argocd', name: 'web' });
    expect(incident.conditions.map((c) => c.type)).toEqual([
      'Detected',
      'Located',
      'RevertPrepared',
      'Merged',
      'ReconcileRequested',
      'Converged',
    ]);
    expect(incident.culprit).toBe(bad);
    expect(incident.details.revert).toMatchObject({ kind: 'scoped', paths: ['apps/web/deployment.yaml'] });

    // Git: exactly one revert, after the bad commit; api keeps its change.
    const reverts = revertsKeepingApi(repo, incident.id);
    expect(repo.git('show', 'origin/main:apps/web/deployment.yaml')).toContain('web:1.0');

    // Argo: Synced + Healthy at the revert; the cluster is back on the original ReplicaSet.
    await until(() => healthyAt(sandbox, 'web', reverts[0]!), 'Argo Synced + Healthy at the revert');
    const active = webReplicaSets(sandbox).find((rs) => rs.spec.replicas > 0)!;
    expect(active.metadata.uid).toBe(goodRs.metadata.uid);
    const badRs = webReplicaSets(sandbox).find((rs) => rs.spec.template.spec.containers[0].image === BROKEN)!;
    expect(badRs.spec.replicas).toBe(0);
    expect(sandbox.store.get(DEPLOYMENT, 'shop', 'web')!.status.availableReplicas).toBe(2);
    // Automated sync and self-heal are as they were.
    expect(sandbox.store.get(APPLICATION, 'argocd', 'web')!.spec.syncPolicy.automated).toEqual({
      prune: true,
      selfHeal: true,
    });

    // `rewind history app/argocd/web`: the ReplicaSets joined with the commits, the revert marked.
    const rows = JSON.parse(
      await runHistory({
        cluster: new KubeCluster(loadKubeConfig(sandbox.kubeconfigPath)),
        git: new GitWorkspace({
          root: path.join(repo.root, 'history-ws'),
          author: { name: 'Rewind', email: 'rewind@example.invalid' },
          allowedProtocols: ['file'],
        }),
        app: 'app/argocd/web',
        json: true,
      }),
    ) as HistoryRow[];
    const activeRow = rows.find((r) => r.active)!;
    expect(activeRow).toMatchObject({ app: 'argocd/web', commit: reverts[0], rewindIncident: incident.id });
    expect(rows.map((r) => r.commit)).toContain(bad);
  }, 120_000);

  it('a sync refused before applying anything (a namespace that does not exist) converges on the revert at once, with the workloads unchanged', async () => {
    // Measured on 2 cores: Converged 2-3 s after the bad commit. Waiting for a ReplicaSet change
    // instead ends Failed/VerifyTimeout at this deadline, well within finalIncident's wait.
    const verifyTimeoutMs = 20_000;
    loop = await startArgoLoop({ verifyTimeout: `${verifyTimeoutMs / 1000}s` });
    const { sandbox, repo } = loop;
    // A second template in the history: the one before web 1.1 is web 1.0, which must not come back.
    const good = repo.commit('web 1.1', {
      'apps/web/deployment.yaml': deploymentYaml('web', 'ghcr.io/example/web:1.1'),
    });
    refresh(sandbox, 'web');
    await until(() => healthyAt(sandbox, 'web', good), 'web Synced + Healthy at web 1.1');
    const running = () => webReplicaSets(sandbox).filter((rs) => rs.spec.replicas > 0);
    await until(() => running().length === 1, 'web 1.0 scaled to 0');
    const [goodRs] = running();
    // Kubernetes timestamps have whole seconds: the incident starts in a later second than every
    // ReplicaSet so far, as it does when the last good deploy is not seconds old.
    const newest = Math.max(
      ...webReplicaSets(sandbox).map((rs) => Date.parse(rs.metadata.creationTimestamp!)),
    );
    await until(() => Date.now() >= newest + 1000, 'a new second', 5_000);

    const started = Date.now();
    const bad = repo.commit('web settings', {
      'apps/web/settings.yaml':
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-settings\n  namespace: nowhere\ndata:\n  a: b\n',
    });
    refresh(sandbox, 'web');
    const incident = await finalIncident(loop, bad, FINAL_MS);
    const elapsedMs = Date.now() - started;
    console.info(
      `[argo-rollback] unapplied sync: bad commit to ${incident.conditions.at(-1)?.type}: ${elapsedMs} ms`,
    );

    expect(incident.conditions.at(-1), JSON.stringify(incident.conditions)).toMatchObject({
      type: 'Converged',
      reason: 'WorkloadsUnchanged',
    });
    expect(incident.details.unapplied).toBe(true);
    expect(incident.culprit).toBe(bad);
    expect(elapsedMs).toBeLessThan(verifyTimeoutMs / 2);
    repo.git('fetch', '--quiet', 'origin');
    await until(
      () => healthyAt(sandbox, 'web', repo.git('rev-parse', 'origin/main')),
      'Argo Synced + Healthy at the revert',
    );
    expect(running().map((rs) => rs.metadata.uid)).toEqual([goodRs!.metadata.uid]);
  }, 120_000);

  it('a commit Argo cannot render (a kustomization naming a missing file, also changing a healthy app) is detected from its ComparisonError and reverted in scope; Argo ends Synced + Healthy at the revert', async () => {
    // Measured on 2 cores: Converged 2-4 s after the bad commit; nothing waits for a rollout.
    loop = await startArgoLoop({ verifyTimeout: '30s' });
    const { sandbox, repo } = loop;
    const running = () => webReplicaSets(sandbox).filter((rs) => rs.spec.replicas > 0);
    const [goodRs] = running();
    const newest = Math.max(
      ...webReplicaSets(sandbox).map((rs) => Date.parse(rs.metadata.creationTimestamp!)),
    );
    await until(() => Date.now() >= newest + 1000, 'a new second', 5_000);

    const bad = repo.commit('web as a kustomization, api mode b', {
      'apps/web/kustomization.yaml': 'resources:\n  - deployment.yaml\n  - missing.yaml\n',
      'apps/api/deployment.yaml': deploymentYaml('api', 'ghcr.io/example/api:1.0', 'b'),
    });
    refresh(sandbox, 'web');
    refresh(sandbox, 'api');
    // What Argo CD reports for it: a ComparisonError, sync Unknown at the branch it was asked for
    // (it resolved no commit it can name), health from the live objects, nothing synced.
    await until(
      () => sandbox.store.get(APPLICATION, 'argocd', 'web')?.status?.sync?.status === 'Unknown',
      'web sync Unknown',
    );
    const failing = sandbox.store.get(APPLICATION, 'argocd', 'web')!;
    expect(failing.status.sync.revision).toBe('main');
    expect(failing.status.conditions).toEqual([
      expect.objectContaining({
        type: 'ComparisonError',
        message: expect.stringMatching(
          /^Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = .*missing\.yaml/,
        ),
      }),
    ]);
    expect(failing.status.health.status).toBe('Healthy');

    const incident = await finalIncident(loop, bad, FINAL_MS);
    expect(incident.conditions.at(-1), JSON.stringify(incident.conditions)).toMatchObject({
      type: 'Converged',
      reason: 'WorkloadsUnchanged',
    });
    expect(incident.app).toEqual({ engine: 'argo-application', namespace: 'argocd', name: 'web' });
    expect(incident.details.healthReason).toBe('ComparisonError');
    expect(incident.culprit).toBe(bad);
    expect(incident.details.revert).toMatchObject({ kind: 'scoped', paths: ['apps/web/kustomization.yaml'] });

    const reverts = revertsKeepingApi(repo, incident.id);
    await until(() => healthyAt(sandbox, 'web', reverts[0]!), 'Argo Synced + Healthy at the revert');
    expect(sandbox.store.get(APPLICATION, 'argocd', 'web')!.status.conditions).toBeUndefined();
    expect(running().map((rs) => rs.metadata.uid)).toEqual([goodRs!.metadata.uid]);
  }, 120_000);

  it('a render failure whose branch holds two changes to the app since it was healthy is left to a person: Argo names no commit, and the later change may be a fix', async () => {
    loop = await startArgoLoop({ verifyTimeout: '30s' });
    const { sandbox, repo } = loop;
    const broken = repo.commit('web as a kustomization', {
      'apps/web/kustomization.yaml': 'resources:\n  - deployment.yaml\n  - missing.yaml\n',
    });
    const later = repo.commit('web: a second file', {
      'apps/web/kustomization.yaml': 'resources:\n  - deployment.yaml\n  - missing.yaml\n  - other.yaml\n',
    });
    const head = repo.head();
    refresh(sandbox, 'web');
    const incident = await finalIncident(loop, head, FINAL_MS);
    expect(incident.conditions.at(-1), JSON.stringify(incident.conditions)).toMatchObject({
      type: 'NeedsHuman',
      reason: 'AmbiguousCulprit',
    });
    expect(incident.details.badFromRefHead).toBe(true);
    // Nothing was written to Git: both people's commits stay.
    repo.git('fetch', '--quiet', 'origin');
    expect(repo.git('rev-parse', 'origin/main')).toBe(later);
    expect(repo.git('log', '--format=%H', '-2', 'origin/main').split('\n')).toEqual([later, broken]);
  }, 120_000);

  it('a Deployment someone paused ends verification at once as NeedsHuman/DeploymentPaused, naming who paused it and how to resume, instead of waiting for the deadline', async () => {
    const verifyTimeoutMs = 40_000;
    loop = await startArgoLoop({ gracePeriod: '3s', verifyTimeout: `${verifyTimeoutMs / 1000}s` });
    const { sandbox, repo, runtime } = loop;
    // Recreate: the old ReplicaSet goes to 0 before the new one starts, so once paused nothing
    // brings it back (a paused Deployment only scales the ReplicaSets it has).
    const recreate = (image: string): string =>
      deploymentYaml('web', image).replace(
        '  progressDeadlineSeconds: 600\n',
        '  progressDeadlineSeconds: 600\n  strategy: {type: Recreate}\n',
      );
    const good = repo.commit('web recreates', {
      'apps/web/deployment.yaml': recreate('ghcr.io/example/web:1.0'),
    });
    refresh(sandbox, 'web');
    await until(() => healthyAt(sandbox, 'web', good), 'web Synced + Healthy with Recreate');
    const bad = repo.commit('web 2.0', { 'apps/web/deployment.yaml': recreate(BROKEN) });
    refresh(sandbox, 'web');
    // Someone pauses the rollout while Rewind waits out the grace period.
    await pauseOnceDetected(runtime.incidents, sandbox.kubeconfigPath, bad, {
      namespace: 'shop',
      name: 'web',
    });
    const started = Date.now();
    const incident = await finalIncident(loop, bad, FINAL_MS);
    expect(incident.conditions.at(-1), JSON.stringify(incident.conditions)).toMatchObject({
      type: 'NeedsHuman',
      reason: 'DeploymentPaused',
    });
    const message = incident.conditions.at(-1)!.message;
    expect(message).toContain('Deployment shop/web is paused');
    expect(message).toContain('field manager "kubectl-rollout"');
    expect(message).toContain('kubectl rollout resume deployment/web -n shop');
    expect(Date.now() - started).toBeLessThan(verifyTimeoutMs / 2);
    // Argo applies the revert to the paused Deployment, which keeps its broken ReplicaSet running.
    expect(incident.details.revert?.sha).toBeDefined();
    const web = () => sandbox.store.get(DEPLOYMENT, 'shop', 'web')!;
    await until(
      () => web().spec.template.spec.containers[0].image === 'ghcr.io/example/web:1.0',
      'the revert applied to the paused Deployment',
    );
    expect(web().spec.paused).toBe(true);
    const running = webReplicaSets(sandbox).filter((rs) => rs.spec.replicas > 0);
    expect(running.map((rs) => rs.spec.template.spec.containers[0].image)).toEqual([BROKEN]);
  }, 120_000);

  it('fast path: turns automated sync off (so self-heal does not undo it), rolls back natively, pushes the revert, and turns it back on', async () => {
    loop = await startArgoLoop({ fastPath: true });
    const { sandbox, repo } = loop;
    const goodRs = webReplicaSets(sandbox).find((rs) => rs.spec.replicas > 0)!;
    const bad = repo.commit('web 2.0', { 'apps/web/deployment.yaml': deploymentYaml('web', BROKEN) });
    refresh(sandbox, 'web');
    const incident = await finalIncident(loop, bad, FINAL_MS);
    expect(incident.conditions.at(-1)?.type).toBe('Converged');
    expect(incident.details.revert?.kind).toBe('reverted');
    repo.git('fetch', '--quiet', 'origin');
    const head = repo.git('rev-parse', 'origin/main');
    await until(() => healthyAt(sandbox, 'web', head), 'Argo Synced + Healthy at the revert');
    expect(webReplicaSets(sandbox).find((rs) => rs.spec.replicas > 0)!.metadata.uid).toBe(
      goodRs.metadata.uid,
    );
    const app = sandbox.store.get(APPLICATION, 'argocd', 'web')!;
    expect(app.spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true });
    // Cleared just after the end is saved (the end first, for crash safety): wait for it.
    await until(
      () =>
        sandbox.store.get(APPLICATION, 'argocd', 'web')?.metadata.annotations?.['rewind.dev/incident'] ===
        undefined,
      'the durable incident annotation to be cleared',
    );
  }, 120_000);
});
