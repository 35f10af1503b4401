// The shipped install against the sandbox with real kubectl and real Helm: `kubectl apply -k deploy/`
// (client-side, again as a no-op, then server-side), the objects it leaves (image = the package's
// version, Dockerfile's user and command, probes, hardening, the mounted config parses), and the
// Helm chart: `helm template` piped to `kubectl apply -f -`, rendering the kustomize base's objects.
// The sandbox runs with RBAC on, so kubectl talks to it over https with the admin token.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/index.ts';
import {
  CLUSTER_ROLE,
  CONFIG_MAP,
  DEPLOYMENT,
  NAMESPACE,
  ROLE,
  SERVICE_ACCOUNT,
} from '../../src/sandbox/resources.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/sandbox.ts';
import type { KubeObject } from '../../src/sandbox/store.ts';
import { granted, rulesOf } from '../helpers/rbac.ts';
import { helmTemplate, manifestObjects as docs } from '../helpers/helm.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const DEPLOY = path.join(ROOT, 'deploy');
const CHART = path.join(DEPLOY, 'chart', 'rewind');
const NS = 'rewind-system';
/** Labels Helm conventionally adds, which a kustomize base does not have (instance is in selectors too). */
const HELM_ONLY_LABELS = [
  'app.kubernetes.io/managed-by',
  'helm.sh/chart',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
];

let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'rewind-deploy-'));
});

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function rbacSandbox(): Promise<Sandbox> {
  return startSandbox({ access: { authorization: 'RBAC' }, podReadyMs: 50 });
}

/** kubectl as the sandbox admin; `input` goes to its stdin. Rejects on a non-zero exit. */
function kubectl(sandbox: Sandbox, args: string[], input?: string): Promise<string> {
  const all = ['--kubeconfig', sandbox.kubeconfigPath, '--cache-dir', path.join(scratch, 'cache'), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', all, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`kubectl ${args.join(' ')} exited ${code}: ${err}`));
    });
    child.stdin.end(input ?? '');
  });
}

/** Drops Helm's own labels wherever they are: metadata, selectors, Pod templates. */
function withoutHelmLabels(value: unknown): void {
  if (Array.isArray(value)) value.forEach(withoutHelmLabels);
  else if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const label of HELM_ONLY_LABELS) delete record[label];
    Object.values(record).forEach(withoutHelmLabels);
  }
}

/** An object as a comparison sees it: Helm's own labels dropped, rewind.yaml parsed. */
function normalised(object: KubeObject): KubeObject {
  const copy = structuredClone(object);
  withoutHelmLabels(copy);
  const config = (copy['data'] as Record<string, string> | undefined)?.['rewind.yaml'];
  if (config !== undefined) copy['data'] = { 'rewind.yaml': parse(config) };
  return copy;
}

function byKindAndName(objects: KubeObject[]): Record<string, KubeObject> {
  return Object.fromEntries(
    objects.map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, normalised(o)]),
  );
}

function dockerfile(keyword: string, text: string): string | undefined {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${keyword} `))
    .at(-1)
    ?.slice(keyword.length + 1)
    .trim();
}

describe('kubectl apply -k deploy/', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await rbacSandbox();
  }, 60_000);
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('applies cleanly, then as a no-op, then server-side, and Rewind rolls out', async () => {
    const first = await kubectl(sandbox, ['apply', '-k', DEPLOY]);
    // The sandbox has rewind-system from the start (its Leases live there), a cluster may not.
    expect(first).toMatch(/^namespace\/rewind-system (created|configured)$/m);
    for (const created of [
      'serviceaccount/rewind created',
      'clusterrole.rbac.authorization.k8s.io/rewind created',
      'clusterrolebinding.rbac.authorization.k8s.io/rewind created',
      'role.rbac.authorization.k8s.io/rewind-switches created',
      'rolebinding.rbac.authorization.k8s.io/rewind-switches created',
      'persistentvolumeclaim/rewind-redis-data created',
      'networkpolicy.networking.k8s.io/rewind-redis created',
      'deployment.apps/rewind created',
    ])
      expect(first).toContain(created);
    const again = await kubectl(sandbox, ['apply', '-k', DEPLOY]);
    expect(
      again
        .trim()
        .split('\n')
        .every((line) => line.endsWith(' unchanged')),
      again,
    ).toBe(true);
    expect(await kubectl(sandbox, ['apply', '--server-side', '-k', DEPLOY])).toContain(
      'deployment.apps/rewind serverside-applied',
    );
    expect(
      await kubectl(sandbox, ['-n', NS, 'rollout', 'status', 'deployment/rewind', '--timeout=60s']),
    ).toContain('successfully rolled out');
    // kubectl get prints the install's kinds with the columns a real API server serves.
    const printed = await kubectl(sandbox, [
      '-n',
      NS,
      'get',
      'serviceaccounts,pvc,rolebindings,networkpolicies',
    ]);
    expect(printed).toMatch(/^serviceaccount\/rewind\s+0\s+\d+s$/m);
    expect(printed).toMatch(
      /^persistentvolumeclaim\/rewind-redis-data\s+Pending\s+<unset>\s+<unset>\s+\d+s$/m,
    );
    expect(printed).toMatch(
      /^rolebinding\.rbac\.authorization\.k8s\.io\/rewind-switches\s+Role\/rewind-switches\s+\d+s$/m,
    );
    expect(printed).toMatch(
      /^networkpolicy\.networking\.k8s\.io\/rewind-redis\s+app\.kubernetes\.io\/component=redis,app\.kubernetes\.io\/name=rewind\s+\d+s$/m,
    );
    expect(sandbox.store.get(NAMESPACE, undefined, NS)?.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
    });
  }, 120_000);

  it('runs the image of this version, as the Dockerfile runs it, hardened, probed, with its config mounted', async () => {
    const { version } = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    const docker = await readFile(path.join(ROOT, 'Dockerfile'), 'utf8');
    const pod = sandbox.store.get(DEPLOYMENT, NS, 'rewind')!.spec.template.spec;
    const [container] = pod.containers;
    expect(container.image).toBe(`ghcr.io/rewind-bot/rewind:${version}`);
    const [uid] = (dockerfile('USER', docker) ?? '').split(':');
    expect(pod.securityContext.runAsUser).toBe(Number(uid));
    expect(container.args).toEqual(JSON.parse(dockerfile('CMD', docker) ?? '[]'));
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    const port = container.ports.find((p: { name: string }) => p.name === 'http');
    expect(port.containerPort).toBe(8080);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(sandbox.store.get(SERVICE_ACCOUNT, NS, pod.serviceAccountName)).toBeDefined();

    const configPath = container.args[container.args.indexOf('--config') + 1] as string;
    const mount = container.volumeMounts.find((m: { mountPath: string }) =>
      configPath.startsWith(`${m.mountPath}/`),
    );
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    const configMap = sandbox.store.get(CONFIG_MAP, NS, volume.configMap.name)!;
    const config = parseConfig(
      parse(
        configMap['data'] ? (configMap['data'] as Record<string, string>)[path.basename(configPath)]! : '',
      ),
      {
        env: {},
      },
    );
    // The pause switch the config names is the one the Role grants get/patch on.
    const switches = sandbox.store.get(ROLE, config.chatops.pauseConfigMap.namespace, 'rewind-switches')!;
    expect((switches['rules'] as { resourceNames?: string[] }[])[0]!.resourceNames).toEqual([
      config.chatops.pauseConfigMap.name,
    ]);
    expect(sandbox.store.get(CLUSTER_ROLE, undefined, 'rewind')).toBeDefined();
  });
});

describe('the Helm chart (deploy/chart/rewind), rendered by real Helm', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await rbacSandbox();
  }, 60_000);
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('renders exactly the kustomize base objects by default (with namespace.create)', async () => {
    const chart = docs(await helmTemplate(CHART, 'rewind', NS, ['namespace.create=true']));
    const base = docs((await run('kubectl', ['kustomize', DEPLOY], { timeout: 60_000 })).stdout);
    expect(byKindAndName(chart)).toEqual(byKindAndName(base));
  }, 300_000);

  it('applies to the sandbox with kubectl apply -f -, client-side and server-side, and rolls out', async () => {
    const manifest = await helmTemplate(CHART, 'rewind', NS, ['namespace.create=true']);
    expect(await kubectl(sandbox, ['apply', '-f', '-'], manifest)).toContain(
      'deployment.apps/rewind created',
    );
    expect(await kubectl(sandbox, ['apply', '--server-side', '-f', '-'], manifest)).toContain(
      'deployment.apps/rewind serverside-applied',
    );
    expect(
      await kubectl(sandbox, ['-n', NS, 'rollout', 'status', 'deployment/rewind', '--timeout=60s']),
    ).toContain('successfully rolled out');
  }, 300_000);

  it('grants the same rules per namespace with rbac.scope=namespaced, and watches only those namespaces', async () => {
    const manifest = await helmTemplate(CHART, 'rewind', NS, [
      'rbac.scope=namespaced',
      'rbac.namespaces={apps,payments}',
    ]);
    const objects = docs(manifest);
    const clusterWide = docs(await helmTemplate(CHART, 'rewind', NS));
    const mainRules = (list: KubeObject[], kind: string) =>
      granted(rulesOf(list.filter((o) => o.kind === kind && o.metadata.name === 'rewind')));
    expect(objects.filter((o) => o.kind.startsWith('Cluster'))).toEqual([]);
    expect(
      objects
        .filter((o) => o.kind === 'RoleBinding' && o.metadata.name === 'rewind')
        .map((o) => o.metadata.namespace),
    ).toEqual(['apps', 'payments']);
    expect(mainRules(objects, 'Role')).toEqual(mainRules(clusterWide, 'ClusterRole'));
    const configMap = objects.find((o) => o.kind === 'ConfigMap')!;
    expect(
      parse((configMap['data'] as Record<string, string>)['rewind.yaml']!).kubernetes.namespaces,
    ).toEqual(['apps', 'payments']);
    await kubectl(sandbox, ['create', 'namespace', 'apps']);
    await kubectl(sandbox, ['create', 'namespace', 'payments']);
    expect(await kubectl(sandbox, ['apply', '--dry-run=server', '-f', '-'], manifest)).toContain(
      'role.rbac.authorization.k8s.io/rewind created (server dry run)',
    );
  }, 300_000);

  it('leaves Redis out when redis.enabled=false and points Rewind at redis.externalUrl', async () => {
    const objects = docs(
      await helmTemplate(CHART, 'rewind', NS, [
        'redis.enabled=false',
        'redis.externalUrl=redis://redis.example:6379',
      ]),
    );
    expect(objects.filter((o) => o.metadata.name.startsWith('rewind-redis'))).toEqual([]);
    const env = objects.find((o) => o.kind === 'Deployment')!.spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'REWIND_REDIS_URL', value: 'redis://redis.example:6379' });
  }, 300_000);
});
