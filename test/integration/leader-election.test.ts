// Leader election over a real Lease: the sandbox serves coordination.k8s.io/v1 as kube-apiserver
// does (discovery for kubectl, 409 on a stale resourceVersion, 400 on a MicroTime that is not six
// digits), and LeaderElector instances drive it through the real client-node over HTTP.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeLeaseLock, LeaderElector, microTime } from '../../src/cluster/leader-election.ts';
import { silentLogger } from '../../src/logging.ts';
import { LEASE, NAMESPACE } from '../../src/sandbox/resources.ts';
import { type Sandbox, kubeconfigYaml, startSandbox } from '../../src/sandbox/sandbox.ts';
import { type TcpProxy, startTcpProxy } from '../helpers/tcp-proxy.ts';
import { until } from '../helpers/wait.ts';

const run = promisify(execFile);

let sandbox: Sandbox;
const cleanups: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  sandbox = await startSandbox({ argo: false });
  cleanups.push(() => sandbox.stop());
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

function kubeConfigFor(url: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfigYaml(url));
  return kc;
}

const timings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 200 };

/** A candidate whose leading is recorded as [identity, 'start' | 'stop', time] events. */
function candidate(identity: string, url: string, events: [string, string, number][]): LeaderElector {
  const elector = new LeaderElector({
    lock: new KubeLeaseLock(kubeConfigFor(url), 'rewind-system', 'rewind-detector'),
    identity,
    ...timings,
    log: silentLogger(),
    onStartedLeading: async () => {
      events.push([identity, 'start', Date.now()]);
    },
    onStoppedLeading: () => events.push([identity, 'stop', Date.now()]),
  });
  cleanups.push(() => elector.stop());
  return elector;
}

function lease(): Record<string, any> | undefined {
  return sandbox.store.get(LEASE, 'rewind-system', 'rewind-detector')?.spec;
}

/** At every instant, at most one candidate between its start and its stop. */
function overlaps(events: readonly [string, string, number][]): number {
  let leading = 0;
  let worst = 0;
  for (const [, what] of [...events].sort((a, b) => a[2] - b[2] || (a[1] === 'stop' ? -1 : 1))) {
    leading += what === 'start' ? 1 : -1;
    worst = Math.max(worst, leading);
  }
  return worst;
}

describe('the sandbox serves Lease', () => {
  it('is discoverable and printable by kubectl, namespaced, with the holder column', async () => {
    const kubectl = (...args: string[]) =>
      run('kubectl', ['--kubeconfig', sandbox.kubeconfigPath, ...args], { timeout: 30_000 });
    const resources = await kubectl('api-resources', '--api-group=coordination.k8s.io');
    expect(resources.stdout).toMatch(/^leases\s+coordination\.k8s\.io\/v1\s+true\s+Lease$/m);
    const elector = candidate('rewind-a', sandbox.url, []);
    await elector.start();
    const got = await kubectl('get', 'leases', '-n', 'rewind-system');
    expect(got.stdout).toMatch(/^NAME\s+HOLDER\s+AGE$/m);
    expect(got.stdout).toMatch(/^rewind-detector\s+rewind-a\s+\d+s$/m);
  });

  it('answers a stale resourceVersion with 409 Conflict and a millisecond MicroTime with 400', async () => {
    const base = `${sandbox.url}/apis/coordination.k8s.io/v1/namespaces/rewind-system/leases`;
    const body = (spec: object, resourceVersion?: string) =>
      JSON.stringify({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'x', ...(resourceVersion ? { resourceVersion } : {}) },
        spec,
      });
    const send = (method: string, url: string, text: string) =>
      fetch(url, { method, body: text, headers: { 'content-type': 'application/json' } });
    const now = microTime(Date.now());
    const created = await send('POST', base, body({ holderIdentity: 'a', renewTime: now }));
    expect(created.status).toBe(201);
    const rv = ((await created.json()) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    expect((await send('PUT', `${base}/x`, body({ holderIdentity: 'b', renewTime: now }, rv))).status).toBe(
      200,
    );
    const stale = await send('PUT', `${base}/x`, body({ holderIdentity: 'c', renewTime: now }, rv));
    expect(stale.status).toBe(409);
    expect(await stale.json()).toMatchObject({
      reason: 'Conflict',
      message: expect.stringContaining('Operation cannot be fulfilled on leases.coordination.k8s.io "x"'),
    });
    const millis = await send(
      'POST',
      base,
      body({ renewTime: new Date().toISOString() }).replace('"x"', '"y"'),
    );
    expect(millis.status).toBe(400);
  });
});

describe('LeaderElector', () => {
  it('elects one of several candidates and records the Lease as client-go does', async () => {
    const events: [string, string, number][] = [];
    const electors = ['a', 'b', 'c'].map((id) => candidate(id, sandbox.url, events));
    await Promise.all(electors.map((e) => e.start()));
    await new Promise((r) => setTimeout(r, 1000)); // several retry periods
    expect(electors.filter((e) => e.isLeader)).toHaveLength(1);
    expect(overlaps(events)).toBe(1);
    const spec = lease()!;
    expect(spec).toMatchObject({ leaseDurationSeconds: 3, leaseTransitions: 0 });
    expect(electors.find((e) => e.isLeader)!.leader).toBe(spec['holderIdentity']);
    expect(spec['renewTime']).toMatch(/\.\d{6}Z$/);
    // The leader keeps renewing.
    const renewed = spec['renewTime'];
    await until(() => lease()?.['renewTime'] !== renewed, 'a renewal', 5000);
  });

  it('hands over at once when the leader stops gracefully (released lease), counting the transition', async () => {
    const events: [string, string, number][] = [];
    const a = candidate('a', sandbox.url, events);
    await a.start();
    const b = candidate('b', sandbox.url, events);
    await b.start();
    expect(a.isLeader && !b.isLeader).toBe(true);
    const stoppedAt = Date.now();
    await a.stop();
    expect(lease()).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
    await until(() => b.isLeader, 'b leading', 10_000);
    // Well under the lease duration: b took the released lease at its next retry.
    expect(Date.now() - stoppedAt).toBeLessThan(timings.leaseDurationMs);
    expect(lease()).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    expect(overlaps(events)).toBe(1);
  });

  it('a leader cut off from the API server stops leading before another candidate can take over', async () => {
    const proxy: TcpProxy = await startTcpProxy(new URL(sandbox.url));
    cleanups.push(() => proxy.close());
    const events: [string, string, number][] = [];
    const a = candidate('a', proxy.url, events);
    await a.start();
    const b = candidate('b', sandbox.url, events);
    await b.start();
    expect(a.isLeader).toBe(true);
    proxy.partition();
    await until(() => b.isLeader, 'b leading', 20_000);
    const aStopped = events.find(([id, what]) => id === 'a' && what === 'stop');
    const bStarted = events.find(([id, what]) => id === 'b' && what === 'start');
    expect(aStopped).toBeDefined();
    expect(aStopped![2]).toBeLessThanOrEqual(bStarted![2]);
    expect(overlaps(events)).toBe(1);
    expect(lease()).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    // Back on the network, a sees b's lease and stays a candidate.
    proxy.heal();
    await new Promise((r) => setTimeout(r, 1000));
    expect(a.isLeader).toBe(false);
    expect(overlaps(events)).toBe(1);
  });

  it('fails the start with an actionable message when the namespace does not exist', async () => {
    sandbox.store.delete(NAMESPACE, undefined, 'rewind-system');
    await until(() => !sandbox.store.get(NAMESPACE, undefined, 'rewind-system'), 'namespace gone', 10_000);
    const elector = candidate('a', sandbox.url, []);
    await expect(elector.start()).rejects.toThrow(
      /namespace rewind-system does not exist: create it \(kubectl create namespace rewind-system\)/,
    );
  });
});
