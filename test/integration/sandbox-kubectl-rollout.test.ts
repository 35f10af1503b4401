// The real kubectl against the sandbox: `rollout status|history|undo` and `set image` must see
// what they would see on a cluster, down to ReplicaSet reuse and revision-history.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { REPLICA_SET } from '../../src/sandbox/resources.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/sandbox.ts';

const run = promisify(execFile);
const REVISION = 'deployment.kubernetes.io/revision';
const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';

const MANIFEST = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
`;

let sandbox: Sandbox | undefined;

afterEach(async () => {
  await sandbox?.stop();
  sandbox = undefined;
});

interface Result {
  code: number;
  out: string;
}

async function kubectl(sb: Sandbox, ...args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run('kubectl', ['--kubeconfig', sb.kubeconfigPath, ...args], {
      timeout: 30_000,
    });
    return { code: 0, out: stdout + stderr };
  } catch (error: any) {
    return { code: typeof error.code === 'number' ? error.code : -1, out: `${error.stdout}${error.stderr}` };
  }
}

async function ok(sb: Sandbox, ...args: string[]): Promise<string> {
  const result = await kubectl(sb, ...args);
  expect(result.code, `kubectl ${args.join(' ')}: ${result.out}`).toBe(0);
  return result.out;
}

/** The ReplicaSets by name, with their revision annotations. */
function replicaSets(
  sb: Sandbox,
): Map<string, { uid: string; revision?: string; history?: string; replicas: number }> {
  return new Map(
    sb.store.list(REPLICA_SET).map((rs) => [
      rs.metadata.name,
      {
        uid: rs.metadata.uid!,
        ...(rs.metadata.annotations?.[REVISION] ? { revision: rs.metadata.annotations[REVISION] } : {}),
        ...(rs.metadata.annotations?.[REVISION_HISTORY]
          ? { history: rs.metadata.annotations[REVISION_HISTORY] }
          : {}),
        replicas: rs.spec.replicas,
      },
    ]),
  );
}

function nameOfRevision(sb: Sandbox, revision: string): string | undefined {
  return [...replicaSets(sb)].find(([, rs]) => rs.revision === revision)?.[0];
}

describe('kubectl rollout against the sandbox', () => {
  it('rolls out, shows history, and undoes onto the old ReplicaSets', async () => {
    const sb = (sandbox = await startSandbox({ podReadyMs: 30 }));
    const manifest = path.join(path.dirname(sb.kubeconfigPath), 'web.yaml');
    await writeFile(manifest, MANIFEST);

    await ok(sb, 'apply', '-f', manifest);
    expect(await ok(sb, 'rollout', 'status', 'deployment/web', '--timeout=30s')).toContain(
      'deployment "web" successfully rolled out',
    );
    const first = nameOfRevision(sb, '1')!;
    expect(first).toMatch(/^web-/);

    await ok(sb, 'set', 'image', 'deployment/web', 'nginx=nginx:1.28');
    await ok(sb, 'annotate', 'deployment/web', 'kubernetes.io/change-cause=bump to 1.28');
    await ok(sb, 'rollout', 'status', 'deployment/web', '--timeout=30s');
    const second = nameOfRevision(sb, '2')!;
    expect(second).not.toBe(first);
    const history = await ok(sb, 'rollout', 'history', 'deployment/web');
    expect(history).toMatch(/1\s+<none>/);
    expect(history).toMatch(/2\s+bump to 1\.28/);

    // undo: back to revision 1's template, on revision 1's ReplicaSet, now revision 3.
    const uidOfFirst = replicaSets(sb).get(first)!.uid;
    expect(await ok(sb, 'rollout', 'undo', 'deployment/web')).toContain('rolled back');
    await ok(sb, 'rollout', 'status', 'deployment/web', '--timeout=30s');
    let sets = replicaSets(sb);
    expect(sets.size).toBe(2);
    expect(sets.get(first)).toMatchObject({ uid: uidOfFirst, revision: '3', history: '1', replicas: 3 });
    expect(sets.get(second)).toMatchObject({ revision: '2', replicas: 0 });
    expect(await ok(sb, 'get', 'deployment/web', '-o', 'jsonpath={.metadata.annotations}')).toContain(
      `"${REVISION}":"3"`,
    );

    // undo --to-revision=2: revision 2's ReplicaSet comes back as revision 4.
    await ok(sb, 'rollout', 'undo', 'deployment/web', '--to-revision=2');
    await ok(sb, 'rollout', 'status', 'deployment/web', '--timeout=30s');
    sets = replicaSets(sb);
    expect(sets.size).toBe(2);
    expect(sets.get(second)).toMatchObject({ revision: '4', history: '2', replicas: 3 });
    expect(sets.get(first)).toMatchObject({ revision: '3', history: '1', replicas: 0 });
    const after = await ok(sb, 'rollout', 'history', 'deployment/web');
    expect(after).toMatch(/3\s+<none>/);
    expect(after).toMatch(/4\s+bump to 1\.28/);
    expect(
      await ok(sb, 'get', 'deployment/web', '-o', 'jsonpath={.spec.template.spec.containers[0].image}'),
    ).toBe('nginx:1.28');
  });

  it('fails rollout status once the progress deadline passes', async () => {
    const sb = (sandbox = await startSandbox({ podReadyMs: 30, unreadyImages: ['*:broken'] }));
    const manifest = path.join(path.dirname(sb.kubeconfigPath), 'web.yaml');
    await writeFile(
      manifest,
      MANIFEST.replace('  replicas: 3\n', '  replicas: 3\n  progressDeadlineSeconds: 1\n'),
    );
    await ok(sb, 'apply', '-f', manifest);
    await ok(sb, 'rollout', 'status', 'deployment/web', '--timeout=30s');

    await ok(sb, 'set', 'image', 'deployment/web', 'nginx=nginx:broken');
    const status = await kubectl(sb, 'rollout', 'status', 'deployment/web', '--timeout=30s');
    expect(status.code).not.toBe(0);
    expect(status.out).toContain('deployment "web" exceeded its progress deadline');
    const pods = await ok(sb, 'get', 'pods');
    expect(pods).toContain('ImagePullBackOff');
  });
});
