// The same scripted kubectl session against the sandbox with every kubectl on the machine (the Google
// Cloud SDK ships 1.27 ... 1.33 next to its `kubectl` dispatcher), one sandbox per version, all in
// parallel. Prints the matrix (copied into docs/sandbox.md). A release that is not
// installed is reported as such, not failed; steps whose server side is not modelled yet are listed
// as skipped with the reason.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';

const run = promisify(execFile);
const SDK_BIN = '/usr/lib/google-cloud-sdk/bin';
const DEPLOY = path.resolve(import.meta.dirname, '../../deploy');
const RELEASES = ['1.27', '1.28', '1.29', '1.30', '1.31', '1.32', '1.33'];

/** Steps whose server side is not modelled yet; they show as skipped with this reason. */
const NOT_MODELLED: Readonly<Record<string, string>> = {};
/** Steps that need server-side apply, skipped (with this reason) on a build that answers it 415. */
const NEEDS_SERVER_SIDE_APPLY: Readonly<Record<string, string>> = {
  'apply --server-side': 'server-side apply not modelled (415)',
  diff: 'server-side apply not modelled (415)',
};

async function serverSideApplyServed(sandbox: Sandbox): Promise<boolean> {
  const response = await fetch(
    `${sandbox.url}/api/v1/namespaces/default/configmaps/matrix-probe?dryRun=All`,
    {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/apply-patch+yaml' },
      body: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: matrix-probe}\n',
    },
  );
  await response.arrayBuffer();
  return response.status !== 415;
}

/** kubectl diff exits 1 when it found differences; resolves to what it printed. */
async function diffOutput(kubectl: Kubectl, args: string[]): Promise<string> {
  try {
    return await kubectl(['diff', ...args]);
  } catch (error) {
    const failure = error as { code?: number; stdout?: string };
    if (failure.code === 1 && failure.stdout) return failure.stdout;
    throw error;
  }
}

type Kubectl = (args: string[]) => Promise<string>;
type Step = { name: string; run: (kubectl: Kubectl, dir: string) => Promise<void> };

const APPLIED = `apiVersion: v1
kind: Namespace
metadata: {name: applied}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: applied, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: nginx, image: "nginx:1.27", ports: [{containerPort: 80}], resources: {}}]}
  strategy: {}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: applied}
data: {greeting: hello}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: applied}
data: {password: czNjcmV0}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: applied, labels: {app: web}}
spec:
  type: ClusterIP
  selector: {app: web}
  ports: [{name: 80-8080, port: 80, protocol: TCP, targetPort: 8080}]
`;

/** What `create` must have produced like `apply`: spec/data after defaulting, without allocated IPs. */
async function comparable(kubectl: Kubectl, kind: string, name: string, namespace: string): Promise<unknown> {
  const object = JSON.parse(await kubectl(['get', kind, name, '-n', namespace, '-o', 'json']));
  if (object.spec) {
    delete object.spec.clusterIP;
    delete object.spec.clusterIPs;
  }
  return { spec: object.spec, data: object.data, type: object.type, labels: object.metadata.labels };
}

const STEPS: Step[] = [
  { name: 'create namespace', run: async (k) => void (await k(['create', 'namespace', 'shop'])) },
  {
    name: 'create deployment',
    run: async (k) =>
      void (await k([
        'create',
        'deployment',
        'web',
        '-n',
        'shop',
        '--image=nginx:1.27',
        '--replicas=2',
        '--port=80',
      ])),
  },
  {
    name: 'create configmap',
    run: async (k) =>
      void (await k(['create', 'configmap', 'cfg', '-n', 'shop', '--from-literal=greeting=hello'])),
  },
  {
    name: 'create secret generic',
    run: async (k) =>
      void (await k([
        'create',
        'secret',
        'generic',
        'creds',
        '-n',
        'shop',
        '--from-literal=password=s3cret',
      ])),
  },
  {
    name: 'create service clusterip',
    run: async (k) =>
      void (await k(['create', 'service', 'clusterip', 'web', '-n', 'shop', '--tcp=80:8080'])),
  },
  {
    name: 'apply (same objects as create)',
    run: async (k, dir) => {
      const file = path.join(dir, 'applied.yaml');
      await writeFile(file, APPLIED);
      await k(['apply', '-f', file]);
      for (const [kind, name] of [
        ['deployment', 'web'],
        ['configmap', 'cfg'],
        ['secret', 'creds'],
        ['service', 'web'],
      ] as const) {
        expect(await comparable(k, kind, name, 'shop'), `${kind}/${name}`).toEqual(
          await comparable(k, kind, name, 'applied'),
        );
      }
    },
  },
  {
    name: 'apply --server-side',
    run: async (k, dir) => {
      const file = path.join(dir, 'ssa.yaml');
      const configMap = (value: string) =>
        `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, namespace: shop}\ndata: {owner: ${value}}\n`;
      await writeFile(file, configMap('first'));
      await k(['apply', '--server-side', '--field-manager=first', '-f', file]);
      await writeFile(file, configMap('second'));
      await expect(k(['apply', '--server-side', '--field-manager=second', '-f', file])).rejects.toMatchObject(
        {
          stderr: expect.stringContaining('conflict'),
        },
      );
      await k(['apply', '--server-side', '--field-manager=second', '--force-conflicts', '-f', file]);
    },
  },
  {
    name: 'diff',
    run: async (k, dir) => {
      const file = path.join(dir, 'applied.yaml');
      await writeFile(file, APPLIED.replace('nginx:1.27', 'nginx:1.29'));
      expect(await diffOutput(k, ['-f', file])).toMatch(
        /^\+\s+- image: nginx:1\.29|^\+\s+image: nginx:1\.29/m,
      );
    },
  },
  {
    name: 'get --chunk-size',
    run: async (k) => {
      const list = (extra: string[]) =>
        k(['get', 'configmaps,secrets,services', '-n', 'shop', ...extra, '-o', 'name']).then((out) =>
          out.split('\n').filter(Boolean).sort(),
        );
      // One object per page: kubectl follows the continue tokens and gets the same list as unpaged.
      const chunked = await list(['--chunk-size=1']);
      expect(chunked).toEqual(expect.arrayContaining(['configmap/cfg', 'secret/creds', 'service/web']));
      expect(chunked).toEqual(await list(['--chunk-size=0']));
    },
  },
  {
    name: 'rollout status',
    run: async (k) => void (await k(['rollout', 'status', 'deployment/web', '-n', 'shop', '--timeout=30s'])),
  },
  {
    name: 'rollout history',
    run: async (k) => {
      await k(['set', 'image', 'deployment/web', '-n', 'shop', 'nginx=nginx:1.28']);
      await k(['rollout', 'status', 'deployment/web', '-n', 'shop', '--timeout=30s']);
      expect(await k(['rollout', 'history', 'deployment/web', '-n', 'shop'])).toMatch(/^1\s.*\n2\s/m);
    },
  },
  {
    name: 'rollout undo',
    run: async (k) => {
      await k(['rollout', 'undo', 'deployment/web', '-n', 'shop']);
      await k(['rollout', 'status', 'deployment/web', '-n', 'shop', '--timeout=30s']);
      expect(
        await k([
          'get',
          'deployment',
          'web',
          '-n',
          'shop',
          '-o',
          'jsonpath={.spec.template.spec.containers[0].image}',
        ]),
      ).toBe('nginx:1.27');
    },
  },
  {
    name: 'rollout pause/resume',
    run: async (k) => {
      await k(['rollout', 'pause', 'deployment/web', '-n', 'shop']);
      expect(await k(['get', 'deployment', 'web', '-n', 'shop', '-o', 'jsonpath={.spec.paused}'])).toBe(
        'true',
      );
      await k(['rollout', 'resume', 'deployment/web', '-n', 'shop']);
    },
  },
  {
    name: 'scale',
    run: async (k) => {
      await k(['scale', 'deployment/web', '-n', 'shop', '--replicas=3']);
      await k(['rollout', 'status', 'deployment/web', '-n', 'shop', '--timeout=30s']);
    },
  },
  { name: 'label', run: async (k) => void (await k(['label', 'deployment/web', '-n', 'shop', 'tier=web'])) },
  {
    name: 'annotate',
    run: async (k) => void (await k(['annotate', 'deployment/web', '-n', 'shop', 'note=hi'])),
  },
  {
    name: 'wait',
    run: async (k) =>
      void (await k(['wait', '--for=condition=Available', 'deployment/web', '-n', 'shop', '--timeout=30s'])),
  },
  {
    name: 'events',
    run: async (k) =>
      expect(await k(['events', '-n', 'shop'])).toMatch(/ScalingReplicaSet\s+Deployment\/web/),
  },
  {
    name: 'delete',
    run: async (k) => {
      await k(['delete', 'configmap', 'cfg', '-n', 'shop']);
      await k(['delete', 'namespace', 'applied']);
    },
  },
  {
    name: 'delete --cascade=foreground/orphan',
    run: async (k) => {
      await k(['create', 'deployment', 'cascade', '--image=nginx:1.27', '-n', 'shop']);
      await k(['rollout', 'status', 'deployment/cascade', '-n', 'shop', '--timeout=30s']);
      // Orphan: the Deployment goes, its ReplicaSet and Pods stay, without the owner reference.
      await k(['delete', 'deployment', 'cascade', '-n', 'shop', '--cascade=orphan']);
      const names = async (kind: string) =>
        (await k(['get', kind, '-n', 'shop', '-l', 'app=cascade', '-o', 'name'])).split('\n').filter(Boolean);
      const [rs] = await names('rs');
      expect(rs).toBeDefined();
      expect((await names('pods')).length).toBeGreaterThan(0);
      // Foreground: the Pods are deleted before the ReplicaSet itself.
      await k(['delete', rs!, '-n', 'shop', '--cascade=foreground', '--wait=true', '--timeout=30s']);
      expect(await names('rs')).toEqual([]);
      expect(await names('pods')).toEqual([]);
    },
  },
  {
    name: 'apply -k deploy/ (install kinds)',
    run: async (k) => {
      const out = await k(['apply', '-k', DEPLOY]);
      expect(out).toContain('clusterrolebinding.rbac.authorization.k8s.io/rewind created');
      expect(out).toContain('persistentvolumeclaim/rewind-redis-data created');
      expect(out).toContain('networkpolicy.networking.k8s.io/rewind-redis created');
    },
  },
  {
    name: 'create token',
    run: async (k) =>
      expect((await k(['create', 'token', 'rewind', '-n', 'rewind-system'])).trim()).not.toBe(''),
  },
];

type Outcome = 'pass' | 'FAIL' | 'skip' | 'not installed';
const results = new Map<string, Map<string, { outcome: Outcome; detail?: string }>>();
const sandboxes: Sandbox[] = [];
const scratch: string[] = [];

afterAll(async () => {
  await Promise.all(sandboxes.map((sandbox) => sandbox.stop()));
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function session(release: string): Promise<void> {
  const column = new Map<string, { outcome: Outcome; detail?: string }>();
  results.set(release, column);
  const binary = path.join(SDK_BIN, `kubectl.${release}`);
  if (!existsSync(binary)) {
    for (const step of STEPS) column.set(step.name, { outcome: 'not installed' });
    return;
  }
  const sandbox = await startSandbox({ argo: false, podReadyMs: 50 });
  sandboxes.push(sandbox);
  const dir = await mkdtemp(path.join(tmpdir(), `rewind-matrix-${release}-`));
  scratch.push(dir);
  const kubectl: Kubectl = async (args) => {
    const base = ['--kubeconfig', sandbox.kubeconfigPath, '--cache-dir', path.join(dir, 'cache')];
    const { stdout } = await run(binary, [...base, ...args], { timeout: 45_000 });
    return stdout;
  };
  const ssa = await serverSideApplyServed(sandbox);
  for (const step of STEPS) {
    const reason = NOT_MODELLED[step.name] ?? (ssa ? undefined : NEEDS_SERVER_SIDE_APPLY[step.name]);
    if (reason) {
      column.set(step.name, { outcome: 'skip', detail: reason });
      continue;
    }
    try {
      await step.run(kubectl, dir);
      column.set(step.name, { outcome: 'pass' });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr;
      column.set(step.name, {
        outcome: 'FAIL',
        detail: (stderr || (error as Error).message).trim().slice(0, 400),
      });
    }
  }
}

/** The reason a step was skipped, if it was skipped for every release. */
function skipReason(step: string): string | undefined {
  const cells = [...results.values()].map((column) => column.get(step));
  return cells.every((cell) => cell?.outcome === 'skip') ? cells[0]?.detail : undefined;
}

function matrix(): string {
  const header = `| step | ${RELEASES.join(' | ')} |`;
  const rule = `|---|${RELEASES.map(() => '---').join('|')}|`;
  const rows = STEPS.map((step) => {
    const cells = RELEASES.map((release) => {
      const cell = results.get(release)?.get(step.name);
      if (!cell) return '?';
      return cell.outcome === 'pass' ? 'ok' : cell.outcome;
    });
    const reason = NOT_MODELLED[step.name] ?? skipReason(step.name);
    return `| ${step.name}${reason ? ` (${reason})` : ''} | ${cells.join(' | ')} |`;
  });
  return [header, rule, ...rows].join('\n');
}

describe('kubectl compatibility matrix', () => {
  it('runs the same session with every installed kubectl release', async () => {
    await Promise.all(RELEASES.map(session));
    console.log(
      `kubectl compatibility matrix (sandbox, ${new Date().toISOString().slice(0, 10)}):\n${matrix()}`,
    );
    const failures = [...results].flatMap(([release, column]) =>
      [...column]
        .filter(([, cell]) => cell.outcome === 'FAIL')
        .map(([step, cell]) => `kubectl ${release} / ${step}: ${cell.detail}`),
    );
    expect(failures).toEqual([]);
  }, 240_000);
});
