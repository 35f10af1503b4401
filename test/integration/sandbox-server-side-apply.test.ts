// Server-side apply on the sandbox, through real kubectl (apply --server-side, diff, get
// --show-managed-fields) and raw HTTP where kubectl hides the details: field managers, Kubernetes'
// conflict message, force, and fields a manager stops applying.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { mustResource } from '../../src/sandbox/resources.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';

const CONFIG_MAP_TYPE = mustResource('v1', 'ConfigMap');

const run = promisify(execFile);

let sandbox: Sandbox;
let scratch: string;

beforeAll(async () => {
  sandbox = await startSandbox({ argo: false });
  scratch = await mkdtemp(path.join(tmpdir(), 'rewind-ssa-'));
});

afterAll(async () => {
  await sandbox?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl (the release matching the server, through gcloud's dispatcher); never rejects. */
async function kubectl(args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run(
      'kubectl',
      ['--kubeconfig', sandbox.kubeconfigPath, '--cache-dir', path.join(scratch, 'cache'), ...args],
      { timeout: 30_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: Number(failure.code ?? -1), stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}

async function manifest(name: string, replicas: number, image = 'nginx:1.25'): Promise<string> {
  const file = path.join(scratch, `${name}-${replicas}-${image.replace(/\W/g, '')}.yaml`);
  await writeFile(
    file,
    `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
      - name: app
        image: ${image}
        ports:
        - containerPort: 8080
`,
  );
  return file;
}

function managers(object: any): Record<string, { operation: string; fieldsV1: any }> {
  return Object.fromEntries(
    (object.metadata.managedFields ?? []).map((entry: any) => [entry.manager, entry]),
  );
}

async function send(method: string, urlPath: string, body: string, contentType: string) {
  const response = await fetch(sandbox.url + urlPath, {
    method,
    body,
    headers: { 'Content-Type': contentType },
  });
  return { status: response.status, body: (await response.json()) as any };
}

const CONFIG_MAPS = '/api/v1/namespaces/default/configmaps';
const apply = (name: string, yaml: string, query: string) =>
  send('PATCH', `${CONFIG_MAPS}/${name}?${query}`, yaml, 'application/apply-patch+yaml');

describe('server-side apply', () => {
  it('answers a second field manager with Kubernetes conflict, and hands the field over with --force-conflicts', async () => {
    const first = await kubectl([
      'apply',
      '--server-side',
      '--field-manager',
      'a',
      '-f',
      await manifest('ssa', 2),
    ]);
    expect(first).toMatchObject({ code: 0, stdout: 'deployment.apps/ssa serverside-applied\n' });

    const conflicting = await manifest('ssa', 3);
    const refused = await kubectl(['apply', '--server-side', '--field-manager', 'b', '-f', conflicting]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('Apply failed with 1 conflict: conflict with "a": .spec.replicas');
    expect(refused.stderr).toContain('--force-conflicts');

    const forced = await kubectl([
      'apply',
      '--server-side',
      '--field-manager',
      'b',
      '--force-conflicts',
      '-f',
      conflicting,
    ]);
    expect(forced.code).toBe(0);
    const shown = parse(
      (await kubectl(['get', 'deployment', 'ssa', '-o', 'yaml', '--show-managed-fields'])).stdout,
    );
    expect(shown.spec.replicas).toBe(3);
    const owners = managers(shown);
    expect(owners['b']).toMatchObject({ operation: 'Apply', fieldsV1: { 'f:spec': { 'f:replicas': {} } } });
    expect(owners['a']!.fieldsV1['f:spec']['f:replicas']).toBeUndefined();
    // Both still co-own the container they both apply, keyed by name and its port by containerPort.
    for (const manager of ['a', 'b']) {
      expect(owners[manager]!.fieldsV1['f:spec']['f:template']['f:spec']['f:containers']).toEqual({
        'k:{"name":"app"}': {
          '.': {},
          'f:image': {},
          'f:name': {},
          'f:ports': { 'k:{"containerPort":8080,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
        },
      });
    }
    // kubectl hides managedFields unless asked.
    const plain = parse((await kubectl(['get', 'deployment', 'ssa', '-o', 'yaml'])).stdout);
    expect(plain.metadata.managedFields).toBeUndefined();
  });

  it('records Update managers for client-side apply, scale and label, and names them in conflicts', async () => {
    expect((await kubectl(['apply', '-f', await manifest('csa', 2)])).code).toBe(0);
    expect((await kubectl(['scale', 'deployment', 'csa', '--replicas', '4'])).code).toBe(0);
    expect((await kubectl(['label', 'deployment', 'csa', 'tier=web'])).code).toBe(0);
    const live = parse(
      (await kubectl(['get', 'deployment', 'csa', '-o', 'yaml', '--show-managed-fields'])).stdout,
    );
    const owners = managers(live);
    expect(owners['kubectl-client-side-apply']).toMatchObject({ operation: 'Update' });
    expect(owners['kubectl']).toMatchObject({
      operation: 'Update',
      subresource: 'scale',
      fieldsV1: { 'f:spec': { 'f:replicas': {} } },
    });
    expect(owners['kubectl-label']!.fieldsV1).toEqual({
      'f:metadata': { 'f:labels': { '.': {}, 'f:tier': {} } },
    });
    const refused = await kubectl(['apply', '--server-side', '-f', await manifest('csa', 5)]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      'Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas',
    );
  });

  it('prints a real diff and exits 1 with kubectl diff, then 0 once applied; the dry run changes nothing', async () => {
    const v1 = await manifest('diffed', 2, 'nginx:1.25');
    expect((await kubectl(['apply', '--server-side', '-f', v1])).code).toBe(0);
    // Settled first, as a person would: while the controller still writes status, the live object
    // kubectl diff reads and the one its dry run returns can differ in resourceVersion (a real
    // kube-apiserver too).
    expect((await kubectl(['rollout', 'status', 'deployment/diffed', '--timeout=25s'])).code).toBe(0);
    expect(await kubectl(['diff', '-f', v1])).toMatchObject({ code: 0, stdout: '' });
    expect(await kubectl(['diff', '--server-side', '-f', v1])).toMatchObject({ code: 0, stdout: '' });

    const v2 = await manifest('diffed', 2, 'nginx:1.27');
    for (const mode of [[], ['--server-side']]) {
      const diff = await kubectl(['diff', ...mode, '-f', v2]);
      expect(diff.code).toBe(1);
      expect(diff.stdout).toMatch(/^-\s+- image: nginx:1\.25$/m);
      expect(diff.stdout).toMatch(/^\+\s+- image: nginx:1\.27$/m);
    }
    const live = parse((await kubectl(['get', 'deployment', 'diffed', '-o', 'yaml'])).stdout);
    expect(live.spec.template.spec.containers[0].image).toBe('nginx:1.25');

    expect((await kubectl(['apply', '--server-side', '-f', v2])).code).toBe(0);
    expect((await kubectl(['rollout', 'status', 'deployment/diffed', '--timeout=25s'])).code).toBe(0);
    expect(await kubectl(['diff', '--server-side', '-f', v2])).toMatchObject({ code: 0, stdout: '' });
  });

  it('creates with 201, removes fields a manager stops applying unless another manager owns them', async () => {
    const created = await apply(
      'owned',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: owned}\ndata: {mine: "1", shared: "1", dropped: "1"}\n',
      'fieldManager=one',
    );
    expect(created.status).toBe(201);
    expect(managers(created.body)['one']).toMatchObject({
      operation: 'Apply',
      apiVersion: 'v1',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:data': { 'f:mine': {}, 'f:shared': {}, 'f:dropped': {} } },
    });
    // A second manager applying the same value co-owns it without conflict.
    const second = await apply(
      'owned',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: owned}\ndata: {shared: "1"}\n',
      'fieldManager=two',
    );
    expect(second.status).toBe(200);

    const dryRun = await apply(
      'owned',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: owned}\ndata: {mine: "2"}\n',
      'fieldManager=one&dryRun=All',
    );
    expect(dryRun.body.data).toEqual({ mine: '2', shared: '1' });
    expect(sandbox.store.get(CONFIG_MAP_TYPE, 'default', 'owned')!.data).toEqual({
      mine: '1',
      shared: '1',
      dropped: '1',
    });

    const narrowed = await apply(
      'owned',
      '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"owned"},"data":{"mine":"2"}}',
      'fieldManager=one',
    );
    expect(narrowed.status).toBe(200);
    expect(narrowed.body.data).toEqual({ mine: '2', shared: '1' });
    expect(managers(narrowed.body)['one']!.fieldsV1).toEqual({ 'f:data': { 'f:mine': {} } });

    const conflict = await apply(
      'owned',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: owned}\ndata: {mine: "3", shared: "3"}\n',
      'fieldManager=two',
    );
    expect(conflict.status).toBe(409);
    expect(conflict.body).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'Conflict',
      code: 409,
      message: 'Apply failed with 1 conflict: conflict with "one": .data.mine',
      details: {
        causes: [{ type: 'FieldManagerConflict', message: 'conflict with "one"', field: '.data.mine' }],
      },
    });
  });
});
