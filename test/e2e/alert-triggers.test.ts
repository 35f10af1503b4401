// Alert-driven triggers, end to end: an Alertmanager alert or a Flux notification-controller event
// that names a broken app opens (or joins) its incident through the detector's path, with the alert
// kept as evidence, and the incident converges. An alert for a healthy app records nothing.
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { waitForKustomization } from '../../src/sandbox/scenario.ts';
import { type Loop, startLoop } from '../helpers/loop.ts';

const BROKEN = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';
const TOKEN = 'alertmanager-token-for-tests';
const HMAC_KEY = 'flux-hmac-key-for-tests';

interface Answer {
  status: number;
  body: { acted?: number; results?: { kind: string; reason?: string; incidentId?: string }[] };
}

async function post(url: string, body: unknown, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

/** Alertmanager's webhook payload (version 4) with one alert, labelled as Flux's monitoring labels it. */
function alertmanagerPayload(labels: Record<string, string>, status: 'firing' | 'resolved' = 'firing') {
  return {
    version: '4',
    groupKey: '{}:{alertname="ReconciliationFailure"}',
    truncatedAlerts: 0,
    status,
    receiver: 'rewind',
    groupLabels: { alertname: labels['alertname'] },
    commonLabels: labels,
    commonAnnotations: {},
    externalURL: 'http://alertmanager.example:9093',
    alerts: [
      {
        status,
        labels,
        annotations: { summary: `${labels['kind'] ?? 'app'} ${labels['name'] ?? ''} reconciliation failing` },
        startsAt: '2026-11-24T10:00:00.000Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus.example:9090/graph',
        fingerprint: 'c0ffee1234567890',
      },
    ],
  };
}

const failing = (ks: { status?: any }): boolean =>
  (ks.status?.conditions as { type: string; status: string }[] | undefined)?.some(
    (c) => c.type === 'Ready' && c.status === 'False',
  ) === true;

describe('alert-driven triggers', () => {
  let loop: Loop | undefined;
  afterEach(async () => {
    await loop?.stop();
    loop = undefined;
  });

  it('an Alertmanager alert for a broken app makes its incident act at once, and it converges', async () => {
    // A grace period far longer than the test: without the alert the detector would still be waiting.
    loop = await startLoop({
      policy: { gracePeriod: '10m', verifyTimeout: '15m' },
      alerts: { alertmanager: { tokenEnv: 'TEST_ALERTMANAGER_TOKEN' } },
      env: { TEST_ALERTMANAGER_TOKEN: TOKEN },
    });
    const { sandbox, fleet, runtime } = loop;
    const url = `${loop.httpUrl!}/webhooks/alertmanager`;
    const labels = {
      alertname: 'ReconciliationFailure',
      kind: 'Kustomization',
      exported_namespace: fleet.namespace,
      name: 'podinfo',
      severity: 'critical',
    };
    const auth = { authorization: `Bearer ${TOKEN}` };

    // Healthy: acknowledged with the reason, nothing recorded.
    const healthy = await post(url, alertmanagerPayload(labels), auth);
    expect(healthy.status).toBe(200);
    expect(healthy.body.results?.[0]).toMatchObject({ kind: 'ignored', reason: 'AppHealthy' });
    expect(await runtime.incidents.list(10)).toEqual([]);

    expect((await post(url, alertmanagerPayload(labels), {})).status).toBe(401);
    expect((await post(url, alertmanagerPayload(labels), { authorization: 'Bearer wrong' })).status).toBe(
      401,
    );
    const unmapped = await post(
      url,
      alertmanagerPayload({ alertname: 'KubePodCrashLooping', namespace: 'default', pod: 'x' }),
      auth,
    );
    expect(unmapped.body.results?.[0]).toMatchObject({ kind: 'ignored', reason: 'NoApp' });

    const bad = await fleet.setPodinfoImage(BROKEN);
    fleet.notifyPush();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', failing);
    const fired = await post(url, alertmanagerPayload(labels), auth);
    expect(fired.status, JSON.stringify(fired.body)).toBe(202);
    expect(['opened', 'joined']).toContain(fired.body.results?.[0]?.kind);
    const again = await post(url, alertmanagerPayload(labels), auth);
    expect(again.body.results?.[0]).toMatchObject({ kind: 'ignored', reason: 'Duplicate' });

    // Final within finalIncident's 45 s, far inside the 10-minute grace period: the alert, not the
    // detector's timer, made it act.
    const incident = await loop.finalIncident(bad);
    expect(incident.conditions.at(-1)?.type).toBe('Converged');
    expect(incident.details.alerts?.[0]).toMatchObject({
      source: 'alertmanager',
      name: 'ReconciliationFailure',
      status: 'firing',
      fingerprint: 'c0ffee1234567890',
    });
    expect((await runtime.incidents.list(10)).map((r) => r.id)).toEqual([incident.id]);
  });

  it('a Flux error event for a failing Kustomization opens an incident that converges', async () => {
    // No detector: the event is the only trigger.
    loop = await startLoop({
      roles: ['rollback', 'verifier'],
      alerts: { flux: { hmacSecretEnv: 'TEST_FLUX_HMAC' } },
      env: { TEST_FLUX_HMAC: HMAC_KEY },
    });
    const { sandbox, fleet } = loop;
    const url = `${loop.httpUrl!}/webhooks/flux`;
    const signed = (body: unknown) => ({
      'x-signature': `sha256=${createHmac('sha256', HMAC_KEY).update(JSON.stringify(body)).digest('hex')}`,
      'gotk-component': 'kustomize-controller',
    });
    const event = (kind: string, severity: string, revision: string) => ({
      involvedObject: {
        apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
        kind,
        name: 'podinfo',
        namespace: fleet.namespace,
        uid: '7d0cdc51-ddcf-4743-b223-83ca5c699632',
      },
      metadata: { revision: `main@sha1:${revision}` },
      severity,
      reason: 'HealthCheckFailed',
      message:
        'health check failed after 4s: timeout waiting for: [Deployment/default/podinfo status: InProgress]',
      reportingController: 'kustomize-controller',
      reportingInstance: 'kustomize-controller-7c7b47f5f-8bhrp',
      timestamp: new Date().toISOString(),
    });

    const bad = await fleet.setPodinfoImage(BROKEN);
    fleet.notifyPush();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', failing);

    const info = event('Kustomization', 'info', bad);
    expect((await post(url, info, signed(info))).body.results?.[0]).toMatchObject({ reason: 'NotAnError' });
    const helm = event('HelmRelease', 'error', bad);
    expect((await post(url, helm, signed(helm))).body.results?.[0]).toMatchObject({
      reason: 'UnsupportedKind',
    });
    const error = event('Kustomization', 'error', bad);
    expect((await post(url, error, { 'x-signature': `sha256=${'0'.repeat(64)}` })).status).toBe(401);
    const opened = await post(url, error, signed(error));
    expect(opened.status, JSON.stringify(opened.body)).toBe(202);
    expect(opened.body.results?.[0]?.kind).toBe('opened');

    const incident = await loop.finalIncident(bad);
    expect(incident.conditions.at(-1)?.type).toBe('Converged');
    expect(incident.details.trigger).toBe('alert');
    expect(incident.details.alerts?.[0]).toMatchObject({
      source: 'flux',
      name: 'HealthCheckFailed',
      revision: `main@sha1:${bad}`,
    });
  });
});
