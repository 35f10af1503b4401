// The sandbox API server with RBAC on, against real kubectl and raw HTTPS: tokens from
// `kubectl create token`, Kubernetes' rule matching (namespace scope of RoleBindings, resourceNames,
// subresources, a list or watch narrowed to one name), 401/403 Status bodies as kube-apiserver
// writes them, tokens that die with their ServiceAccount, the audit log, and `kubectl auth can-i`
// (SelfSubjectAccessReview, SelfSubjectRulesReview) answering from the same rules.
import { execFile } from 'node:child_process';
import https from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeconfigYaml, type Sandbox, startSandbox } from '../../src/sandbox/sandbox.ts';

const run = promisify(execFile);
const USER = 'system:serviceaccount:team:bot';

const POLICY = `
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: bot, namespace: team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: switch, namespace: team}
rules:
  - {apiGroups: [''], resources: [configmaps], resourceNames: [switch], verbs: [get, list, watch]}
  - {apiGroups: [apps], resources: [deployments/scale], verbs: [patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: switch, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: switch}
subjects: [{kind: ServiceAccount, name: bot}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: deployment-reader}
rules:
  - {apiGroups: [apps], resources: [deployments], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: deployment-reader, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: deployment-reader}
subjects: [{kind: ServiceAccount, name: bot, namespace: team}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: switch, namespace: team}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: other, namespace: team}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: team}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.25}]}
`;

let sandbox: Sandbox;
let scratch: string;
let token: string;
let botConfig: string;

/** kubectl with a kubeconfig; resolves to {code, stdout, stderr} instead of throwing. */
async function kubectl(
  kubeconfig: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(
      'kubectl',
      ['--kubeconfig', kubeconfig, '--cache-dir', path.join(scratch, 'cache'), ...args],
      { timeout: 30_000 },
    );
    return { code: 0, out: stdout, err: stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: e.stdout ?? '', err: e.stderr ?? '' };
  }
}

/** A raw request over https (self-signed), with an optional bearer token and JSON body. */
function request(
  method: string,
  urlPath: string,
  bearer?: string,
  json?: unknown,
): Promise<{ status: number; body: Record<string, any> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(urlPath, sandbox.url),
      {
        method,
        rejectUnauthorized: false,
        headers: {
          ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}),
          ...(json === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(json === undefined ? undefined : JSON.stringify(json));
  });
}

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'rewind-sandbox-rbac-'));
  sandbox = await startSandbox({ access: { authorization: 'RBAC', audit: true }, podReadyMs: 50 });
  const policy = path.join(scratch, 'policy.yaml');
  await writeFile(policy, POLICY);
  const applied = await kubectl(sandbox.kubeconfigPath, ['apply', '-f', policy]);
  expect(applied.code, applied.err).toBe(0);
  const minted = await kubectl(sandbox.kubeconfigPath, ['-n', 'team', 'create', 'token', 'bot']);
  expect(minted.code, minted.err).toBe(0);
  token = minted.out.trim();
  botConfig = path.join(scratch, 'bot.kubeconfig');
  await writeFile(botConfig, kubeconfigYaml(sandbox.url, token));
}, 60_000);

afterAll(async () => {
  await sandbox?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('the sandbox API server with RBAC', () => {
  it('answers requests without a valid token with the 401 Status kube-apiserver sends', async () => {
    const unauthorized = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    };
    expect(await request('GET', '/api/v1/namespaces')).toEqual({ status: 401, body: unauthorized });
    expect(await request('GET', '/version', 'not-a-token')).toEqual({ status: 401, body: unauthorized });
  });

  it('lets a ServiceAccount discover the API and read /version without any grant', async () => {
    expect((await request('GET', '/version', token)).status).toBe(200);
    const resources = await kubectl(botConfig, ['api-resources', '--api-group=rbac.authorization.k8s.io']);
    expect(resources.code, resources.err).toBe(0);
    expect(resources.out).toContain('clusterrolebindings');
  });

  it("refuses what no rule grants, with kube-apiserver's 403 body and kubectl's message", async () => {
    const secrets = await kubectl(botConfig, ['get', 'secrets', '-A']);
    expect(secrets.code).not.toBe(0);
    expect(secrets.err).toContain(
      `Error from server (Forbidden): secrets is forbidden: User "${USER}" cannot list resource "secrets" in API group "" at the cluster scope`,
    );
    expect(await request('GET', '/apis/apps/v1/namespaces/other/deployments/web', token)).toEqual({
      status: 403,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `deployments.apps "web" is forbidden: User "${USER}" cannot get resource "deployments" in API group "apps" in the namespace "other"`,
        reason: 'Forbidden',
        details: { name: 'web', group: 'apps', kind: 'deployments' },
        code: 403,
      },
    });
  });

  it('limits a ClusterRole bound by a RoleBinding to that namespace', async () => {
    expect((await kubectl(botConfig, ['-n', 'team', 'get', 'deployments'])).code).toBe(0);
    expect((await kubectl(botConfig, ['-n', 'other', 'get', 'deployments'])).err).toContain(
      'cannot list resource "deployments" in API group "apps" in the namespace "other"',
    );
  });

  it('grants by resourceNames: the named object, a list or watch narrowed to it, nothing else', async () => {
    expect((await kubectl(botConfig, ['-n', 'team', 'get', 'configmap', 'switch'])).code).toBe(0);
    expect((await kubectl(botConfig, ['-n', 'team', 'get', 'configmap', 'other'])).err).toContain(
      'configmaps "other" is forbidden',
    );
    const narrowed = '/api/v1/namespaces/team/configmaps?fieldSelector=metadata.name%3Dswitch';
    expect((await request('GET', narrowed, token)).status).toBe(200);
    expect((await request('GET', '/api/v1/namespaces/team/configmaps', token)).status).toBe(403);
  });

  it('tells a subresource from its resource', async () => {
    const scaled = await kubectl(botConfig, ['-n', 'team', 'scale', 'deployment/web', '--replicas=2']);
    expect(scaled.code, scaled.err).toBe(0);
    expect(
      (await kubectl(botConfig, ['-n', 'team', 'set', 'image', 'deployment/web', 'web=nginx:1.27'])).err,
    ).toContain('cannot patch resource "deployments" in API group "apps" in the namespace "team"');
  });

  it('answers kubectl auth can-i from the Roles, ClusterRoles and bindings of the token', async () => {
    const canI = async (config: string, ...args: string[]) => {
      const result = await kubectl(config, ['auth', 'can-i', ...args]);
      return `${result.out.trim()} (${result.code})`;
    };
    expect(await canI(botConfig, 'get', 'configmaps/switch', '-n', 'team')).toBe('yes (0)');
    expect(await canI(botConfig, 'get', 'configmaps/other', '-n', 'team')).toBe('no (1)');
    expect(await canI(botConfig, 'list', 'deployments.apps', '-n', 'team')).toBe('yes (0)');
    expect(await canI(botConfig, 'list', 'deployments.apps', '-n', 'other')).toBe('no (1)');
    expect(await canI(botConfig, 'list', 'pods')).toBe('no (1)');
    expect(await canI(botConfig, 'patch', 'deployments.apps', '--subresource=scale', '-n', 'team')).toBe(
      'yes (0)',
    );
    expect(await canI(botConfig, 'patch', 'deployments.apps', '-n', 'team')).toBe('no (1)');
    expect(await canI(botConfig, 'get', '/version')).toBe('yes (0)');
    expect(await canI(botConfig, 'get', '/metrics')).toBe('no (1)');
    // The sandbox's own token is the admin (system:masters).
    expect(await canI(sandbox.kubeconfigPath, 'delete', 'secrets', '-A')).toBe('yes (0)');

    const reviewed = await request('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', token, {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: {
        resourceAttributes: { namespace: 'team', verb: 'get', resource: 'configmaps', name: 'switch' },
      },
    });
    expect(reviewed.status).toBe(201);
    expect(reviewed.body['status']).toEqual({
      allowed: true,
      reason: 'RBAC: allowed by RoleBinding "switch/team" of Role "switch" to ServiceAccount "bot/team"',
    });
  });

  it('lists what the token may do with kubectl auth can-i --list (SelfSubjectRulesReview)', async () => {
    const listed = await kubectl(botConfig, ['auth', 'can-i', '--list', '-n', 'team']);
    expect(listed.code, listed.err).toBe(0);
    const rows = listed.out.split('\n').map((line) => line.trim().split(/\s{2,}/));
    expect(rows[0]).toEqual(['Resources', 'Non-Resource URLs', 'Resource Names', 'Verbs']);
    expect(rows).toContainEqual(['configmaps', '[]', '[switch]', '[get list watch]']);
    expect(rows).toContainEqual(['deployments.apps/scale', '[]', '[]', '[patch]']);
    expect(rows).toContainEqual(['deployments.apps', '[]', '[]', '[get list]']);
    expect(rows).toContainEqual(['selfsubjectaccessreviews.authorization.k8s.io', '[]', '[]', '[create]']);
    // A non-resource row has an empty first column.
    expect(rows).toContainEqual(['[/version]', '[]', '[get]']);
    // Another namespace: only what every authenticated user gets.
    const other = await kubectl(botConfig, ['auth', 'can-i', '--list', '-n', 'other']);
    expect(other.out).not.toContain('configmaps');
    expect(other.out).not.toContain('deployments');
  });

  it('applies a changed Role with kubectl (a strategic merge patch that replaces the rules) and enforces it at once', async () => {
    const changed = path.join(scratch, 'changed.yaml');
    await writeFile(
      changed,
      POLICY.replace(
        'resources: [deployments/scale], verbs: [patch]',
        'resources: [deployments], verbs: [patch]',
      ),
    );
    const applied = await kubectl(sandbox.kubeconfigPath, ['apply', '-f', changed]);
    expect(applied.out).toContain('role.rbac.authorization.k8s.io/switch configured');
    const imageSet = await kubectl(botConfig, [
      '-n',
      'team',
      'set',
      'image',
      'deployment/web',
      'web=nginx:1.27',
    ]);
    expect(imageSet.code, imageSet.err).toBe(0);
    expect(
      (await kubectl(botConfig, ['-n', 'team', 'scale', 'deployment/web', '--replicas=3'])).err,
    ).toContain('cannot patch resource "deployments/scale" in API group "apps" in the namespace "team"');
  });

  it('records every request in the audit log, in RBAC terms', () => {
    const mine = sandbox.api.access.audit.filter((entry) => entry.user === USER);
    expect(mine).toContainEqual({
      user: USER,
      verb: 'patch',
      apiGroup: 'apps',
      resource: 'deployments',
      subresource: 'scale',
      namespace: 'team',
      name: 'web',
      allowed: true,
    });
    expect(mine).toContainEqual(
      expect.objectContaining({ verb: 'list', resource: 'secrets', namespace: '', allowed: false }),
    );
  });

  it('stops accepting a token once its ServiceAccount is deleted', async () => {
    expect(
      (await kubectl(sandbox.kubeconfigPath, ['-n', 'team', 'delete', 'serviceaccount', 'bot'])).code,
    ).toBe(0);
    expect((await request('GET', '/version', token)).status).toBe(401);
  });
});

describe('kubectl auth can-i without RBAC', () => {
  it('answers yes to everything, as the AlwaysAllow authorizer does', async () => {
    const open = await startSandbox({ podReadyMs: 50, argo: false });
    try {
      const canI = (...args: string[]) => kubectl(open.kubeconfigPath, ['auth', 'can-i', ...args]);
      expect((await canI('list', 'pods')).out.trim()).toBe('yes');
      expect((await canI('delete', 'deployments.apps', '-n', 'anywhere')).out.trim()).toBe('yes');
      const listed = await canI('--list');
      expect(listed.code, listed.err).toBe(0);
      expect(listed.out).toMatch(/^\*\.\* +\[\] +\[\] +\[\*\]$/m);
    } finally {
      await open.stop();
    }
  });
});
