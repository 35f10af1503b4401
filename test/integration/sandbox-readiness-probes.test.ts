// Readiness probes in the sandbox, seen through the real kubectl: a Pod whose container has a
// readinessProbe is Running but not Ready until the probe passes (initialDelaySeconds, periodSeconds
// and the thresholds in real seconds), and the Deployment's availability waits for it.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { DEPLOYMENT, POD } from '../../src/sandbox/resources.ts';
import { type Sandbox, type SandboxOptions, startSandbox } from '../../src/sandbox/sandbox.ts';
import type { KubeObject } from '../../src/sandbox/store.ts';

const run = promisify(execFile);

let sandbox: Sandbox | undefined;

afterEach(async () => {
  await sandbox?.stop();
  sandbox = undefined;
});

async function start(options: SandboxOptions = {}): Promise<Sandbox> {
  sandbox = await startSandbox({ podReadyMs: 100, argo: false, ...options });
  return sandbox;
}

async function kubectl(sb: Sandbox, ...args: string[]): Promise<string> {
  const { stdout } = await run('kubectl', ['--kubeconfig', sb.kubeconfigPath, ...args], { timeout: 60_000 });
  return stdout;
}

function manifest(options: { image: string; probe: string; minReadySeconds?: number }): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
${options.minReadySeconds ? `  minReadySeconds: ${options.minReadySeconds}\n` : ''}  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ${options.image}
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
${options.probe}
`;
}

async function apply(sb: Sandbox, text: string): Promise<void> {
  const file = path.join(path.dirname(sb.kubeconfigPath), 'web.yaml');
  await writeFile(file, text);
  await kubectl(sb, 'apply', '-f', file);
}

function pods(sb: Sandbox): KubeObject[] {
  return sb.store.list(POD, { namespace: 'default' });
}

function condition(pod: KubeObject, type: string): any {
  return (pod.status?.conditions ?? []).find((c: any) => c.type === type);
}

async function until(what: string, predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const running = (pod: KubeObject): boolean => pod.status?.phase === 'Running';

describe('sandbox readiness probes', () => {
  it('keeps a Deployment unavailable until initialDelaySeconds have passed (kubectl rollout status)', async () => {
    const sb = await start();
    const started = Date.now();
    await apply(sb, manifest({ image: 'nginx:1.27', probe: '          initialDelaySeconds: 6' }));
    await until('running Pods', () => pods(sb).length === 2 && pods(sb).every(running));
    // Running, not Ready: what the kubelet reports before the first probe.
    for (const pod of pods(sb)) {
      expect(condition(pod, 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady' });
      expect(pod.status.containerStatuses[0]).toMatchObject({ ready: false, started: true });
      expect(pod.status.containerStatuses[0].state.running).toBeDefined();
    }
    await kubectl(sb, 'rollout', 'status', 'deployment/web', '--timeout=60s');
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(6000);
    for (const pod of pods(sb)) {
      const startedAt = Date.parse(pod.status.containerStatuses[0].state.running.startedAt);
      const readyAt = Date.parse(condition(pod, 'Ready').lastTransitionTime);
      expect(condition(pod, 'Ready').status).toBe('True');
      // startedAt is in whole seconds (rounded down): Ready is at least 6 s after it.
      expect(readyAt - startedAt).toBeGreaterThanOrEqual(6000);
    }
  }, 60_000);

  it('counts minReadySeconds from Ready, not from the start', async () => {
    const sb = await start();
    const started = Date.now();
    await apply(
      sb,
      manifest({ image: 'nginx:1.27', probe: '          initialDelaySeconds: 2', minReadySeconds: 2 }),
    );
    await until('ready Pods', () => pods(sb).length === 2 && pods(sb).every((p) => isReady(p)));
    expect(sb.store.get(DEPLOYMENT, 'default', 'web')?.status?.availableReplicas ?? 0).toBe(0);
    await kubectl(sb, 'rollout', 'status', 'deployment/web', '--timeout=60s');
    expect(Date.now() - started).toBeGreaterThanOrEqual(4000);
  }, 60_000);

  it('never makes a Pod whose probe fails Ready: Running, Ready=False, container not ready', async () => {
    const sb = await start({ probeFailImages: ['*:unhealthy'] });
    await apply(
      sb,
      manifest({
        image: 'ghcr.io/acme/web:unhealthy',
        probe: '          periodSeconds: 1\n          failureThreshold: 1',
      }),
    );
    await until('running Pods', () => pods(sb).length === 2 && pods(sb).every(running));
    // Several probe periods go by; none makes it Ready.
    const deadline = Date.now() + 3500;
    while (Date.now() < deadline) {
      for (const pod of pods(sb)) {
        expect(condition(pod, 'Ready')?.status).toBe('False');
        expect(pod.status.containerStatuses[0].ready).toBe(false);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const status = sb.store.get(DEPLOYMENT, 'default', 'web')?.status;
    expect(status?.readyReplicas ?? 0).toBe(0);
    expect(status?.availableReplicas ?? 0).toBe(0);
    const table = await kubectl(sb, 'get', 'pods', '-l', 'app=web', '--no-headers');
    expect(
      table
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/).slice(1, 3)),
    ).toEqual([
      ['0/1', 'Running'],
      ['0/1', 'Running'],
    ]);
  }, 60_000);

  it('turns a Ready Pod not Ready after failureThreshold failures, and back after successThreshold successes', async () => {
    const failing: string[] = [];
    const sb = await start({ probeFailImages: failing });
    await apply(
      sb,
      manifest({
        image: 'nginx:1.27',
        probe: '          periodSeconds: 1\n          failureThreshold: 3\n          successThreshold: 2',
      }),
    );
    // successThreshold 2: the second probe (1 s after the first) makes it Ready.
    const applied = Date.now();
    await until('ready Pods', () => pods(sb).length === 2 && pods(sb).every((p) => isReady(p)));
    expect(Date.now() - applied).toBeGreaterThanOrEqual(1000);

    failing.push('nginx:*');
    const failedFrom = Date.now();
    await until('unready Pods', () => pods(sb).every((p) => !isReady(p)));
    // Three failures in a row, a second apart: at least two periods after the first failure.
    expect(Date.now() - failedFrom).toBeGreaterThanOrEqual(2000);
    expect(pods(sb).every(running)).toBe(true);

    failing.length = 0;
    await until('ready Pods again', () => pods(sb).every((p) => isReady(p)));
  }, 60_000);

  it('makes a container without a readinessProbe Ready as soon as it runs, whatever its image', async () => {
    const sb = await start({ probeFailImages: ['nginx:*'] });
    await apply(
      sb,
      manifest({ image: 'nginx:1.27', probe: '' }).replace(
        /\n {8}readinessProbe:\n {10}httpGet: \{path: \/healthz, port: 8080\}\n/,
        '\n',
      ),
    );
    await kubectl(sb, 'rollout', 'status', 'deployment/web', '--timeout=30s');
    expect(pods(sb).map((pod) => [isReady(pod), pod.status.containerStatuses[0].ready])).toEqual([
      [true, true],
      [true, true],
    ]);
  }, 60_000);
});

function isReady(pod: KubeObject): boolean {
  return condition(pod, 'Ready')?.status === 'True';
}
