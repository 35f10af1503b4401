// events.k8s.io/v1 on the sandbox API server: the same stored Events as core v1, converted both ways,
// listed, watched and created, and `kubectl events` printing them.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT } from '../../src/sandbox/resources.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';

const run = promisify(execFile);
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({ argo: false });
});

afterAll(async () => {
  await sandbox?.stop();
});

const regarding = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  name: 'web',
  namespace: 'default',
  uid: 'u-1',
};

describe('events.k8s.io/v1', () => {
  it('is discovered', async () => {
    const group: any = await (await fetch(`${sandbox.url}/apis/events.k8s.io`)).json();
    expect(group.preferredVersion).toEqual({ groupVersion: 'events.k8s.io/v1', version: 'v1' });
    const resources: any = await (await fetch(`${sandbox.url}/apis/events.k8s.io/v1`)).json();
    expect(resources.resources[0]).toMatchObject({ name: 'events', kind: 'Event', namespaced: true });
  });

  it('creates an Event that core v1 reads back with the same fields under their v1 names', async () => {
    const response = await fetch(`${sandbox.url}/apis/events.k8s.io/v1/namespaces/default/events`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: 'web.1' },
        eventTime: '2025-01-02T03:04:05.000000Z',
        reportingController: 'rewind.dev/test',
        reportingInstance: 'test-1',
        action: 'Rollback',
        reason: 'RolledBack',
        note: 'reverted abc123',
        type: 'Normal',
        regarding,
      }),
    });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      note: 'reverted abc123',
      regarding,
    });
    const core = sandbox.store.mustGet(EVENT, 'default', 'web.1');
    expect(core).toMatchObject({
      apiVersion: 'v1',
      message: 'reverted abc123',
      involvedObject: regarding,
      reportingComponent: 'rewind.dev/test',
      eventTime: '2025-01-02T03:04:05.000000Z',
    });
    expect(core['note']).toBeUndefined();
  });

  it('lists and watches core v1 Events in the events.k8s.io shape', async () => {
    sandbox.store.create(EVENT, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'web.2', namespace: 'default' },
      involvedObject: regarding,
      reason: 'ScalingReplicaSet',
      message: 'Scaled up replica set web-1 to 2',
      type: 'Normal',
      source: { component: 'deployment-controller' },
      count: 3,
      firstTimestamp: '2025-01-02T03:04:05Z',
      lastTimestamp: '2025-01-02T03:05:05Z',
    });
    const list: any = await (
      await fetch(`${sandbox.url}/apis/events.k8s.io/v1/namespaces/default/events`)
    ).json();
    expect(list.kind).toBe('EventList');
    expect(list.apiVersion).toBe('events.k8s.io/v1');
    expect(list.items.find((item: any) => item.metadata.name === 'web.2')).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      note: 'Scaled up replica set web-1 to 2',
      regarding,
      deprecatedSource: { component: 'deployment-controller' },
      deprecatedCount: 3,
      deprecatedFirstTimestamp: '2025-01-02T03:04:05Z',
    });

    const controller = new AbortController();
    const watch = await fetch(
      `${sandbox.url}/apis/events.k8s.io/v1/namespaces/default/events?watch=true&resourceVersion=${list.metadata.resourceVersion}`,
      { signal: controller.signal },
    );
    const reader = watch.body!.getReader();
    sandbox.store.create(EVENT, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'web.3', namespace: 'default' },
      involvedObject: regarding,
      reason: 'Killing',
      message: 'Stopping container',
      type: 'Normal',
    });
    const { value } = await reader.read();
    controller.abort();
    const event = JSON.parse(new TextDecoder().decode(value).split('\n')[0]!);
    expect(event).toMatchObject({
      type: 'ADDED',
      object: { apiVersion: 'events.k8s.io/v1', note: 'Stopping container' },
    });
  });

  it('prints the Events with `kubectl events`', async () => {
    const { stdout } = await run(
      'kubectl',
      ['--kubeconfig', sandbox.kubeconfigPath, 'events', '-n', 'default'],
      {
        timeout: 30_000,
      },
    );
    expect(stdout).toMatch(/Normal\s+RolledBack\s+Deployment\/web\s+reverted abc123/);
    expect(stdout).toMatch(/Normal\s+ScalingReplicaSet\s+Deployment\/web\s+Scaled up replica set web-1 to 2/);
  });
});
