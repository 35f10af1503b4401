// The sandbox API server against real kubectl: discovery, client-side apply with validation on,
// server-side printing, watch, describe and the everyday mutating verbs. kubectl on PATH is gcloud's
// dispatcher, which runs the release matching the server's /version (1.32); a second release is
// pinned explicitly so the OpenAPI/discovery handshake is checked across versions.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEPLOYMENT, EVENT } from '../../src/sandbox/resources.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';

const run = promisify(execFile);
const KUBECTL_1_27 = '/usr/lib/google-cloud-sdk/bin/kubectl.1.27';
const KUBECTL_1_33 = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';

let sandbox: Sandbox;
let scratch: string;

beforeAll(async () => {
  sandbox = await startSandbox();
  scratch = await mkdtemp(path.join(tmpdir(), 'rewind-kubectl-'));
});

afterAll(async () => {
  await sandbox?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Runs kubectl against the sandbox with a private discovery cache; rejects on a non-zero exit. */
async function kubectl(args: string[], binary = 'kubectl'): Promise<string> {
  const { stdout } = await run(
    binary,
    [
      '--kubeconfig',
      sandbox.kubeconfigPath,
      '--cache-dir',
      path.join(scratch, 'cache', path.basename(binary)),
      ...args,
    ],
    { timeout: 30_000 },
  );
  return stdout;
}

/** Runs kubectl expecting it to fail; resolves to its stderr. */
async function kubectlFails(args: string[]): Promise<string> {
  try {
    await kubectl(args);
  } catch (error) {
    return String((error as { stderr?: unknown }).stderr);
  }
  throw new Error(`kubectl ${args.join(' ')} unexpectedly succeeded`);
}

async function manifest(name: string, yaml: string): Promise<string> {
  const file = path.join(scratch, name);
  await writeFile(file, yaml);
  return file;
}

function webApp(name: string, image = 'nginx:1.25'): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels: {app: ${name}}
spec:
  replicas: 2
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
          name: http
        env:
        - name: MODE
          value: prod
---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  selector: {app: ${name}}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}-config
data:
  greeting: hello
`;
}

// Shapes as in the shared fixtures (Flux v1/v2 sources and Argo CD Application specs).
function gitOpsObjects(interval = '10m'): string {
  return `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: 1m
  url: https://github.com/stefanprodan/podinfo
  ref:
    branch: master
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: ${interval}
  path: ./kustomize
  prune: true
  sourceRef:
    kind: GitRepository
    name: podinfo
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: 5m
  chart:
    spec:
      chart: podinfo
      sourceRef:
        kind: HelmRepository
        name: podinfo
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: guestbook
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://github.com/argoproj/argocd-example-apps.git
    path: guestbook
    targetRevision: HEAD
  destination:
    server: https://kubernetes.default.svc
    namespace: default
`;
}

async function deploymentJson(name: string): Promise<any> {
  return JSON.parse(await kubectl(['get', 'deployment', name, '-o', 'json']));
}

describe('sandbox API server with kubectl', () => {
  it('lists the custom kinds in api-resources', async () => {
    const out = await kubectl(['api-resources']);
    expect(out).toMatch(/^kustomizations\s+ks\s+kustomize\.toolkit\.fluxcd\.io\/v1\s+true\s+Kustomization$/m);
    expect(out).toMatch(
      /^gitrepositories\s+gitrepo\s+source\.toolkit\.fluxcd\.io\/v1\s+true\s+GitRepository$/m,
    );
    expect(out).toMatch(/^helmreleases\s+hr\s+helm\.toolkit\.fluxcd\.io\/v2\s+true\s+HelmRelease$/m);
    expect(out).toMatch(/^applications\s+app,apps\s+argoproj\.io\/v1alpha1\s+true\s+Application$/m);
    expect(out).toMatch(/^deployments\s+deploy\s+apps\/v1\s+true\s+Deployment$/m);
  });

  it('applies built-in kinds with validation on, and re-applying says unchanged on 1.32, 1.27 and 1.33', async () => {
    const file = await manifest('shop.yaml', webApp('shop'));
    expect(await kubectl(['apply', '-f', file])).toBe(
      'deployment.apps/shop created\nservice/shop created\nconfigmap/shop-config created\n',
    );
    for (const binary of ['kubectl', KUBECTL_1_27, KUBECTL_1_33]) {
      expect(await kubectl(['apply', '-f', file], binary)).toBe(
        'deployment.apps/shop unchanged\nservice/shop unchanged\nconfigmap/shop-config unchanged\n',
      );
    }
    const deployment = await deploymentJson('shop');
    expect(deployment.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain(
      '"shop"',
    );
  });

  it('re-applies a changed Deployment as a strategic merge patch that keeps the container fields', async () => {
    await kubectl(['apply', '-f', await manifest('cart.yaml', webApp('cart'))]);
    const out = await kubectl(['apply', '-f', await manifest('cart-v2.yaml', webApp('cart', 'nginx:1.26'))]);
    expect(out).toContain('deployment.apps/cart configured');
    expect(out).toContain('service/cart unchanged');
    const [container] = (await deploymentJson('cart')).spec.template.spec.containers;
    expect(container).toMatchObject({ image: 'nginx:1.26', env: [{ name: 'MODE', value: 'prod' }] });
    expect(container.ports[0].containerPort).toBe(8080);
  });

  it('applies Flux and Argo CD objects and re-applies a change as a merge patch', async () => {
    const file = await manifest('gitops.yaml', gitOpsObjects());
    expect(await kubectl(['apply', '-f', file])).toBe(
      [
        'gitrepository.source.toolkit.fluxcd.io/podinfo created',
        'kustomization.kustomize.toolkit.fluxcd.io/podinfo created',
        'helmrelease.helm.toolkit.fluxcd.io/podinfo created',
        'application.argoproj.io/guestbook created',
        '',
      ].join('\n'),
    );
    const changed = await manifest('gitops-v2.yaml', gitOpsObjects('5m'));
    expect(await kubectl(['apply', '-f', changed], KUBECTL_1_27)).toContain(
      'kustomization.kustomize.toolkit.fluxcd.io/podinfo configured',
    );
    const kustomization = JSON.parse(
      await kubectl(['get', 'ks', 'podinfo', '-n', 'flux-system', '-o', 'json']),
    );
    expect(kustomization.spec).toMatchObject({ interval: '5m', path: './kustomize' });

    const table = await kubectl(['get', 'kustomizations,gitrepositories', '-n', 'flux-system']);
    expect(table).toMatch(/^NAME\s+AGE\s+READY\s+STATUS$/m);
    expect(table).toMatch(/^NAME\s+URL\s+AGE\s+READY\s+STATUS$/m);
    expect(table).toContain('https://github.com/stefanprodan/podinfo');
  });

  it('prints server-side tables and JSON', async () => {
    await kubectl(['apply', '-f', await manifest('list.yaml', webApp('list'))]);
    const table = await kubectl(['get', 'deployments']);
    expect(table).toMatch(/^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$/m);
    expect(table).toMatch(/^list\s+\d+\/2\s+\d+\s+\d+\s+\d+s$/m);
    const wide = await kubectl(['get', 'deployment', 'list', '-o', 'wide']);
    expect(wide).toMatch(/CONTAINERS\s+IMAGES\s+SELECTOR/);
    expect(wide).toMatch(/app\s+nginx:1\.25\s+app=list/);
    const list = JSON.parse(await kubectl(['get', 'deployments', '-l', 'app=list', '-o', 'json']));
    expect(list.items.map((item: any) => item.metadata.name)).toEqual(['list']);
  });

  it('streams changes to `get -w`', async () => {
    await kubectl(['apply', '-f', await manifest('watched.yaml', webApp('watched'))]);
    const child = spawn('kubectl', [
      '--kubeconfig',
      sandbox.kubeconfigPath,
      '--cache-dir',
      path.join(scratch, 'cache', 'kubectl'),
      'get',
      'deployment',
      'watched',
      '-w',
    ]);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await until(() => /^watched\s/m.test(output));
      await kubectl(['scale', 'deployment', 'watched', '--replicas=7']);
      await until(() => /^watched\s+\d+\/7\s/m.test(output));
      expect(output).toMatch(/^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$/m);
    } finally {
      child.kill();
    }
  });

  it('describes a Deployment with its events', async () => {
    await kubectl(['apply', '-f', await manifest('described.yaml', webApp('described'))]);
    const deployment = sandbox.store.mustGet(DEPLOYMENT, 'default', 'described');
    sandbox.store.create(EVENT, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'described.1', namespace: 'default' },
      involvedObject: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'described',
        namespace: 'default',
        uid: deployment.metadata.uid,
      },
      reason: 'ScalingReplicaSet',
      message: 'Scaled up replica set described-abc to 2',
      type: 'Normal',
      source: { component: 'deployment-controller' },
      count: 1,
      firstTimestamp: new Date().toISOString(),
      lastTimestamp: new Date().toISOString(),
    });
    const out = await kubectl(['describe', 'deployment', 'described']);
    expect(out).toMatch(/^Name:\s+described$/m);
    expect(out).toMatch(/Image:\s+nginx:1\.25/);
    expect(out).toMatch(/MODE:\s+prod/);
    expect(out).toMatch(/Normal\s+ScalingReplicaSet\s+.*Scaled up replica set described-abc to 2/);
  });

  it('annotates, patches (merge and JSON), sets an image and scales a Deployment', async () => {
    await kubectl(['apply', '-f', await manifest('edited.yaml', webApp('edited'))]);

    expect(await kubectl(['annotate', 'deployment', 'edited', 'rewind.dev/note=hello'])).toContain(
      'annotated',
    );
    await kubectl([
      'patch',
      'deployment',
      'edited',
      '--type',
      'merge',
      '-p',
      '{"metadata":{"labels":{"tier":"web"}}}',
    ]);
    await kubectl([
      'patch',
      'deployment',
      'edited',
      '--type',
      'json',
      '-p',
      '[{"op":"add","path":"/spec/minReadySeconds","value":5}]',
    ]);
    expect(await kubectl(['set', 'image', 'deployment/edited', 'app=img:2'])).toContain('image updated');
    expect(await kubectl(['scale', 'deployment', 'edited', '--replicas=3'])).toContain('scaled');

    const deployment = await deploymentJson('edited');
    expect(deployment.metadata.annotations['rewind.dev/note']).toBe('hello');
    expect(deployment.metadata.labels).toEqual({ app: 'edited', tier: 'web' });
    expect(deployment.spec.minReadySeconds).toBe(5);
    expect(deployment.spec.replicas).toBe(3);
    // The container keeps its other fields (the API server's defaults come on top, as in Kubernetes).
    expect(deployment.spec.template.spec.containers).toEqual([
      {
        name: 'app',
        image: 'img:2',
        env: [{ name: 'MODE', value: 'prod' }],
        ports: [{ containerPort: 8080, name: 'http', protocol: 'TCP' }],
        imagePullPolicy: 'IfNotPresent',
        resources: {},
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
      },
    ]);
  });

  it('deletes objects and reports unknown ones as NotFound', async () => {
    await kubectl(['apply', '-f', await manifest('doomed.yaml', webApp('doomed'))]);
    expect(await kubectl(['delete', 'deployment', 'doomed'])).toBe('deployment.apps "doomed" deleted\n');
    expect(await kubectlFails(['get', 'deployment', 'doomed'])).toContain(
      'Error from server (NotFound): deployments.apps "doomed" not found',
    );
    expect(await kubectlFails(['get', 'kustomization', 'nope', '-n', 'flux-system'])).toContain(
      'Error from server (NotFound): kustomizations.kustomize.toolkit.fluxcd.io "nope" not found',
    );
  });
});

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for kubectl output');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
