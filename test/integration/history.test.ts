// `rewind history` against the sandbox cluster and the fleet's real Git repository: Flux applies
// three images one after the other, then a Rewind revert brings the middle one back; and changes
// that keep the image (an env var) are each joined to their own commit.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeCluster, loadKubeConfig } from '../../src/cluster/kube.ts';
import { NotFoundError } from '../../src/domain/errors.ts';
import { GitWorkspace } from '../../src/git/workspace.ts';
import type { HistoryRow } from '../../src/history/format.ts';
import { runHistory } from '../../src/history/rollout-git-history.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';
import {
  createFleet,
  type Fleet,
  frontendDeployment,
  podinfoDeployment,
  readyFor,
  waitForKustomization,
} from '../../src/sandbox/scenario.ts';

const IMAGE = 'ghcr.io/stefanprodan/podinfo';
const INCIDENT = 'inc-ks.flux-system.podinfo-0123456789ab';

let sandbox: Sandbox;
let fleet: Fleet;
let cluster: KubeCluster;
let git: GitWorkspace;
let scratch: string;
const commits: string[] = [];

async function applied(sha: string, app = 'podinfo'): Promise<void> {
  fleet.notifyPush();
  await waitForKustomization(sandbox, 'flux-system', app, readyFor(sha), 15_000);
}

async function podinfoRows(): Promise<HistoryRow[]> {
  const out = await runHistory({ cluster, git, app: 'flux-system/podinfo', json: true });
  return (JSON.parse(out) as HistoryRow[]).filter((row) => row.deployment === 'default/podinfo');
}

beforeAll(async () => {
  sandbox = await startSandbox({ podReadyMs: 50 });
  fleet = await createFleet({ sandbox, timeout: '3s' });
  scratch = await mkdtemp(path.join(tmpdir(), 'rewind-history-'));
  cluster = new KubeCluster(loadKubeConfig(sandbox.kubeconfigPath));
  git = new GitWorkspace({
    root: scratch,
    author: { name: 'Rewind', email: 'rewind@example.invalid' },
    allowedProtocols: ['file'],
  });
  commits.push(await fleet.head());
  await applied(commits[0] ?? '');
  for (const tag of ['6.5.1', '6.5.2']) {
    const sha = await fleet.setPodinfoImage(`${IMAGE}:${tag}`);
    commits.push(sha);
    await applied(sha);
  }
});

afterAll(async () => {
  await sandbox?.stop();
  await fleet?.cleanup();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('rewind history <app>', () => {
  it('lists each revision joined to the commit that produced its template', async () => {
    const rows = await podinfoRows();
    expect(rows.map((r) => [r.revision, r.images, r.commit, r.subject, r.author])).toEqual([
      [1, [`${IMAGE}:6.5.0`], commits[0], 'Add podinfo and frontend', 'Alice Developer'],
      [2, [`${IMAGE}:6.5.1`], commits[1], 'Bump podinfo to 6.5.1', 'Alice Developer'],
      [3, [`${IMAGE}:6.5.2`], commits[2], 'Bump podinfo to 6.5.2', 'Alice Developer'],
    ]);
    expect(rows.map((r) => r.active)).toEqual([false, false, true]);
    expect(rows[2]).toMatchObject({ ready: 2, desired: 2, rewindIncident: null, joinedBy: 'template' });
  });

  it('prints one table per Deployment of the app, the active ReplicaSet starred', async () => {
    const out = await runHistory({ cluster, git, app: 'flux-system/podinfo', json: false });
    const lines = out.split('\n');
    expect(lines[0]).toMatch(
      /^Deployment default\/podinfo \(app flux-system\/podinfo; .* main at \w{7}; paths apps\/base\/podinfo, apps\/podinfo\)$/,
    );
    expect(lines[1]).toMatch(
      /^ {2}REVISION +REVISION-HISTORY +REPLICASET +IMAGES +READY +CREATED +COMMIT +AUTHOR +SUBJECT$/,
    );
    expect(lines[4]).toMatch(
      new RegExp(
        `^\\* 3 +- +podinfo-\\S+ +${IMAGE}:6\\.5\\.2 +2/2 +\\S+Z +${commits[2]?.slice(0, 7)} +Alice Developer +Bump podinfo to 6\\.5\\.2$`,
      ),
    );
  });

  it('shows a bare Deployment without Git', async () => {
    const out = await runHistory({ cluster, deployment: 'default/podinfo', json: true });
    const rows = JSON.parse(out) as HistoryRow[];
    expect(rows.map((r) => [r.revision, r.app, r.commit, r.subject])).toEqual([
      [1, null, null, null],
      [2, null, null, null],
      [3, null, null, null],
    ]);
  });

  it('names what it looked for and how to list apps when the app does not exist', async () => {
    const error = await runHistory({ cluster, git, app: 'flux-system/podinfox', json: false }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toMatch(
      /no Flux Kustomization "podinfox" in namespace "flux-system".*kubectl get kustomizations -A/,
    );
  });

  it('joins a ReplicaSet brought back by a Rewind revert to the revert commit', async () => {
    const revert = await fleet.commit(`Revert "Bump podinfo to 6.5.2"\n\nRewind-Incident: ${INCIDENT}`, {
      'apps/base/podinfo/deployment.yaml': podinfoDeployment(`${IMAGE}:6.5.1`, 2),
    });
    await applied(revert);
    const rows = await podinfoRows();
    expect(rows.map((r) => [r.revision, r.revisionHistory, r.commit, r.rewindIncident, r.active])).toEqual([
      [1, [], commits[0], null, false],
      [3, [], commits[2], null, false],
      [4, [2], revert, INCIDENT, true],
    ]);
    const table = await runHistory({ cluster, git, app: 'flux-system/podinfo', json: false });
    expect(table).toContain(`[rewind] Revert "Bump podinfo to 6.5.2"`);
  });

  it('joins each ReplicaSet to its own commit when only an env var changed (the whole template is compared)', async () => {
    const frontend = 'ghcr.io/example/frontend:1.0.0';
    // Flux applies the whole repository's head; the frontend's template is the first commit's.
    await applied(await fleet.head(), 'frontend');
    const red = await fleet.commit('Frontend: red theme', {
      'apps/frontend/deployment.yaml': frontendDeployment(frontend, 2, 'red'),
    });
    await applied(red, 'frontend');
    // A commit that touches the app but not its template names no ReplicaSet.
    const scaled = await fleet.commit('Frontend: README', { 'apps/frontend/README.md': 'frontend\n' });
    await applied(scaled, 'frontend');
    const blue = await fleet.commit('Frontend: blue theme again', {
      'apps/frontend/deployment.yaml': frontendDeployment(frontend, 2, 'blue'),
    });
    await applied(blue, 'frontend');
    const out = await runHistory({ cluster, git, app: 'flux-system/frontend', json: true });
    const rows = JSON.parse(out) as HistoryRow[];
    expect(
      rows.map((r) => [r.revision, r.revisionHistory, r.images, r.commit, r.subject, r.joinedBy]),
    ).toEqual([
      [2, [], [frontend], red, 'Frontend: red theme', 'template'],
      [3, [1], [frontend], blue, 'Frontend: blue theme again', 'template'],
    ]);
  });
});
