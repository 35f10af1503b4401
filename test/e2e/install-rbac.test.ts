// Rewind running with exactly the RBAC of deploy/: the sandbox authorizes every request with
// Kubernetes' RBAC rules, deploy/ is installed with real kubectl (`apply -k`), Rewind runs with its
// ServiceAccount's token (`kubectl create token`), and goes through a Flux incident, an Argo CD
// incident, the look at an ApplicationSet before a hold, and a ChatOps global pause and resume. Then the audit log is held against deploy/rbac.yaml
// both ways: nothing Rewind did was refused, and nothing granted went unused. Rewind's HTTP listener
// answers /readyz (which asks the API server's /readyz), /healthz and /metrics during the run, so
// probe and metrics calls are in the audit too.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatActor, ChatChannel } from '../../src/chatops/executor.ts';
import { createArgoFleet, syncedAndHealthyAt, waitForApplication } from '../../src/sandbox/argo-scenario.ts';
import { APPLICATION_SET, CONFIG_MAP } from '../../src/sandbox/resources.ts';
import { KubeCluster, loadKubeConfig } from '../../src/cluster/kube.ts';
import { applicationSetHoldRefusal } from '../../src/engines/argo-applicationset.ts';
import { kubeconfigYaml } from '../../src/sandbox/sandbox.ts';
import { listenHttp } from '../../src/server/http.ts';
import { silentLogger } from '../../src/logging.ts';
import { readyFor, waitForKustomization } from '../../src/sandbox/scenario.ts';
import { type Loop, startLoop } from '../helpers/loop.ts';
import { REWIND_SERVICE_ACCOUNT, denied, granted, rulesIn, used } from '../helpers/rbac.ts';

const run = promisify(execFile);
const DEPLOY = path.resolve(import.meta.dirname, '../../deploy');
const BROKEN_PODINFO = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';
const BROKEN_WEB = 'ghcr.io/example/web:2.0-broken';

const slackActor: ChatActor = { kind: 'slack', userId: 'U1', userName: 'wanda', teamId: 'T1' };
const slackChannel = (requestId: string): ChatChannel => ({
  kind: 'slack',
  teamId: 'T1',
  channelId: 'C1',
  channelName: 'ops',
  requestId,
});

describe('Rewind with exactly the RBAC that deploy/ grants', () => {
  let loop: Loop;
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(path.join(tmpdir(), 'rewind-install-rbac-'));
    loop = await startLoop({
      access: { authorization: 'RBAC', audit: true },
      kubeconfigFor: async (sandbox) => {
        const kubectl = async (...args: string[]): Promise<string> =>
          (
            await run(
              'kubectl',
              ['--kubeconfig', sandbox.kubeconfigPath, '--cache-dir', path.join(scratch, 'cache'), ...args],
              { timeout: 60_000 },
            )
          ).stdout;
        await kubectl('apply', '-k', DEPLOY);
        const token = (await kubectl('-n', 'rewind-system', 'create', 'token', 'rewind')).trim();
        const file = path.join(scratch, 'rewind.kubeconfig');
        await writeFile(file, kubeconfigYaml(sandbox.url, token), { mode: 0o600 });
        return file;
      },
    });
  }, 120_000);

  afterAll(async () => {
    await loop?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('converges a Flux incident', async () => {
    const { sandbox, fleet } = loop;
    const good = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.5.1');
    fleet.notifyPush();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(good));
    const bad = await fleet.setPodinfoImage(BROKEN_PODINFO);
    fleet.notifyPush();
    const incident = await loop.finalIncident(bad, 90_000);
    expect(incident.conditions.at(-1)?.type, JSON.stringify(incident.conditions)).toBe('Converged');
  }, 120_000);

  it('converges an Argo CD incident', async () => {
    const argo = await createArgoFleet({ sandbox: loop.sandbox });
    try {
      await waitForApplication(loop.sandbox, 'web', syncedAndHealthyAt(await argo.head()), 60_000);
      const bad = await argo.setImage('web', BROKEN_WEB);
      argo.notifyPush();
      const incident = await loop.finalIncident(bad, 90_000);
      expect(incident.conditions.at(-1)?.type, JSON.stringify(incident.conditions)).toBe('Converged');
    } finally {
      await argo.cleanup();
    }
  }, 120_000);

  it('reads the ApplicationSet that generates an Application before holding it', async () => {
    // The hold (fast path, suspendWhilePending) asks the owning ApplicationSet whether it would undo
    // it: the same call, with Rewind's own credentials, for an Application an ApplicationSet owns.
    const rewind = new KubeCluster(loadKubeConfig(path.join(scratch, 'rewind.kubeconfig')));
    const appSet = loop.sandbox.store.create(APPLICATION_SET, {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'ApplicationSet',
      metadata: { name: 'shop', namespace: 'argocd' },
      spec: {
        generators: [{ list: { elements: [] } }],
        template: { metadata: { name: '{{name}}' }, spec: {} },
      },
    });
    const generated = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: {
        name: 'web',
        namespace: 'argocd',
        ownerReferences: [
          {
            apiVersion: 'argoproj.io/v1alpha1',
            kind: 'ApplicationSet',
            name: 'shop',
            uid: appSet.metadata.uid ?? '',
            controller: true,
          },
        ],
      },
    };
    expect(await applicationSetHoldRefusal(rewind, generated)).toContain(
      'generated by ApplicationSet argocd/shop',
    );
  });

  it('pauses and resumes every app from ChatOps (the switch ConfigMap in rewind-system)', async () => {
    const chat = loop.runtime.chatops.slack;
    expect(await chat.execute({ kind: 'pause', reason: 'freeze' }, slackActor, slackChannel('p1'))).toContain(
      'are paused',
    );
    const annotations = loop.sandbox.store.get(CONFIG_MAP, 'rewind-system', 'rewind-switches')?.metadata
      .annotations;
    expect(annotations?.['rewind.dev/paused']).toBeTruthy();
    expect(await chat.execute({ kind: 'resume' }, slackActor, slackChannel('r1'))).toContain('on again');
  });

  it('answers its probes and metrics (the API server calls they make are audited too)', async () => {
    const http = await listenHttp({ port: 0, host: '127.0.0.1', log: silentLogger() });
    try {
      http.serve(loop.runtime);
      for (const probe of ['/readyz', '/healthz', '/metrics']) {
        const response = await fetch(`${http.url}${probe}`);
        expect(response.status, `${probe}: ${await response.text()}`).toBe(200);
      }
    } finally {
      await http.close();
    }
    const readyz = loop.sandbox.api.access.audit.filter(
      (entry) => entry.user === REWIND_SERVICE_ACCOUNT && entry.path === '/readyz' && entry.allowed,
    );
    expect(readyz.length).toBeGreaterThan(0);
  });

  it('used exactly what deploy/rbac.yaml grants: nothing refused, nothing granted unused', async () => {
    const audit = loop.sandbox.api.access.audit;
    const rules = await rulesIn(path.join(DEPLOY, 'rbac.yaml'));
    expect(denied(audit, REWIND_SERVICE_ACCOUNT)).toEqual([]);
    expect(used(audit, REWIND_SERVICE_ACCOUNT, rules)).toEqual(granted(rules));
  });
});
