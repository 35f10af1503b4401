// The sandbox's Flux-like syncer against real git repositories (a bare "remote" + a work clone per
// test) and the in-memory object store. Deployment health comes from a tiny stand-in rollout in
// this file: images tagged `:bad` never become ready, `:stalled` exceed their progress deadline.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { objectStatus } from '../../src/sandbox/flux-health.ts';
import { FluxSyncer } from '../../src/sandbox/flux-syncer.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/sandbox.ts';
import {
  DEPLOYMENT,
  EVENT,
  GIT_REPOSITORY,
  KUSTOMIZATION,
  REPLICA_SET,
  mustResource,
} from '../../src/sandbox/resources.ts';
import { type KubeObject, ObjectStore } from '../../src/sandbox/store.ts';
import { FIXTURES } from '../helpers/fixtures.ts';

const run = promisify(execFile);
const CONFIG_MAP = mustResource('v1', 'ConfigMap');
const SERVICE = mustResource('v1', 'Service');

async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('git', args, { cwd });
  return stdout.trim();
}

/** A bare repository with branch `main` and a work clone to commit into. */
async function gitRemote(root: string): Promise<{
  url: string;
  commit(files: Record<string, string | null>, message: string): Promise<string>;
}> {
  const bare = path.join(root, 'remote.git');
  const work = path.join(root, 'work');
  await run('git', ['init', '--quiet', '--bare', '--initial-branch=main', '--', bare]);
  await run('git', ['init', '--quiet', '--initial-branch=main', '--', work]);
  await git(work, 'config', 'user.email', 'dev@example.com');
  await git(work, 'config', 'user.name', 'Dev');
  await git(work, 'remote', 'add', 'origin', '--', bare);
  return {
    url: `file://${bare}`,
    async commit(files, message) {
      for (const [file, content] of Object.entries(files)) {
        const target = path.join(work, file);
        if (content === null) await rm(target, { force: true });
        else {
          await mkdir(path.dirname(target), { recursive: true });
          await writeFile(target, content);
        }
      }
      await git(work, 'add', '--all');
      await git(work, 'commit', '--quiet', '-m', message);
      await git(work, 'push', '--quiet', 'origin', 'main');
      return git(work, 'rev-parse', 'HEAD');
    },
  };
}

function deploymentYaml(name: string, image: string, replicas = 2): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: default
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
        - name: ${name}
          image: ${image}
`;
}

const configMapYaml = (name: string, value: string): string =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: default\ndata:\n  value: "${value}"\n`;

/** Stand-in for the Deployment controller: writes status counters once per generation. */
function fakeRollouts(store: ObjectStore): () => void {
  return store.watch(DEPLOYMENT, (event) => {
    const deployment = event.object;
    if (event.type === 'DELETED') return;
    if ((deployment.status?.observedGeneration ?? 0) >= (deployment.metadata.generation ?? 0)) return;
    setImmediate(() => {
      store.mutate(
        DEPLOYMENT,
        deployment.metadata.namespace,
        deployment.metadata.name,
        (current) => {
          const replicas: number = current.spec?.replicas ?? 1;
          const image: string = current.spec?.template?.spec?.containers?.[0]?.image ?? '';
          const ready = !/:(bad|stalled)$/.test(image);
          current.status = {
            observedGeneration: current.metadata.generation,
            replicas,
            updatedReplicas: replicas,
            readyReplicas: ready ? replicas : 0,
            availableReplicas: ready ? replicas : 0,
            conditions: [
              { type: 'Available', status: ready ? 'True' : 'False', reason: 'MinimumReplicasAvailable' },
              image.endsWith(':stalled')
                ? { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }
                : {
                    type: 'Progressing',
                    status: 'True',
                    reason: ready ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
                  },
            ],
          };
        },
        { subresource: 'status' },
      );
    });
  });
}

async function waitFor<T>(probe: () => T | undefined | false, what: string, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function condition(object: KubeObject | undefined, type: string): any {
  return (object?.status?.conditions ?? []).find((c: any) => c.type === type);
}

describe('sandbox Flux syncer', () => {
  let root: string;
  let store: ObjectStore;
  let syncer: FluxSyncer;
  let stopRollouts: () => void;
  let remote: Awaited<ReturnType<typeof gitRemote>>;

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'rewind-flux-'));
    remote = await gitRemote(root);
    store = new ObjectStore();
    stopRollouts = fakeRollouts(store);
    syncer = new FluxSyncer(store, { cacheDir: path.join(root, 'cache') });
    syncer.start();
  });

  afterEach(async () => {
    await syncer.stop();
    stopRollouts();
    await rm(root, { recursive: true, force: true });
  });

  function createSource(extra: Record<string, unknown> = {}): void {
    store.create(GIT_REPOSITORY, {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'GitRepository',
      metadata: { name: 'apps', namespace: 'flux-system' },
      spec: { url: remote.url, ref: { branch: 'main' }, interval: '10m', ...extra },
    });
  }

  function createKustomization(spec: Record<string, unknown> = {}): void {
    store.create(KUSTOMIZATION, {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: 'apps', namespace: 'flux-system' },
      spec: {
        interval: '10m',
        path: './apps',
        prune: true,
        wait: true,
        timeout: '2s',
        sourceRef: { kind: 'GitRepository', name: 'apps' },
        ...spec,
      },
    });
  }

  const kustomization = (): KubeObject | undefined => store.get(KUSTOMIZATION, 'flux-system', 'apps');
  const appliedRevision = (sha: string) => () =>
    kustomization()?.status?.lastAppliedRevision === `main@sha1:${sha}` &&
    condition(kustomization(), 'Ready')?.status === 'True' &&
    kustomization();

  it('applies the path at the branch head, waits for health and records Flux-shaped status', async () => {
    const sha = await remote.commit(
      {
        'apps/deployment.yaml': deploymentYaml('web', 'nginx:1.0'),
        'apps/more.yml': `${configMapYaml('web-config', 'a')}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\nspec:\n  selector: {app: web}\n`,
        'apps/notes.txt': 'not a manifest',
        'apps/nested/ignored.yaml': configMapYaml('nested', 'x'),
      },
      'first',
    );
    createSource();
    createKustomization();

    const ks = await waitFor(appliedRevision(sha), 'the first revision to be applied');
    expect(ks.status.lastAttemptedRevision).toBe(`main@sha1:${sha}`);
    expect(condition(ks, 'Ready')).toMatchObject({
      status: 'True',
      reason: 'ReconciliationSucceeded',
      message: `Applied revision: main@sha1:${sha}`,
      observedGeneration: 1,
    });
    expect(condition(ks, 'Healthy')).toMatchObject({ status: 'True', reason: 'Succeeded' });
    expect(condition(ks, 'Healthy').message).toMatch(/^Health check passed in \d+(\.\d+)?(ms|s|µs)$/);
    expect(condition(ks, 'Reconciling')).toBeUndefined();
    expect(ks.status.observedGeneration).toBe(1);
    expect(ks.status.inventory.entries).toEqual([
      { id: 'default_web-config__ConfigMap', v: 'v1' },
      { id: 'default_web__Service', v: 'v1' },
      { id: 'default_web_apps_Deployment', v: 'v1' },
    ]);
    expect(store.get(CONFIG_MAP, 'default', 'nested')).toBeUndefined();

    const deployment = store.get(DEPLOYMENT, 'default', 'web')!;
    expect(deployment.metadata.labels).toMatchObject({
      'kustomize.toolkit.fluxcd.io/name': 'apps',
      'kustomize.toolkit.fluxcd.io/namespace': 'flux-system',
    });
    expect(deployment.spec.template.spec.containers[0].image).toBe('nginx:1.0');

    const source = store.get(GIT_REPOSITORY, 'flux-system', 'apps')!;
    expect(source.status.artifact.revision).toBe(`main@sha1:${sha}`);
    expect(source.status.artifact.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(condition(source, 'Ready')).toMatchObject({
      status: 'True',
      reason: 'Succeeded',
      message: `stored artifact for revision 'main@sha1:${sha}'`,
    });
    expect(condition(source, 'ArtifactInStorage')?.status).toBe('True');

    // Field names and shapes follow the fixtures.
    const artifactFixture = parseAllDocuments(
      await readFile(path.join(FIXTURES, 'flux-gitrepository-status-artifact.yaml'), 'utf8'),
    )[0]!.toJS().status.artifact;
    expect(Object.keys(source.status.artifact).sort()).toEqual(Object.keys(artifactFixture).sort());
    const ksFixture = parse(
      await readFile(
        path.join(FIXTURES, 'flux-kustomization-history-with-healthcheckfailed.flux-operator-view.yaml'),
        'utf8',
      ),
    );
    const rawStatusKeys = Object.keys(ksFixture.status).filter(
      (k) => k !== 'reconcilerRef' && k !== 'sourceRef',
    );
    expect(Object.keys(ks.status).sort()).toEqual(expect.arrayContaining(rawStatusKeys.sort()));
    expect(Object.keys(condition(ks, 'Ready')).sort()).toEqual(
      Object.keys(ksFixture.status.conditions[0]).sort(),
    );
    expect(Object.keys(ks.status.history[0]).sort()).toEqual(Object.keys(ksFixture.status.history[0]).sort());
    expect(ks.status.history[0]).toMatchObject({
      lastReconciledStatus: 'ReconciliationSucceeded',
      metadata: { revision: `main@sha1:${sha}` },
      totalReconciliations: 1,
    });

    const events = store.list(EVENT, { namespace: 'flux-system' });
    expect(events.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['NewArtifact', 'Progressing', 'ReconciliationSucceeded']),
    );
  });

  it('builds a kustomization.yaml overlay that references ../base', async () => {
    const sha = await remote.commit(
      {
        'base/kustomization.yaml': 'resources:\n  - deployment.yaml\n  - config.yaml\n',
        'base/deployment.yaml': deploymentYaml('api', 'example/api:1.0'),
        'base/config.yaml': configMapYaml('api-config', 'base'),
        'apps/kustomization.yaml': [
          'apiVersion: kustomize.config.k8s.io/v1beta1',
          'kind: Kustomization',
          'namespace: team',
          'commonLabels: {team: blue}',
          'images:',
          '  - name: example/api',
          '    newTag: "2.0"',
          'resources:',
          '  - ../base',
          '  - namespace.yaml',
          '',
        ].join('\n'),
        'apps/namespace.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n',
      },
      'overlay',
    );
    createSource();
    createKustomization();

    const ks = await waitFor(appliedRevision(sha), 'the overlay to be applied');
    const deployment = store.get(DEPLOYMENT, 'team', 'api')!;
    expect(deployment.spec.template.spec.containers[0].image).toBe('example/api:2.0');
    expect(deployment.metadata.labels).toMatchObject({
      team: 'blue',
      'kustomize.toolkit.fluxcd.io/name': 'apps',
    });
    expect(deployment.spec.selector.matchLabels).toEqual({ app: 'api', team: 'blue' });
    expect(store.get(CONFIG_MAP, 'team', 'api-config')?.data).toEqual({ value: 'base' });
    expect(ks.status.inventory.entries.map((e: { id: string }) => e.id)).toEqual([
      '_team__Namespace',
      'team_api-config__ConfigMap',
      'team_api_apps_Deployment',
    ]);
  });

  it('fails the health check of a never-ready commit after spec.timeout, keeping the last good revision', async () => {
    const good = await remote.commit({ 'apps/deployment.yaml': deploymentYaml('web', 'nginx:1.0') }, 'good');
    createSource();
    createKustomization();
    await waitFor(appliedRevision(good), 'the good revision');

    const bad = await remote.commit({ 'apps/deployment.yaml': deploymentYaml('web', 'nginx:bad') }, 'bad');
    const started = Date.now();
    store.mutate(GIT_REPOSITORY, 'flux-system', 'apps', (o) => {
      o.metadata.annotations = { 'reconcile.fluxcd.io/requestedAt': 'bad-1' };
    });
    const running = await waitFor(
      () => condition(kustomization(), 'Healthy')?.reason === 'Progressing' && kustomization(),
      'the health check to start',
    );
    expect(running.status.lastAttemptedRevision).toBe(`main@sha1:${bad}`);
    expect(condition(running, 'Ready')).toMatchObject({
      status: 'Unknown',
      reason: 'Progressing',
      message: 'Reconciliation in progress',
    });
    expect(condition(running, 'Reconciling')).toMatchObject({
      status: 'True',
      reason: 'Progressing',
      message: `Running health checks for revision main@sha1:${bad} with a timeout of 2s`,
    });

    const failed = await waitFor(
      () => condition(kustomization(), 'Ready')?.status === 'False' && kustomization(),
      'the health check to fail',
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(failed.status.lastAttemptedRevision).toBe(`main@sha1:${bad}`);
    expect(failed.status.lastAppliedRevision).toBe(`main@sha1:${good}`);
    const ready = condition(failed, 'Ready');
    expect(ready.reason).toBe('HealthCheckFailed');
    expect(ready.message).toMatch(
      /^health check failed after 2(\.\d+)?s: timeout waiting for: \[Deployment\/default\/web status: 'InProgress'\]$/,
    );
    expect(condition(failed, 'Healthy')).toMatchObject({
      status: 'False',
      reason: 'HealthCheckFailed',
      message: ready.message,
    });
    expect(condition(failed, 'Reconciling')).toMatchObject({
      status: 'True',
      reason: 'ProgressingWithRetry',
    });
    expect(failed.status.history.map((h: any) => h.lastReconciledStatus)).toEqual([
      'HealthCheckFailed',
      'ReconciliationSucceeded',
    ]);
    const warnings = store.list(EVENT, { namespace: 'flux-system' }).filter((e) => e.type === 'Warning');
    expect(warnings.map((e) => e.reason)).toEqual(['HealthCheckFailed']);
    expect(warnings[0]!['involvedObject']).toMatchObject({ kind: 'Kustomization', name: 'apps' });
  });

  it('holds a new revision until the running health check of the bad one times out, as Flux does', async () => {
    await remote.commit({ 'apps/deployment.yaml': deploymentYaml('web', 'nginx:bad') }, 'bad');
    createSource();
    createKustomization();
    await waitFor(() => condition(kustomization(), 'Healthy')?.reason === 'Progressing', 'the health check');
    const waitingSince = Date.now();
    const fix = await remote.commit({ 'apps/deployment.yaml': deploymentYaml('web', 'nginx:1.1') }, 'fix');
    store.mutate(GIT_REPOSITORY, 'flux-system', 'apps', (o) => {
      o.metadata.annotations = { 'reconcile.fluxcd.io/requestedAt': 'fix' };
    });
    store.mutate(KUSTOMIZATION, 'flux-system', 'apps', (o) => {
      o.metadata.annotations = { 'reconcile.fluxcd.io/requestedAt': 'fix' };
    });
    await waitFor(appliedRevision(fix), 'the fix to be applied');
    expect(Date.now() - waitingSince).toBeGreaterThanOrEqual(1500);
    const reasons = kustomization()!.status.history.map((h: any) => h.lastReconciledStatus);
    expect(reasons).toEqual(['ReconciliationSucceeded', 'HealthCheckFailed']);
  });

  it('fails early when a Deployment exceeds its progress deadline', async () => {
    await remote.commit({ 'apps/deployment.yaml': deploymentYaml('web', 'nginx:stalled') }, 'stalled');
    createSource();
    createKustomization({ timeout: '30s' });
    const failed = await waitFor(
      () => condition(kustomization(), 'Ready')?.reason === 'HealthCheckFailed' && kustomization(),
      'the fail-fast health check',
      5000,
    );
    expect(condition(failed, 'Ready').message).toMatch(
      /^health check failed after [\d.]+(ms|µs|s): failed early due to stalled resources: \[Deployment\/default\/web status: 'Failed'\]$/,
    );
  });

  it('reconciles at once on reconcile.fluxcd.io/requestedAt, well before the 10m interval', async () => {
    const first = await remote.commit({ 'apps/config.yaml': configMapYaml('settings', 'one') }, 'one');
    createSource();
    createKustomization();
    await waitFor(appliedRevision(first), 'the first revision');

    const second = await remote.commit({ 'apps/config.yaml': configMapYaml('settings', 'two') }, 'two');
    await sleep(150);
    expect(store.get(CONFIG_MAP, 'default', 'settings')?.data).toEqual({ value: 'one' });
    const started = Date.now();
    store.mutate(GIT_REPOSITORY, 'flux-system', 'apps', (o) => {
      o.metadata.annotations = { 'reconcile.fluxcd.io/requestedAt': '2025-01-01T00:00:00Z' };
    });
    await waitFor(appliedRevision(second), 'the second revision');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(store.get(CONFIG_MAP, 'default', 'settings')?.data).toEqual({ value: 'two' });
    expect(store.get(GIT_REPOSITORY, 'flux-system', 'apps')?.status.lastHandledReconcileAt).toBe(
      '2025-01-01T00:00:00Z',
    );

    store.mutate(KUSTOMIZATION, 'flux-system', 'apps', (o) => {
      o.metadata.annotations = { 'reconcile.fluxcd.io/requestedAt': 'ks-1' };
    });
    await waitFor(
      () => kustomization()?.status.lastHandledReconcileAt === 'ks-1',
      'the Kustomization to echo requestedAt',
    );
  });

  it('does nothing while suspended and reconciles on resume', async () => {
    const first = await remote.commit({ 'apps/config.yaml': configMapYaml('settings', 'one') }, 'one');
    createSource();
    createKustomization();
    await waitFor(appliedRevision(first), 'the first revision');

    store.mutate(KUSTOMIZATION, 'flux-system', 'apps', (o) => {
      o.spec.suspend = true;
    });
    const second = await remote.commit({ 'apps/config.yaml': configMapYaml('settings', 'two') }, 'two');
    store.mutate(GIT_REPOSITORY, 'flux-system', 'apps', (o) => {
      o.metadata.annotations = { 'reconcile.fluxcd.io/requestedAt': 'r1' };
    });
    await waitFor(
      () =>
        store.get(GIT_REPOSITORY, 'flux-system', 'apps')?.status.artifact.revision === `main@sha1:${second}`,
      'the source to fetch the new commit',
    );
    store.mutate(KUSTOMIZATION, 'flux-system', 'apps', (o) => {
      o.metadata.annotations = { 'reconcile.fluxcd.io/requestedAt': 'r2' };
    });
    await sleep(400);
    expect(kustomization()?.status.lastAppliedRevision).toBe(`main@sha1:${first}`);
    expect(kustomization()?.status.lastAttemptedRevision).toBe(`main@sha1:${first}`);
    expect(store.get(CONFIG_MAP, 'default', 'settings')?.data).toEqual({ value: 'one' });

    store.mutate(KUSTOMIZATION, 'flux-system', 'apps', (o) => {
      o.spec.suspend = false;
    });
    await waitFor(appliedRevision(second), 'the resumed Kustomization to apply the new revision');
  });

  it('prunes an object removed from Git, and keeps it without prune', async () => {
    const first = await remote.commit(
      { 'apps/a.yaml': configMapYaml('keep', '1'), 'apps/b.yaml': configMapYaml('drop', '1') },
      'two objects',
    );
    createSource();
    createKustomization();
    await waitFor(appliedRevision(first), 'the first revision');
    expect(store.get(CONFIG_MAP, 'default', 'drop')).toBeDefined();

    const second = await remote.commit({ 'apps/b.yaml': null }, 'remove drop');
    store.mutate(GIT_REPOSITORY, 'flux-system', 'apps', (o) => {
      o.metadata.annotations = { 'reconcile.fluxcd.io/requestedAt': 'prune' };
    });
    const ks = await waitFor(appliedRevision(second), 'the removal to be applied');
    expect(store.get(CONFIG_MAP, 'default', 'drop')).toBeUndefined();
    expect(store.get(CONFIG_MAP, 'default', 'keep')).toBeDefined();
    expect(ks.status.inventory.entries).toEqual([{ id: 'default_keep__ConfigMap', v: 'v1' }]);

    store.mutate(KUSTOMIZATION, 'flux-system', 'apps', (o) => {
      o.spec.prune = false;
    });
    const third = await remote.commit(
      { 'apps/a.yaml': null, 'apps/c.yaml': configMapYaml('other', '1') },
      'swap',
    );
    store.mutate(GIT_REPOSITORY, 'flux-system', 'apps', (o) => {
      o.metadata.annotations = { 'reconcile.fluxcd.io/requestedAt': 'no-prune' };
    });
    await waitFor(appliedRevision(third), 'the third revision');
    expect(store.get(CONFIG_MAP, 'default', 'keep')).toBeDefined();
  });

  it('updates changed objects in place, keeping status, server fields and labels others set', async () => {
    const first = await remote.commit({ 'apps/deployment.yaml': deploymentYaml('web', 'nginx:1.0') }, 'v1');
    createSource();
    createKustomization();
    await waitFor(appliedRevision(first), 'the first revision');
    const created = store.mutate(DEPLOYMENT, 'default', 'web', (d) => {
      d.metadata.annotations = { 'deployment.kubernetes.io/revision': '1' };
      d.metadata.labels = { ...d.metadata.labels, 'team.example.com/owner': 'blue' };
    })!;

    const second = await remote.commit({ 'apps/deployment.yaml': deploymentYaml('web', 'nginx:2.0') }, 'v2');
    store.mutate(GIT_REPOSITORY, 'flux-system', 'apps', (o) => {
      o.metadata.annotations = { 'reconcile.fluxcd.io/requestedAt': 'v2' };
    });
    await waitFor(appliedRevision(second), 'the second revision');
    const updated = store.get(DEPLOYMENT, 'default', 'web')!;
    expect(updated.metadata.uid).toBe(created.metadata.uid);
    expect(updated.metadata.generation).toBe((created.metadata.generation ?? 0) + 1);
    expect(updated.spec.template.spec.containers[0].image).toBe('nginx:2.0');
    expect(updated.metadata.annotations).toMatchObject({ 'deployment.kubernetes.io/revision': '1' });
    expect(updated.metadata.labels).toMatchObject({
      'team.example.com/owner': 'blue',
      'kustomize.toolkit.fluxcd.io/name': 'apps',
    });
    expect(updated.status.observedGeneration).toBe(updated.metadata.generation);

    // A hand edit (drift) is undone by the next reconcile; an unchanged object is not rewritten.
    store.mutate(DEPLOYMENT, 'default', 'web', (d) => {
      d.spec.template.spec.containers[0].image = 'nginx:hotfix';
    });
    const configured = store.get(DEPLOYMENT, 'default', 'web')!;
    store.mutate(KUSTOMIZATION, 'flux-system', 'apps', (o) => {
      o.metadata.annotations = { 'reconcile.fluxcd.io/requestedAt': 'drift' };
    });
    await waitFor(() => kustomization()?.status.lastHandledReconcileAt === 'drift', 'the drift reconcile');
    const corrected = store.get(DEPLOYMENT, 'default', 'web')!;
    expect(corrected.spec.template.spec.containers[0].image).toBe('nginx:2.0');
    expect(Number(corrected.metadata.generation)).toBe(Number(configured.metadata.generation) + 1);
    store.mutate(KUSTOMIZATION, 'flux-system', 'apps', (o) => {
      o.metadata.annotations = { 'reconcile.fluxcd.io/requestedAt': 'again' };
    });
    await waitFor(() => kustomization()?.status.lastHandledReconcileAt === 'again', 'the no-op reconcile');
    expect(store.get(DEPLOYMENT, 'default', 'web')!.metadata.generation).toBe(corrected.metadata.generation);
  });

  it('applies server-side as kustomize-controller: an Apply entry in managedFields, and what Git stops setting is removed', async () => {
    const twoKeys = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  value: one\n  extra: x\n`;
    const first = await remote.commit({ 'apps/config.yaml': twoKeys }, 'one');
    createSource();
    createKustomization();
    await waitFor(appliedRevision(first), 'the first revision');
    const created = store.get(CONFIG_MAP, 'default', 'settings')!;
    expect(created.metadata.managedFields).toEqual([
      {
        manager: 'kustomize-controller',
        operation: 'Apply',
        apiVersion: 'v1',
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        fieldsType: 'FieldsV1',
        fieldsV1: {
          'f:data': { 'f:value': {}, 'f:extra': {} },
          'f:metadata': {
            'f:labels': {
              'f:kustomize.toolkit.fluxcd.io/name': {},
              'f:kustomize.toolkit.fluxcd.io/namespace': {},
            },
          },
        },
      },
    ]);

    const second = await remote.commit({ 'apps/config.yaml': configMapYaml('settings', 'two') }, 'two');
    store.mutate(GIT_REPOSITORY, 'flux-system', 'apps', (o) => {
      o.metadata.annotations = { 'reconcile.fluxcd.io/requestedAt': 'two' };
    });
    await waitFor(appliedRevision(second), 'the second revision');
    expect(store.get(CONFIG_MAP, 'default', 'settings')!.data).toEqual({ value: 'two' });
  });

  it('garbage-collects the inventory when a pruning Kustomization is deleted', async () => {
    const sha = await remote.commit({ 'apps/config.yaml': configMapYaml('settings', 'one') }, 'one');
    createSource();
    createKustomization();
    await waitFor(appliedRevision(sha), 'the first revision');
    store.delete(KUSTOMIZATION, 'flux-system', 'apps');
    await waitFor(() => !store.get(CONFIG_MAP, 'default', 'settings'), 'the ConfigMap to be deleted');
  });

  it('stop() aborts a running health check at once', async () => {
    await remote.commit({ 'apps/deployment.yaml': deploymentYaml('web', 'nginx:bad') }, 'bad');
    createSource();
    createKustomization({ timeout: '30s' });
    await waitFor(() => condition(kustomization(), 'Healthy')?.reason === 'Progressing', 'the health check');
    const started = Date.now();
    await syncer.stop();
    expect(Date.now() - started).toBeLessThan(500);
    expect(condition(kustomization(), 'Ready')?.status).toBe('Unknown');
  });

  it('reports fetch and build failures with Flux reasons', async () => {
    await remote.commit(
      {
        'apps/kustomization.yaml': 'resources:\n  - ../plain\n',
        'plain/config.yaml': configMapYaml('x', '1'),
      },
      'broken overlay',
    );
    createSource({ ref: { branch: 'nope' } });
    createKustomization();
    const source = await waitFor(
      () =>
        condition(store.get(GIT_REPOSITORY, 'flux-system', 'apps'), 'Ready')?.status === 'False' &&
        store.get(GIT_REPOSITORY, 'flux-system', 'apps'),
      'the fetch failure',
    );
    expect(condition(source, 'Ready').reason).toBe('GitOperationFailed');
    expect(condition(source, 'Ready').message).toContain(`unable to clone '${remote.url}'`);
    expect(condition(source, 'FetchFailed')).toMatchObject({ status: 'True', reason: 'GitOperationFailed' });
    const waiting = await waitFor(
      () => condition(kustomization(), 'Ready')?.status === 'False' && kustomization(),
      'ArtifactFailed',
    );
    expect(condition(waiting, 'Ready').reason).toBe('ArtifactFailed');

    store.mutate(GIT_REPOSITORY, 'flux-system', 'apps', (o) => {
      o.spec.ref = { branch: 'main' };
    });
    const broken = await waitFor(
      () => condition(kustomization(), 'Ready')?.reason === 'BuildFailed' && kustomization(),
      'the build failure',
    );
    expect(condition(broken, 'Ready').message).toMatch(
      /^kustomize build failed: .*unable to find one of 'kustomization.yaml'/,
    );
    expect(broken.status.lastAppliedRevision).toBeUndefined();
    expect(store.get(SERVICE, 'default', 'x')).toBeUndefined();
  });
});

describe('Deployment health (kstatus rules)', () => {
  const deployment = (status: Record<string, unknown>, generation = 2): KubeObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', generation },
    spec: { replicas: 2, progressDeadlineSeconds: 600, ...spec },
    status,
  });
  let spec: Record<string, unknown> = {};
  const available = { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' };
  const complete = {
    observedGeneration: 2,
    replicas: 2,
    updatedReplicas: 2,
    readyReplicas: 2,
    availableReplicas: 2,
    conditions: [available, { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }],
  };
  afterEach(() => {
    spec = {};
  });

  it('is Current when the rollout is complete for the latest generation', () => {
    expect(objectStatus(deployment(complete))).toBe('Current');
  });
  it('is InProgress while the controller has not observed the latest generation', () => {
    expect(objectStatus(deployment({ ...complete, observedGeneration: 1 }))).toBe('InProgress');
  });
  it('is InProgress while old replicas remain or new ones are unavailable', () => {
    expect(objectStatus(deployment({ ...complete, replicas: 3 }))).toBe('InProgress');
    expect(objectStatus(deployment({ ...complete, availableReplicas: 1 }))).toBe('InProgress');
  });
  it('is Failed once the progress deadline is exceeded, read from the fixture', async () => {
    const fixture = parse(
      await readFile(path.join(FIXTURES, 'k8s-deployment-progress-deadline-exceeded.yaml'), 'utf8'),
    );
    expect(objectStatus(fixture)).toBe('Failed');
  });
  it('is InProgress while paused (Progressing Unknown DeploymentPaused), Current again once resumed and complete', () => {
    spec = { paused: true };
    const paused = {
      ...complete,
      conditions: [available, { type: 'Progressing', status: 'Unknown', reason: 'DeploymentPaused' }],
    };
    expect(objectStatus(deployment(paused))).toBe('InProgress');
    spec = {};
    expect(objectStatus(deployment(complete))).toBe('Current');
  });
  it('is InProgress until Available, and until Progressing says the new ReplicaSet is available', () => {
    expect(objectStatus(deployment({ ...complete, conditions: [available] }))).toBe('InProgress');
    spec = { progressDeadlineSeconds: undefined };
    expect(objectStatus(deployment({ ...complete, conditions: [available] }))).toBe('Current');
    expect(objectStatus(deployment({ ...complete, conditions: [] }))).toBe('InProgress');
  });
  it('treats other kinds as Current once they exist', () => {
    expect(objectStatus({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } })).toBe('Current');
    expect(objectStatus(undefined)).toBe('NotFound');
  });
});

describe('sandbox Flux syncer with the Deployment controller (end to end)', () => {
  let root: string;
  let sandbox: Sandbox;

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'rewind-flux-e2e-'));
    sandbox = await startSandbox({
      kubeconfig: path.join(root, 'kubeconfig'),
      podReadyMs: 30,
      unreadyImages: ['*:bad'],
    });
  });

  afterEach(async () => {
    await sandbox.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('applies a good commit, fails a never-ready one after the timeout, and recovers on its revert', async () => {
    const { store } = sandbox;
    const remote = await gitRemote(root);
    const good = await remote.commit({ 'apps/deployment.yaml': deploymentYaml('web', 'nginx:1.0') }, 'good');
    store.create(GIT_REPOSITORY, {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'GitRepository',
      metadata: { name: 'apps', namespace: 'flux-system' },
      spec: { url: remote.url, ref: { branch: 'main' }, interval: '10m' },
    });
    store.create(KUSTOMIZATION, {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: 'apps', namespace: 'flux-system' },
      spec: {
        interval: '10m',
        path: './apps',
        prune: true,
        wait: true,
        timeout: '2s',
        sourceRef: { kind: 'GitRepository', name: 'apps' },
      },
    });
    const ks = (): KubeObject | undefined => store.get(KUSTOMIZATION, 'flux-system', 'apps');
    const requestReconcile = (token: string): void => {
      store.mutate(GIT_REPOSITORY, 'flux-system', 'apps', (o) => {
        o.metadata.annotations = { 'reconcile.fluxcd.io/requestedAt': token };
      });
    };
    const applied = (sha: string) => () =>
      ks()?.status?.lastAppliedRevision === `main@sha1:${sha}` && condition(ks(), 'Ready')?.status === 'True';

    await waitFor(applied(good), 'the good revision to roll out');
    expect(store.list(REPLICA_SET, { namespace: 'default' })).toHaveLength(1);

    const bad = await remote.commit({ 'apps/deployment.yaml': deploymentYaml('web', 'nginx:bad') }, 'bad');
    requestReconcile('bad');
    const failed = await waitFor(
      () => condition(ks(), 'Ready')?.reason === 'HealthCheckFailed' && ks(),
      'the health check to fail',
    );
    expect(failed.status.lastAttemptedRevision).toBe(`main@sha1:${bad}`);
    expect(failed.status.lastAppliedRevision).toBe(`main@sha1:${good}`);
    expect(condition(failed, 'Ready').message).toContain(
      "timeout waiting for: [Deployment/default/web status: 'InProgress']",
    );

    const revert = await remote.commit(
      { 'apps/deployment.yaml': deploymentYaml('web', 'nginx:1.0') },
      'Revert "bad"',
    );
    requestReconcile('revert');
    await waitFor(applied(revert), 'the revert to roll out');
    const deployment = store.get(DEPLOYMENT, 'default', 'web')!;
    expect(deployment.spec.template.spec.containers[0].image).toBe('nginx:1.0');
    expect(objectStatus(deployment)).toBe('Current');
    // The revert brought the good pod template back: its ReplicaSet is reused, not a third one.
    expect(store.list(REPLICA_SET, { namespace: 'default' })).toHaveLength(2);
  });
});
