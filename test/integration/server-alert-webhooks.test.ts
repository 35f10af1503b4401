// The alert endpoints against a real Redis, with the incident path replaced by a recorder (the whole
// path runs in test/e2e/alert-triggers.test.ts): authentication before the body, the size cap, which
// alerts reach the incident path, deduplication, and what is forgotten when nothing was done.
import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ALERT_APP_LABELS } from '../../src/config/index.ts';
import type { AppRef } from '../../src/domain/app-ref.ts';
import type { AlertEvidence, AlertOutcome } from '../../src/pipeline/alert-evidence.ts';
import { appOfAlert } from '../../src/server/alert-payloads.ts';
import { type AlertAuth, createAlertWebhookHandler } from '../../src/server/alert-webhooks.ts';
import { redisUrl } from '../global-setup.ts';
import { recordingLogger } from '../helpers/wait.ts';

const TOKEN = `token-${randomUUID()}`;
const KEY = `key-${randomUUID()}`;
const PREFIX = `rewind-test:alert-webhooks:${randomUUID()}:`;
const MAX_BODY = 8 * 1024;

let redis: Redis;
const servers: http.Server[] = [];
const logs: string[] = [];
const raised: { app: AppRef; evidence: AlertEvidence }[] = [];
/** What the incident path answers next (a healthy app: ignored; a Redis outage: throws). */
let answerNext: () => Promise<AlertOutcome> = () =>
  Promise.resolve({ kind: 'opened', incidentId: 'inc-ks.flux-system.podinfo-0123456789ab', message: 'ok' });

async function serve(source: 'alertmanager' | 'flux', auth: AlertAuth): Promise<string> {
  const server = http.createServer(
    createAlertWebhookHandler({
      source,
      auth,
      appLabels: DEFAULT_ALERT_APP_LABELS,
      raise: (app, evidence) => {
        raised.push({ app, evidence });
        return answerNext();
      },
      dedupe: { redis, prefix: `${PREFIX}${source}:`, ttlSeconds: 60 },
      maxBodyBytes: MAX_BODY,
      log: recordingLogger(logs),
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let alertmanagerUrl: string;
let fluxUrl: string;

beforeAll(async () => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  alertmanagerUrl = await serve('alertmanager', { kind: 'bearer', token: TOKEN });
  fluxUrl = await serve('flux', { kind: 'hmac', key: KEY });
});

afterAll(async () => {
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

function alert(fingerprint: string, labels: Record<string, string>, status = 'firing') {
  return {
    status,
    labels,
    annotations: { summary: 'failing' },
    startsAt: '2026-11-24T10:00:00Z',
    fingerprint,
  };
}

function payload(...alerts: ReturnType<typeof alert>[]) {
  return { version: '4', receiver: 'rewind', status: 'firing', alerts };
}

const podinfo = {
  alertname: 'ReconciliationFailure',
  kind: 'Kustomization',
  exported_namespace: 'apps',
  name: 'podinfo',
};

async function post(url: string, body: string, headers: Record<string, string>) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return {
    status: res.status,
    body: (await res.json()) as { results?: (AlertOutcome & { index: number })[] },
  };
}

const bearer = { authorization: `Bearer ${TOKEN}` };
const signed = (body: string) => ({
  'x-signature': `sha256=${createHmac('sha256', KEY).update(body).digest('hex')}`,
});

describe('alert label templates', () => {
  it('name the app from the first template whose labels are all there', () => {
    expect(
      appOfAlert(
        { rewind_app: 'app/argocd/web', kind: 'Kustomization', name: 'x' },
        DEFAULT_ALERT_APP_LABELS,
      ),
    ).toEqual({
      engine: 'argo-application',
      namespace: 'argocd',
      name: 'web',
    });
    expect(appOfAlert(podinfo, DEFAULT_ALERT_APP_LABELS)).toEqual({
      engine: 'flux-kustomization',
      namespace: 'apps',
      name: 'podinfo',
    });
    expect(
      appOfAlert(
        {
          label_kustomize_toolkit_fluxcd_io_namespace: 'flux-system',
          label_kustomize_toolkit_fluxcd_io_name: 'infra',
        },
        DEFAULT_ALERT_APP_LABELS,
      ),
    ).toMatchObject({ engine: 'flux-kustomization', name: 'infra' });
    // A kind Rewind has no engine alias for, or a value that is no Kubernetes name: not an app.
    expect(
      appOfAlert({ kind: 'GitRepository', namespace: 'a', name: 'b' }, DEFAULT_ALERT_APP_LABELS),
    ).toBeUndefined();
    expect(appOfAlert({ rewind_app: 'ks/Bad Name/x' }, DEFAULT_ALERT_APP_LABELS)).toBeUndefined();
    expect(appOfAlert({ namespace: 'default', pod: 'x' }, DEFAULT_ALERT_APP_LABELS)).toBeUndefined();
  });
});

describe('POST /webhooks/alertmanager and /webhooks/flux', () => {
  it('refuses a missing or wrong bearer token, and a body over the cap, without reading it', async () => {
    const body = JSON.stringify(payload(alert('a1', podinfo)));
    expect((await post(alertmanagerUrl, body, {})).status).toBe(401);
    expect((await post(alertmanagerUrl, body, { authorization: `Bearer ${TOKEN}x` })).status).toBe(401);
    expect((await post(alertmanagerUrl, body, { authorization: TOKEN })).status).toBe(401);
    const big = JSON.stringify(payload(alert('a2', { ...podinfo, filler: 'x'.repeat(MAX_BODY) })));
    expect((await post(alertmanagerUrl, big, bearer)).status).toBe(413);
    expect(raised).toEqual([]);
    expect(logs.join('\n')).not.toContain(TOKEN);
  });

  it('acts on firing alerts that name an app, once, and forgets an alert that did nothing', async () => {
    raised.length = 0;
    const body = JSON.stringify(
      payload(alert('b1', podinfo), alert('b2', podinfo, 'resolved'), alert('b3', { alertname: 'Watchdog' })),
    );
    const first = await post(alertmanagerUrl, body, bearer);
    expect(first.status).toBe(202);
    expect(first.body.results?.map((r) => (r.kind === 'ignored' ? r.reason : r.kind))).toEqual([
      'opened',
      'Resolved',
      'NoApp',
    ]);
    expect(raised.map((r) => r.evidence)).toEqual([
      expect.objectContaining({ source: 'alertmanager', name: 'ReconciliationFailure', fingerprint: 'b1' }),
    ]);
    const again = await post(alertmanagerUrl, body, bearer);
    expect(again.status).toBe(200);
    expect(again.body.results?.[0]).toMatchObject({ kind: 'ignored', reason: 'Duplicate' });

    // The app was healthy: the same alert sent again later is looked at again.
    answerNext = () => Promise.resolve({ kind: 'ignored', reason: 'AppHealthy', message: 'healthy' });
    const healthy = JSON.stringify(payload(alert('c1', podinfo)));
    expect((await post(alertmanagerUrl, healthy, bearer)).body.results?.[0]).toMatchObject({
      reason: 'AppHealthy',
    });
    expect((await post(alertmanagerUrl, healthy, bearer)).body.results?.[0]).toMatchObject({
      reason: 'AppHealthy',
    });

    // The incident path is down: 503 (Alertmanager retries) and the alert is not remembered.
    answerNext = () => Promise.reject(new Error('redis down'));
    const down = JSON.stringify(payload(alert('d1', podinfo)));
    expect((await post(alertmanagerUrl, down, bearer)).status).toBe(503);
    answerNext = () =>
      Promise.resolve({ kind: 'opened', incidentId: 'inc-ks.apps.podinfo-0123456789ab', message: 'ok' });
    expect((await post(alertmanagerUrl, down, bearer)).status).toBe(202);
  });

  it('checks the HMAC on the raw body, and acts only on error events about kinds Rewind drives', async () => {
    raised.length = 0;
    const event = (kind: string, severity: string) =>
      JSON.stringify({
        involvedObject: { kind, namespace: 'apps', name: 'podinfo' },
        severity,
        reason: 'HealthCheckFailed',
        message: 'timeout',
        metadata: { 'kustomize.toolkit.fluxcd.io/revision': 'main/731f7eaddfb6af01cb2173e18f0f75b0ba780ef1' },
        reportingController: 'kustomize-controller',
        timestamp: '2026-11-24T10:00:00Z',
      });
    const error = event('Kustomization', 'error');
    expect((await post(fluxUrl, error, {})).status).toBe(401);
    expect((await post(fluxUrl, error, { 'x-signature': 'sha256=abc' })).status).toBe(401);
    expect((await post(fluxUrl, `${error} `, signed(error))).status).toBe(401);
    const info = event('Kustomization', 'info');
    expect((await post(fluxUrl, info, signed(info))).body.results?.[0]).toMatchObject({
      reason: 'NotAnError',
    });
    const helm = event('HelmRelease', 'error');
    expect((await post(fluxUrl, helm, signed(helm))).body.results?.[0]).toMatchObject({
      reason: 'UnsupportedKind',
    });
    const unreadable = JSON.stringify({ involvedObject: { kind: 'Kustomization' } });
    expect((await post(fluxUrl, unreadable, signed(unreadable))).status).toBe(422);
    expect((await post(fluxUrl, error, signed(error))).status).toBe(202);
    // The older prefixed metadata key (notification-controller before v1.5) is read too.
    expect(raised.map((r) => r.evidence.revision)).toEqual(['main/731f7eaddfb6af01cb2173e18f0f75b0ba780ef1']);
    expect(logs.join('\n')).not.toContain(KEY);
  });
});
