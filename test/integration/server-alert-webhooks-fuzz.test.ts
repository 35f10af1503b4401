// Whoever holds an alert endpoint's token or HMAC key (Alertmanager, notification-controller, a
// misconfigured integration) can send any bytes. Seeded-random payloads shaped like real ones with a
// part broken must never answer 5xx, never hand a shape Rewind cannot read to the incident path, and
// never stall the server. Same seed, same payloads: a failure names the seed and the payload.
import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEngineKind } from '../../src/domain/app-ref.ts';
import type { AlertEvidence } from '../../src/pipeline/alert-evidence.ts';
import { DEFAULT_ALERT_APP_LABELS } from '../../src/config/index.ts';
import { mulberry32 } from '../../src/sandbox/forge/faults.ts';
import { type AlertSource, createAlertWebhookHandler } from '../../src/server/alert-webhooks.ts';
import { redisUrl } from '../global-setup.ts';
import {
  type Random,
  brokenJsonTexts,
  hostileValue,
  isPlainObject,
  mutate,
  pathsOf,
  pickFrom,
} from '../helpers/fuzz.ts';
import { recordingLogger } from '../helpers/wait.ts';

const SEED = 20_261_124;
const PAYLOADS = 1_500;
const CONCURRENCY = 8;
const TOKEN = `am-${randomUUID()}`;
const HMAC_KEY = `flux-${randomUUID()}`;
const PREFIX = `rewind-test:alert-fuzz:${randomUUID()}:`;
const MAX_BODY = 256 * 1024;
/** Generous for a busy 2-core machine: the point is "no request stalls", not a benchmark. */
const SLOWEST_ANSWER_MS = 3_000;

let redis: Redis;
const servers: http.Server[] = [];
const urls = new Map<AlertSource, string>();
const raised: { source: AlertSource; app: unknown; evidence: AlertEvidence }[] = [];

beforeAll(async () => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  const log = recordingLogger([]);
  for (const source of ['alertmanager', 'flux'] as const) {
    const server = http.createServer(
      createAlertWebhookHandler({
        source,
        auth: source === 'alertmanager' ? { kind: 'bearer', token: TOKEN } : { kind: 'hmac', key: HMAC_KEY },
        appLabels: DEFAULT_ALERT_APP_LABELS,
        // The incident path is the runtime's; here it only records what reached it.
        raise: (app, evidence) => {
          raised.push({ source, app, evidence });
          return Promise.resolve({ kind: 'opened', incidentId: 'inc-ks.x.y-0123456789ab', message: 'ok' });
        },
        dedupe: { redis, prefix: `${PREFIX}${source}:`, ttlSeconds: 120 },
        maxBodyBytes: MAX_BODY,
        log,
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    urls.set(source, `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/${source}`);
  }
});

afterAll(async () => {
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

function alertmanager(random: Random): Record<string, unknown> {
  const labels = {
    alertname: 'ReconciliationFailure',
    kind: 'Kustomization',
    exported_namespace: 'flux-system',
    name: `app-${Math.floor(random() * 1e9)}`,
  };
  return {
    version: '4',
    groupKey: '{}:{alertname="ReconciliationFailure"}',
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'rewind',
    groupLabels: {},
    commonLabels: labels,
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts: [
      {
        status: 'firing',
        labels,
        annotations: { summary: 'failing' },
        startsAt: '2026-11-24T10:00:00Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus:9090',
        fingerprint: Math.floor(random() * 2 ** 52).toString(16),
      },
    ],
  };
}

function fluxEvent(random: Random): Record<string, unknown> {
  return {
    involvedObject: {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      name: `app-${Math.floor(random() * 1e9)}`,
      namespace: 'flux-system',
      uid: randomUUID(),
    },
    metadata: { revision: `main@sha1:${'a'.repeat(40)}` },
    severity: 'error',
    reason: 'HealthCheckFailed',
    message: 'health check failed',
    reportingController: 'kustomize-controller',
    reportingInstance: 'kustomize-controller-1',
    timestamp: '2026-11-24T10:00:00Z',
  };
}

const isString = (v: unknown, max: number): boolean => typeof v === 'string' && v.length <= max;
const isStringMap = (v: unknown, max: number): boolean =>
  isPlainObject(v) && Object.values(v).every((x) => isString(x, max));

/** The parts Rewind reads, stated independently of the implementation's schemas. */
function readable(source: AlertSource, payload: unknown): boolean {
  if (!isPlainObject(payload)) return false;
  if (source === 'flux') {
    const o = payload['involvedObject'];
    return (
      isPlainObject(o) &&
      isString(o['kind'], 100) &&
      isString(o['name'], 253) &&
      (o['namespace'] === undefined || isString(o['namespace'], 253)) &&
      isString(payload['severity'], 20) &&
      isString(payload['reason'], 300) &&
      isString(payload['message'], 40_000) &&
      isString(payload['reportingController'], 300)
    );
  }
  const alerts = payload['alerts'];
  return (
    payload['version'] === '4' &&
    Array.isArray(alerts) &&
    alerts.every(
      (a) =>
        isPlainObject(a) &&
        (a['status'] === 'firing' || a['status'] === 'resolved') &&
        isStringMap(a['labels'], 10_000) &&
        isString(a['startsAt'], 64) &&
        typeof a['fingerprint'] === 'string',
    )
  );
}

interface Payload {
  readonly source: AlertSource;
  readonly body: string;
  readonly readable: boolean;
  readonly note: string;
}

function nextPayload(random: Random): Payload {
  const source = pickFrom<AlertSource>(random, ['alertmanager', 'flux']);
  const base = source === 'alertmanager' ? alertmanager(random) : fluxEvent(random);
  if (random() < 0.06) {
    const broken = pickFrom(random, brokenJsonTexts(JSON.stringify(base), random));
    const body = broken === '' ? '{' : broken;
    let ok = false;
    try {
      ok = readable(source, JSON.parse(body));
    } catch {
      // Not JSON: refused.
    }
    return { source, body, readable: ok, note: 'raw text' };
  }
  if (random() < 0.1) return { source, body: JSON.stringify(base), readable: true, note: 'unchanged' };
  let payload: unknown = base;
  const notes: string[] = [];
  for (let i = 0; i < 1 + Math.floor(random() * 3); i++) {
    const path = pickFrom(random, pathsOf(payload));
    const remove = random() < 0.2;
    payload = mutate(
      payload,
      path,
      hostileValue(random, { bigSizes: [10_001, 200_000], extra: ['firing', 'error', '4', '{name}'] }),
      remove,
    );
    notes.push(`${remove ? 'delete' : 'set'} ${path.join('.') || '(root)'}`);
  }
  return {
    source,
    body: JSON.stringify(payload),
    readable: readable(source, payload),
    note: notes.join(', '),
  };
}

async function send(p: Payload): Promise<{ status: number; ms: number }> {
  const start = performance.now();
  const auth =
    p.source === 'alertmanager'
      ? { authorization: `Bearer ${TOKEN}` }
      : { 'x-signature': `sha256=${createHmac('sha256', HMAC_KEY).update(p.body).digest('hex')}` };
  const response = await fetch(urls.get(p.source)!, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: p.body,
  });
  await response.arrayBuffer();
  return { status: response.status, ms: performance.now() - start };
}

describe('POST /webhooks/alertmanager and /webhooks/flux under fuzzed authenticated payloads', () => {
  it(`never answer 5xx nor hand over a shape Rewind cannot read (${PAYLOADS} payloads, seed ${SEED})`, async () => {
    const random = mulberry32(SEED);
    const payloads = Array.from({ length: PAYLOADS }, () => nextPayload(random));
    const outcomes: { status: number; ms: number }[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < payloads.length) {
          const i = next++;
          outcomes[i] = await send(payloads[i]!);
        }
      }),
    );
    const failures: string[] = [];
    payloads.forEach((p, i) => {
      const { status, ms } = outcomes[i]!;
      const why = (problem: string): number => failures.push(`#${i} ${p.source} [${p.note}]: ${problem}`);
      if (![200, 202, 400, 413, 422].includes(status)) why(`answered ${status}`);
      if (ms > SLOWEST_ANSWER_MS) why(`answered after ${Math.round(ms)} ms`);
      if (!p.readable && status < 400) why(`a shape Rewind cannot read was answered ${status}`);
    });
    expect(failures.slice(0, 20)).toEqual([]);
    // Only valid apps and string evidence ever reach the incident path.
    for (const { app, evidence } of raised) {
      expect(isPlainObject(app) && isEngineKind(app['engine'])).toBe(true);
      expect(typeof evidence.name).toBe('string');
    }
    const statuses = new Set(outcomes.map((o) => o.status));
    for (const status of [200, 202, 400, 422]) expect(statuses).toContain(status);
  });
});
