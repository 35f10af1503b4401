// The sandbox's Argo CD application-controller against real git repositories, the real store, the
// Deployment controller and the real kubectl: sync, health (Degraded only after the progress
// deadline), the refresh annotation, one automated sync per revision, self-heal, manual operations,
// history, and status shapes checked against real Argo CD payloads (shared fixtures).
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { INSTANCE_LABEL, TRACKING_ANNOTATION } from '../../src/sandbox/argo-compare.ts';
import { REFRESH_ANNOTATION } from '../../src/sandbox/argo-controller.ts';
import { APPLICATION, CONFIG_MAP, DEPLOYMENT, EVENT, NAMESPACE } from '../../src/sandbox/resources.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/sandbox.ts';
import type { KubeObject } from '../../src/sandbox/store.ts';
import { type GitDir, gitdir } from '../helpers/gitdir.ts';
import { until } from '../helpers/wait.ts';
import { FIXTURES } from '../helpers/fixtures.ts';

const run = promisify(execFile);
/** Long enough that only the refresh annotation or a live change can cause a reconcile in a test. */
const NEVER_MS = 10 * 60_000;

function deploymentYaml(image: string, progressDeadlineSeconds = 2): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  progressDeadlineSeconds: ${progressDeadlineSeconds}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: ${image}
`;
}

const serviceYaml = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
    - port: 80
`;

const configMapYaml = (name: string, namespace?: string): string =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${namespace ? `  namespace: ${namespace}\n` : ''}data:\n  k: v\n`;

function applicationYaml(
  repo: GitDir,
  options: { automated?: boolean; selfHeal?: boolean; prune?: boolean; historyLimit?: number } = {},
): string {
  const automated = options.automated ?? true;
  return `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
  namespace: argocd
spec:
  project: default
  source:
    repoURL: file://${repo.remote}
    path: apps/web
    targetRevision: main
  destination:
    server: https://kubernetes.default.svc
    namespace: shop
${options.historyLimit === undefined ? '' : `  revisionHistoryLimit: ${options.historyLimit}\n`}${
    automated
      ? `  syncPolicy:\n    automated:\n      prune: ${options.prune ?? false}\n      selfHeal: ${options.selfHeal ?? false}\n`
      : ''
  }`;
}

let sandbox: Sandbox | undefined;
let repo: GitDir | undefined;

afterEach(async () => {
  await sandbox?.stop();
  repo?.cleanup();
  sandbox = undefined;
  repo = undefined;
});

async function setup(
  options: { selfHealMs?: number; reconcileMs?: number; repoErrorGraceMs?: number } = {},
): Promise<{ sb: Sandbox; repo: GitDir }> {
  repo = gitdir();
  sandbox = await startSandbox({
    kubeconfig: path.join(repo.root, 'kubeconfig'),
    podReadyMs: 30,
    unreadyImages: ['*:bad'],
    crashImages: ['*:crash'],
    argoReconcileTimeoutMs: options.reconcileMs ?? NEVER_MS,
    argoSelfHealTimeoutMs: options.selfHealMs ?? 1_000,
    ...(options.repoErrorGraceMs === undefined
      ? {}
      : { argoRepoErrorGracePeriodMs: options.repoErrorGraceMs }),
  });
  sandbox.store.create(NAMESPACE, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  return { sb: sandbox, repo };
}

async function kubectl(sb: Sandbox, ...args: string[]): Promise<string> {
  const { stdout } = await run('kubectl', ['--kubeconfig', sb.kubeconfigPath, ...args], { timeout: 30_000 });
  return stdout;
}

async function applyApplication(sb: Sandbox, yaml: string): Promise<void> {
  const file = path.join(repo!.root, 'application.yaml');
  await writeFile(file, yaml);
  await kubectl(sb, 'apply', '-f', file);
}

function app(sb: Sandbox): KubeObject {
  return sb.store.get(APPLICATION, 'argocd', 'web')!;
}

/** Synced + Healthy at `sha` with a finished operation: what `argocd app wait --sync --health` waits for. */
async function settledAt(sb: Sandbox, sha: string, what: string): Promise<KubeObject> {
  await until(
    () => {
      const status = app(sb)?.status;
      return (
        status?.sync?.status === 'Synced' &&
        status.sync.revision === sha &&
        status.health?.status === 'Healthy' &&
        status.operationState?.phase === 'Succeeded' &&
        app(sb)['operation'] === undefined
      );
    },
    what,
    30_000,
  );
  return app(sb);
}

/**
 * Argo refreshes against Git once more right after a sync finishes (as the real controller does);
 * a commit made before that refresh would rightly be picked up at once. Waits for it to be done.
 */
async function refreshedAfterSync(sb: Sandbox): Promise<void> {
  await until(
    () => Date.parse(app(sb).status.reconciledAt) >= Date.parse(app(sb).status.operationState.finishedAt),
    'the refresh after the sync',
  );
  await new Promise((resolve) => setTimeout(resolve, 500));
}

async function refresh(sb: Sandbox, kind: 'normal' | 'hard' = 'normal'): Promise<void> {
  await kubectl(
    sb,
    'annotate',
    '-n',
    'argocd',
    'application/web',
    `${REFRESH_ANNOTATION}=${kind}`,
    '--overwrite',
  );
}

function image(sb: Sandbox): string {
  return sb.store.get(DEPLOYMENT, 'shop', 'web')!.spec.template.spec.containers[0].image;
}

function typeTree(value: unknown): unknown {
  if (Array.isArray(value)) return value.length > 0 ? [typeTree(value[0])] : [];
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, typeTree(v)]));
  }
  return typeof value;
}

/** Every field of `fixture` at `paths` exists in `actual` with the same JSON type. */
function expectSameShape(actual: any, fixture: any, paths: readonly string[]): void {
  for (const dotted of paths) {
    const get = (root: any): unknown => dotted.split('.').reduce((node: any, key) => node?.[key], root);
    const want = get(fixture);
    expect(want, `fixture has ${dotted}`).toBeDefined();
    const have = get(actual);
    expect(have, `status has ${dotted}`).toBeDefined();
    const wantType = typeTree(want);
    const haveType = typeTree(have);
    if (typeof wantType === 'object' && !Array.isArray(wantType)) {
      expect(typeof haveType).toBe('object');
    } else {
      expect(Array.isArray(haveType) ? 'array' : typeof have, dotted).toBe(
        Array.isArray(wantType) ? 'array' : typeof want,
      );
    }
  }
}

describe('sandbox Argo CD application-controller', () => {
  it('syncs a kubectl-applied Application and reports Synced + Healthy at the branch head, shaped like Argo CD', async () => {
    const { sb, repo } = await setup();
    const head = repo.commit('web v1', {
      'apps/web/deployment.yaml': deploymentYaml('nginx:1.0'),
      'apps/web/service.yaml': serviceYaml,
    });
    await applyApplication(sb, applicationYaml(repo));
    const synced = await settledAt(sb, head, 'the first sync');
    const status = synced.status;

    expect(status.operationState.syncResult.revision).toBe(head);
    expect(status.operationState.operation.initiatedBy).toEqual({ automated: true });
    expect(status.history).toHaveLength(1);
    expect(status.history[0]).toMatchObject({ id: 0, revision: head, source: { path: 'apps/web' } });
    expect(status.sourceType).toBe('Directory');
    expect(status.summary.images).toEqual(['nginx:1.0']);
    // Argo applies client-side (kubectl's library): an Update by argocd-controller, not an Apply.
    const applied = sb.store.get(DEPLOYMENT, 'shop', 'web')!.metadata.managedFields as any[];
    expect(applied.map((entry) => [entry.manager, entry.operation])).toEqual([
      ['argocd-controller', 'Update'],
    ]);
    expect(applied[0].fieldsV1['f:spec']['f:template']['f:spec']['f:containers']).toHaveProperty([
      'k:{"name":"web"}',
      'f:image',
    ]);
    expect(status.resources).toEqual(
      [
        {
          version: 'v1',
          kind: 'Service',
          namespace: 'shop',
          name: 'web',
          status: 'Synced',
          health: { status: 'Healthy' },
        },
        {
          group: 'apps',
          version: 'v1',
          kind: 'Deployment',
          namespace: 'shop',
          name: 'web',
          status: 'Synced',
          health: { status: 'Healthy' },
        },
      ].sort((a, b) => `${a.group ?? ''}/${a.kind}`.localeCompare(`${b.group ?? ''}/${b.kind}`)),
    );
    const deployment = sb.store.get(DEPLOYMENT, 'shop', 'web')!;
    expect(deployment.metadata.labels?.[INSTANCE_LABEL]).toBe('web');
    expect(deployment.metadata.annotations?.[TRACKING_ANNOTATION]).toBe('web:apps/Deployment:shop/web');

    const [fixture] = parseAllDocuments(
      await readFile(path.join(FIXTURES, 'argocd-application-healthy-with-history.yaml'), 'utf8'),
    ).map((d) => d.toJS());
    expectSameShape(status, fixture.status, [
      'health.status',
      'sync.status',
      'sync.revision',
      'sync.comparedTo.source.repoURL',
      'sync.comparedTo.source.path',
      'sync.comparedTo.source.targetRevision',
      'sync.comparedTo.destination.namespace',
      'reconciledAt',
      'controllerNamespace',
      'sourceType',
      'summary.images',
      'operationState.phase',
      'operationState.message',
      'operationState.startedAt',
      'operationState.finishedAt',
      'operationState.syncResult.revision',
      'operationState.syncResult.resources',
      'operationState.operation.sync.revision',
      'history',
      'resources',
    ]);
    for (const field of ['id', 'revision', 'deployedAt', 'deployStartedAt', 'source']) {
      expectSameShape(status.history[0], fixture.status.history[0], [field]);
    }
    for (const field of ['group', 'kind', 'name', 'namespace', 'status', 'version', 'health.status']) {
      expectSameShape(
        status.resources.find((r: any) => r.kind === 'Deployment'),
        fixture.status.resources[1],
        [field],
      );
    }
    for (const field of ['group', 'kind', 'name', 'namespace', 'status', 'version', 'message', 'syncPhase']) {
      expectSameShape(
        status.operationState.syncResult.resources.find((r: any) => r.kind === 'Deployment'),
        fixture.status.operationState.syncResult.resources[1],
        [field],
      );
    }
    expect(await kubectl(sb, 'get', 'applications', '-n', 'argocd')).toContain('web');
  });

  it('reconciles at once on the refresh annotation and removes it; without it nothing happens before the poll', async () => {
    const { sb, repo } = await setup();
    const first = repo.commit('web v1', { 'apps/web/deployment.yaml': deploymentYaml('nginx:1.0') });
    await applyApplication(sb, applicationYaml(repo));
    await settledAt(sb, first, 'the first sync');
    await refreshedAfterSync(sb);

    const second = repo.commit('web v2', { 'apps/web/deployment.yaml': deploymentYaml('nginx:2.0') });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(app(sb).status.sync.revision).toBe(first);

    await refresh(sb, 'hard');
    await settledAt(sb, second, 'the sync of the second commit after the refresh');
    expect(app(sb).metadata.annotations?.[REFRESH_ANNOTATION]).toBeUndefined();
    expect(image(sb)).toBe('nginx:2.0');
    expect(app(sb).status.history.map((h: any) => h.revision)).toEqual([first, second]);
  });

  it('turns Degraded only once a bad image passes its progress deadline, Progressing before', async () => {
    const { sb, repo } = await setup();
    const good = repo.commit('web v1', { 'apps/web/deployment.yaml': deploymentYaml('nginx:1.0', 3) });
    await applyApplication(sb, applicationYaml(repo));
    await settledAt(sb, good, 'the good sync');

    const bad = repo.commit('web bad', { 'apps/web/deployment.yaml': deploymentYaml('nginx:bad', 3) });
    await refresh(sb);
    const seen = new Set<string>();
    await until(
      () => {
        const status = app(sb).status;
        if (status.operationState?.syncResult?.revision === bad) seen.add(status.health.status);
        return status.health.status === 'Degraded';
      },
      'the app to turn Degraded',
      30_000,
    );
    const status = app(sb).status;
    // A hook-less sync does not wait for health: it succeeded, and the app is Synced but Degraded.
    expect(status.operationState).toMatchObject({ phase: 'Succeeded', syncResult: { revision: bad } });
    expect(status.sync).toMatchObject({ status: 'Synced', revision: bad });
    expect(seen.has('Progressing')).toBe(true);
    expect(status.health.message).toBe('Caused by apps/Deployment:shop/web');
    expect(status.resources.find((r: any) => r.kind === 'Deployment').health).toEqual({
      status: 'Degraded',
      message: 'Deployment "web" exceeded its progress deadline',
    });
    const events = sb.store.list(EVENT, { namespace: 'argocd' }).map((e) => String(e['message']));
    expect(events).toContain(
      'Updated health status: Progressing -> Degraded (Caused by apps/Deployment:shop/web)',
    );
  });

  it('makes one automated sync attempt per revision: a failed one is not retried, a new commit is', async () => {
    const { sb, repo } = await setup();
    const good = repo.commit('web v1', { 'apps/web/deployment.yaml': deploymentYaml('nginx:1.0') });
    await applyApplication(sb, applicationYaml(repo));
    await settledAt(sb, good, 'the good sync');

    const broken = repo.commit('config in a missing namespace', {
      'apps/web/config.yaml': configMapYaml('settings', 'payments'),
    });
    await refresh(sb);
    await until(() => app(sb).status.operationState?.phase === 'Failed', 'the sync to fail', 60_000);
    const failed = app(sb).status.operationState;
    expect(failed.syncResult.revision).toBe(broken);
    expect(failed.message).toBe('one or more synchronization tasks are not valid');
    expect(failed.syncResult.resources[0]).toMatchObject({ kind: 'ConfigMap', status: 'SyncFailed' });

    // Fixing the cluster does not make Argo try the same revision again.
    sb.store.create(NAMESPACE, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'payments' } });
    const reconciledBefore = app(sb).status.reconciledAt;
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // reconciledAt has second precision
    await refresh(sb);
    await until(
      () =>
        app(sb).status.reconciledAt !== reconciledBefore &&
        !app(sb).metadata.annotations?.[REFRESH_ANNOTATION],
      'the refresh',
      30_000,
    );
    const after = app(sb).status;
    expect(after.operationState.startedAt).toBe(failed.startedAt);
    expect(after.operationState.phase).toBe('Failed');
    expect(after.sync.status).toBe('OutOfSync');
    expect(after.conditions).toEqual([
      expect.objectContaining({
        type: 'SyncError',
        message: `Failed last sync attempt to ${broken}: ${failed.message}`,
      }),
    ]);
    expect(sb.store.get(CONFIG_MAP, 'payments', 'settings')).toBeUndefined();

    const next = repo.commit('touch', { 'apps/web/README.md': 'web\n' });
    await refresh(sb);
    await settledAt(sb, next, 'the next commit to sync');
    expect(sb.store.get(CONFIG_MAP, 'payments', 'settings')).toBeDefined();
    expect(app(sb).status.conditions).toBeUndefined();
  });

  it('self-heals a kubectl rollout undo after the self-heal timeout when selfHeal is on', async () => {
    const { sb, repo } = await setup({ selfHealMs: 1_500 });
    const first = repo.commit('web v1', { 'apps/web/deployment.yaml': deploymentYaml('nginx:1.0') });
    await applyApplication(sb, applicationYaml(repo, { selfHeal: true }));
    await settledAt(sb, first, 'the first sync');
    const second = repo.commit('web v2', { 'apps/web/deployment.yaml': deploymentYaml('nginx:2.0') });
    await refresh(sb);
    await settledAt(sb, second, 'the second sync');
    await kubectl(sb, 'rollout', 'status', '-n', 'shop', 'deployment/web', '--timeout=30s');

    await kubectl(sb, 'rollout', 'undo', '-n', 'shop', 'deployment/web');
    expect(image(sb)).toBe('nginx:1.0');
    await until(() => image(sb) === 'nginx:2.0', 'self-heal to restore the Git image', 60_000);
    await settledAt(sb, second, 'Synced again after the self-heal');
    const history = app(sb).status.history;
    expect(history.map((h: any) => h.revision)).toEqual([first, second, second]);
    expect(history[2].initiatedBy).toEqual({ automated: true });
  });

  it('leaves drift OutOfSync without selfHeal', async () => {
    const { sb, repo } = await setup({ selfHealMs: 500 });
    const first = repo.commit('web v1', { 'apps/web/deployment.yaml': deploymentYaml('nginx:1.0') });
    await applyApplication(sb, applicationYaml(repo));
    await settledAt(sb, first, 'the first sync');

    await kubectl(sb, 'set', 'image', '-n', 'shop', 'deployment/web', 'web=nginx:drift');
    await until(() => app(sb).status.sync.status === 'OutOfSync', 'the drift to show', 60_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // four self-heal timeouts
    expect(image(sb)).toBe('nginx:drift');
    expect(app(sb).status.sync.status).toBe('OutOfSync');
    expect(app(sb).status.resources.find((r: any) => r.kind === 'Deployment').status).toBe('OutOfSync');
    expect(app(sb).status.history).toHaveLength(1);
  });

  it('runs a manual sync operation to an older revision, clears it, and caps history at revisionHistoryLimit', async () => {
    const { sb, repo } = await setup();
    const shas = [repo.commit('web v1', { 'apps/web/deployment.yaml': deploymentYaml('nginx:1.0') })];
    await applyApplication(sb, applicationYaml(repo, { automated: false, historyLimit: 2 }));
    await until(() => app(sb)?.status?.sync?.status === 'OutOfSync', 'the app to show OutOfSync', 60_000);
    expect(sb.store.get(DEPLOYMENT, 'shop', 'web')).toBeUndefined();
    expect(app(sb).status.health.status).toBe('Missing');

    const sync = async (revision: string): Promise<void> => {
      const lastId = (): number => app(sb).status.history?.at(-1)?.id ?? -1;
      const before = lastId();
      await kubectl(
        sb,
        'patch',
        '-n',
        'argocd',
        'application/web',
        '--type',
        'merge',
        '-p',
        JSON.stringify({ operation: { initiatedBy: { username: 'admin' }, sync: { revision } } }),
      );
      await until(
        () =>
          lastId() > before &&
          app(sb)['operation'] === undefined &&
          app(sb).status.operationState.phase === 'Succeeded' &&
          app(sb).status.history.at(-1).revision === revision,
        `the manual sync to ${revision}`,
        30_000,
      );
    };
    await sync(shas[0]!);
    shas.push(repo.commit('web v2', { 'apps/web/deployment.yaml': deploymentYaml('nginx:2.0') }));
    await sync(shas[1]!);
    await sync(shas[0]!); // the `argocd app rollback` equivalent
    expect(image(sb)).toBe('nginx:1.0');
    // Compared with the branch head, the rolled-back app is OutOfSync (why Argo refuses rollback with auto-sync on).
    await until(
      () => app(sb).status.sync.revision === shas[1] && app(sb).status.sync.status === 'OutOfSync',
      'OutOfSync against the branch head',
      30_000,
    );
    const history = app(sb).status.history;
    expect(history.map((h: any) => [h.id, h.revision])).toEqual([
      [1, shas[1]],
      [2, shas[0]],
    ]);
    expect(history[1].initiatedBy).toEqual({ username: 'admin' });
  });

  it('runs an operation set while another one runs after it, instead of clearing it with the first', async () => {
    const { sb, repo } = await setup();
    const first = repo.commit('web v1', { 'apps/web/deployment.yaml': deploymentYaml('nginx:1.0') });
    const second = repo.commit('web v2', { 'apps/web/deployment.yaml': deploymentYaml('nginx:2.0') });
    await applyApplication(sb, applicationYaml(repo, { automated: false }));
    await until(() => app(sb)?.status?.sync?.status === 'OutOfSync', 'the app to show OutOfSync', 60_000);
    const operation = (revision: string) => ({ initiatedBy: { username: 'admin' }, sync: { revision } });
    const setOperation = (revision: string): void => {
      sb.store.mutate(APPLICATION, 'argocd', 'web', (object) => {
        object['operation'] = operation(revision);
      });
    };

    // The second operation lands while the first one is Running (fetching Git), as another
    // client's write would.
    let replaced = false;
    const unwatch = sb.store.watch(APPLICATION, (event) => {
      const state = event.object.status?.operationState;
      if (replaced || state?.phase !== 'Running' || state.operation?.sync?.revision !== first) return;
      replaced = true;
      queueMicrotask(() => setOperation(second));
    });
    try {
      setOperation(first);
      await until(
        () =>
          app(sb).status?.history?.length === 2 &&
          app(sb)['operation'] === undefined &&
          app(sb).status.operationState.phase === 'Succeeded',
        'both operations to run',
        30_000,
      );
    } finally {
      unwatch();
    }
    expect(replaced).toBe(true);
    expect(app(sb).status.history.map((h: any) => h.revision)).toEqual([first, second]);
    expect(app(sb).status.operationState.operation).toEqual(operation(second));
    expect(image(sb)).toBe('nginx:2.0');
  });

  it('prunes tracked objects removed from Git only with prune: true', async () => {
    const { sb, repo } = await setup();
    const first = repo.commit('web + config', {
      'apps/web/deployment.yaml': deploymentYaml('nginx:1.0'),
      'apps/web/config.yaml': configMapYaml('settings'),
    });
    await applyApplication(sb, applicationYaml(repo));
    await settledAt(sb, first, 'the first sync');
    const second = repo.commit('drop config', { 'apps/web/config.yaml': null });
    await refresh(sb);
    await until(
      () => app(sb).status.sync.revision === second && app(sb).status.sync.status === 'OutOfSync',
      'OutOfSync',
      30_000,
    );
    // Only pruning is needed and automated prune is off: Argo skips the automated sync.
    expect(app(sb).status.operationState.syncResult.revision).toBe(first);
    expect(sb.store.get(CONFIG_MAP, 'shop', 'settings')).toBeDefined();
    expect(app(sb).status.resources.find((r: any) => r.kind === 'ConfigMap')).toMatchObject({
      status: 'OutOfSync',
      requiresPruning: true,
    });

    // As in Argo CD, turning prune on does not re-sync a revision already synced; the next commit prunes.
    await applyApplication(sb, applicationYaml(repo, { prune: true }));
    const third = repo.commit('touch', { 'apps/web/README.md': 'web\n' });
    await refresh(sb);
    await until(() => sb.store.get(CONFIG_MAP, 'shop', 'settings') === undefined, 'the prune', 30_000);
    expect(
      app(sb).status.operationState.syncResult.resources.find((r: any) => r.kind === 'ConfigMap'),
    ).toMatchObject({ status: 'Pruned', message: 'pruned' });
    await settledAt(sb, third, 'Synced after the prune');
  });

  it('reports a revision it cannot render as Argo CD does (ComparisonError, sync Unknown at the branch, health from the live objects, no sync) and recovers at the next one that renders', async () => {
    const { sb, repo } = await setup();
    const good = repo.commit('web v1', { 'apps/web/deployment.yaml': deploymentYaml('nginx:1.0') });
    await applyApplication(sb, applicationYaml(repo));
    await settledAt(sb, good, 'the first sync');
    const history = app(sb).status.history;
    const operationState = app(sb).status.operationState;

    repo.commit('web as a kustomization', {
      'apps/web/kustomization.yaml': 'resources:\n  - deployment.yaml\n  - missing.yaml\n',
    });
    await refresh(sb);
    await until(() => app(sb).status.sync.status === 'Unknown', 'sync Unknown');
    const status = app(sb).status;
    expect(status.sync).toEqual({
      status: 'Unknown',
      revision: 'main',
      comparedTo: {
        source: { repoURL: `file://${repo.remote}`, path: 'apps/web', targetRevision: 'main' },
        destination: { server: 'https://kubernetes.default.svc', namespace: 'shop' },
      },
    });
    expect(status.conditions).toEqual([
      {
        type: 'ComparisonError',
        message: expect.stringMatching(
          /^Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = .*missing\.yaml/,
        ),
        lastTransitionTime: expect.any(String),
      },
    ]);
    // Health of the live objects, every one of them extraneous now and of unknown sync status.
    expect(status.health.status).toBe('Healthy');
    expect(status.resources).toEqual([
      expect.objectContaining({ kind: 'Deployment', name: 'web', status: 'Unknown', requiresPruning: true }),
    ]);
    expect(status.sourceType).toBeUndefined();
    // No automated sync of an Unknown app: the last operation and the history stay as they were.
    expect(app(sb)['operation']).toBeUndefined();
    expect(status.operationState).toEqual(operationState);
    expect(status.history).toEqual(history);
    expect(image(sb)).toBe('nginx:1.0');
    const events = sb.store.list(EVENT, { namespace: 'argocd' }).map((e) => e.message);
    expect(events).toContain('Updated sync status: Synced -> Unknown');

    const fixed = repo.commit('add the missing file', {
      'apps/web/missing.yaml': configMapYaml('web-extra'),
    });
    await refresh(sb);
    await settledAt(sb, fixed, 'Synced + Healthy once the revision renders');
    expect(app(sb).status.conditions).toBeUndefined();
    expect(app(sb).status.sourceType).toBe('Kustomize');
  });

  it('keeps a manifest error quiet on periodic refreshes during the repo error grace period, reports it after', async () => {
    const { sb, repo } = await setup({ reconcileMs: 200, repoErrorGraceMs: 1_500 });
    const good = repo.commit('web v1', { 'apps/web/deployment.yaml': deploymentYaml('nginx:1.0') });
    await applyApplication(sb, applicationYaml(repo));
    await settledAt(sb, good, 'the first sync');
    await refreshedAfterSync(sb);
    const started = Date.now();
    repo.commit('web as a kustomization', {
      'apps/web/kustomization.yaml': 'resources:\n  - deployment.yaml\n  - missing.yaml\n',
    });
    await until(
      () => app(sb).status.sync.status === 'Unknown',
      'sync Unknown after the grace period',
      20_000,
    );
    // First seen at the first refresh after the commit (within one period), reported after 1.5 s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    expect(app(sb).status.conditions?.[0]?.type).toBe('ComparisonError');
  });
});
