// The dashboard on Rewind's HTTP listener, over a real Redis incident store: what its API shows and
// hides, how it refuses what it should, the event stream's limits, and (in headless Chromium) that
// hostile text from commit messages and PR titles stays text.
import http from 'node:http';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { appRef } from '../../src/domain/app-ref.ts';
import { parseCommitSha } from '../../src/domain/commit-sha.ts';
import { newIncident } from '../../src/domain/incident.ts';
import { freePort } from '../../src/demo/redis.ts';
import { silentLogger } from '../../src/logging.ts';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import { RedisIncidentStore } from '../../src/queue/incident-store.ts';
import type { DashboardOptions } from '../../src/server/dashboard/dashboard.ts';
import { type HttpListener, listenHttp } from '../../src/server/http.ts';
import { redisUrl } from '../global-setup.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { until } from '../helpers/wait.ts';
import { RewindMetrics } from '../../src/server/metrics.ts';

const prefix = `rewind-test-dashboard-${process.pid}-${Date.now()}`;
const TOKEN = `ghs_${'Z9y8X7w6V5'.repeat(4)}`;
const HOSTILE_SUBJECT = `Bump podinfo <img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`;
let redis: Redis;
let store: RedisIncidentStore;
let listener: HttpListener | undefined;
let counter = 0;

beforeAll(() => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  store = new RedisIncidentStore(redis, prefix);
});

afterEach(async () => {
  await listener?.close();
  listener = undefined;
});

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

async function serve(dashboard?: DashboardOptions, incidents = store): Promise<string> {
  listener = await listenHttp({
    port: 0,
    host: '127.0.0.1',
    log: silentLogger(),
    ...(dashboard ? { dashboard } : {}),
  });
  listener.serve({
    incidents,
    probes: {
      wedgedAfterMs: 60_000,
      pingRedis: async () => undefined,
      pingApiServer: async () => undefined,
    },
    metrics: new RewindMetrics({
      queues: () => [],
      informers: () => undefined,
      detectorEnqueued: () => undefined,
      recentIncidents: () => incidents.list(10),
    }),
    wake: () => Promise.resolve(false),
    followMerged: () => Promise.resolve(false),
  });
  return listener.url;
}

/** A converged incident whose record holds everything the dashboard must not show. */
async function storedIncident(overrides: Partial<IncidentRecord['details']> = {}): Promise<IncidentRecord> {
  counter += 1;
  const bad = parseCommitSha(counter.toString(16).padStart(40, 'b'));
  const culprit = bad;
  const t0 = Date.now() - 5000;
  const detected = newIncident({
    app: appRef('flux-kustomization', 'flux-system', `podinfo${counter}`),
    badRevision: bad,
    goodRevision: parseCommitSha('c'.repeat(40)),
    reason: 'PodsFailing',
    message: '1 Pod(s) of the new revision are failing: ImagePullBackOff',
    at: new Date(t0),
  });
  const at = (s: number): string => new Date(t0 + s * 1000).toISOString();
  const record: IncidentRecord = {
    ...detected,
    culprit,
    conditions: [
      ...detected.conditions,
      { type: 'Located', reason: 'SingleCommit', message: 'the only commit in range', at: at(1) },
      { type: 'RevertPrepared', reason: 'RevertCommitted', message: 'revert prepared', at: at(2) },
      { type: 'Merged', reason: 'Pushed', message: 'pushed', at: at(2.5) },
      { type: 'ReconcileRequested', reason: 'Requested', message: 'requested', at: at(3) },
      {
        type: 'Converged',
        reason: 'LastGoodReplicaSet',
        message: 'runs its last-good ReplicaSet',
        at: at(4),
      },
    ],
    details: {
      trigger: 'pods',
      dryRun: false,
      culpritSubject: HOSTILE_SUBJECT,
      culpritRule: 'single-commit',
      confidence: 'high',
      source: { url: `https://x-access-token:${TOKEN}@github.example/org/fleet.git`, branch: 'main' },
      revert: { kind: 'scoped', sha: 'd'.repeat(40), paths: ['apps/base/podinfo/deployment.yaml'] },
      pr: { number: 7, url: 'javascript:window.__pwned=3', branch: 'rewind/flux-system/podinfo/bbbb' },
      reconcileToken: 'reconcile-token-not-for-browsers',
      hold: { secretish: 'hold-state-not-for-browsers' },
      verification: [
        { namespace: 'default', name: 'podinfo', state: 'converged', reasons: ['2/2 available'] },
      ],
      templates: {
        podinfo: { env: [{ name: 'API_KEY', value: 'template-env-not-for-browsers' }] },
      } as never,
      ...overrides,
    },
    updatedAt: at(4),
  };
  const saved = await store.create(record);
  if (saved.kind !== 'saved') throw new Error('expected a new record');
  return saved.record;
}

function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { headers, redirect: 'manual' });
}

/** An open event stream: the raw text received so far, and a way to hang up. */
function openStream(url: string): Promise<{ status: number; text: () => string; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('error', () => {});
      resolve({ status: res.statusCode ?? 0, text: () => body, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

describe('the dashboard API', () => {
  it('lists incidents and shows one by id, with the culprit, revert, timeline, timings and evidence', async () => {
    const record = await storedIncident();
    const url = await serve();
    const list = (await (await get(`${url}/api/incidents`)).json()) as { incidents: { id: string }[] };
    expect(list.incidents.map((i) => i.id)).toContain(record.id);
    const res = await get(`${url}/api/incidents/${record.id}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const view = (await res.json()) as Record<string, any>;
    expect(view['condition']).toBe('Converged');
    expect(view['culprit']).toMatchObject({
      sha: record.culprit,
      subject: HOSTILE_SUBJECT,
      rule: 'single-commit',
    });
    expect(view['revert']).toMatchObject({ kind: 'scoped', sha: 'd'.repeat(40) });
    expect(view['timeline'].map((c: { type: string }) => c.type)).toEqual(
      record.conditions.map((c) => c.type),
    );
    expect(view['timingsMs']).toMatchObject({ locate: 1000, converge: 1000, total: 4000 });
    expect(view['verification']).toEqual([
      { namespace: 'default', name: 'podinfo', state: 'converged', reasons: ['2/2 available'] },
    ]);
    // A link only ever over http(s).
    expect(view['pullRequest']).toMatchObject({ number: 7, url: null });
  });

  it('never sends credentials, pod templates, hold state or reconcile tokens', async () => {
    const plain = await storedIncident({
      source: { url: 'https://justatoken123@git.example/org/fleet.git', branch: 'main' },
    });
    await storedIncident();
    const url = await serve();
    const bodies = [
      await (await get(`${url}/api/incidents`)).text(),
      await (await get(`${url}/api/incidents/${plain.id}`)).text(),
    ];
    for (const body of bodies) {
      expect(body).not.toContain(TOKEN);
      expect(body).not.toContain('justatoken123');
      expect(body).not.toContain('not-for-browsers');
      expect(body).toContain('[REDACTED]@');
    }
  });

  it('refuses bad ids, unknown ids and anything but GET', async () => {
    const url = await serve();
    for (const bad of ['..%2F..%2Fetc', 'inc-x', `inc-${'a'.repeat(400)}-0123456789ab`, '%3Cscript%3E']) {
      const res = await get(`${url}/api/incidents/${bad}`);
      expect(res.status, bad).toBe(400);
    }
    expect((await get(`${url}/api/incidents/inc-ks.flux-system.nothing-0123456789ab`)).status).toBe(404);
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(`${url}/api/incidents`, { method, body: method === 'DELETE' ? null : '{}' });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
    }
    expect((await get(`${url}/dashboard/../etc/passwd`)).status).toBe(404);
  });

  it('answers HEAD on every GET route as GET does, without a body', async () => {
    const record = await storedIncident();
    const url = await serve();
    const routes = [
      '/',
      '/dashboard/',
      '/dashboard/app.js',
      '/api/incidents',
      `/api/incidents/${record.id}`,
      '/api/incidents/inc-ks.flux-system.nothing-0123456789ab',
      '/api/events',
      '/healthz',
      '/readyz',
      '/metrics',
    ];
    for (const route of routes) {
      const [got, head] = await Promise.all([
        route === '/api/events' ? undefined : fetch(`${url}${route}`, { redirect: 'manual' }),
        fetch(`${url}${route}`, { method: 'HEAD', redirect: 'manual' }),
      ]);
      expect(head.status, route).toBe(got?.status ?? 200);
      expect(head.headers.get('content-type'), route).toBe(
        got ? got.headers.get('content-type') : 'text/event-stream; charset=utf-8',
      );
      expect(await head.text(), route).toBe('');
      await got?.text();
    }
    const post = await fetch(`${url}/healthz`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('says "dry run: revert prepared, not pushed" for a dry run, and why for an incident that needs a human', async () => {
    const dry = await storedIncident({ dryRun: true, trigger: 'manual' });
    counter += 1;
    const human = newIncident({
      app: appRef('flux-kustomization', 'flux-system', `podinfo${counter}`),
      badRevision: parseCommitSha(counter.toString(16).padStart(40, 'e')),
      reason: 'PodsFailing',
      message: 'failing',
      at: new Date(),
    });
    const untrusted = 'file:///srv/fleet.git is not a trusted source: set git.allowFileRemotes.';
    const saved = await store.create({
      ...human,
      conditions: [
        ...human.conditions,
        { type: 'NeedsHuman', reason: 'UntrustedSource', message: untrusted, at: new Date().toISOString() },
      ],
      details: { trigger: 'pods', dryRun: false },
      updatedAt: new Date().toISOString(),
    });
    if (saved.kind !== 'saved') throw new Error('expected a new record');
    const url = await serve({ pollMs: 100 });
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${url}/dashboard/#/incidents/${dry.id}`);
      const dryRow = page.locator(`tr[data-id="${dry.id}"]`);
      await dryRow.waitFor({ timeout: 20_000 });
      expect(await dryRow.locator('td').nth(4).textContent()).toBe('dry run: revert prepared, not pushed');
      await page.locator('#detail dl.facts').waitFor({ timeout: 20_000 });
      const facts = (await page.locator('#detail dl.facts').textContent()) ?? '';
      expect(facts).toContain('dry run: revert prepared, not pushed');
      expect(facts).not.toMatch(/scoped\s*dddd/);
      const humanCells =
        (await page.locator(`tr[data-id="${saved.record.id}"] td`).nth(3).textContent()) ?? '';
      expect(humanCells).toContain('UntrustedSource');
      expect(humanCells).toContain(untrusted);
      expect(humanCells).not.toContain('not located yet');
    } finally {
      await browser.close();
    }
  });

  it('serves the page with a strict content security policy, and / leads to it', async () => {
    const url = await serve();
    const root = await get(`${url}/`);
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/dashboard/');
    const page = await get(`${url}/dashboard/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await page.text()).toContain('<script src="app.js" defer></script>');
  });

  it('asks for the token when one is configured (Bearer, or Basic with it as password)', async () => {
    const url = await serve({ token: TOKEN });
    const none = await get(`${url}/api/incidents`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect((await get(`${url}/dashboard/`, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await get(`${url}/api/incidents`, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    const basic = Buffer.from(`anyone:${TOKEN}`).toString('base64');
    expect((await get(`${url}/dashboard/`, { authorization: `Basic ${basic}` })).status).toBe(200);
    // Health and metrics stay open for probes.
    expect((await get(`${url}/healthz`)).status).toBe(200);
  });

  it('can be switched off', async () => {
    const url = await serve({ enabled: false });
    expect((await get(`${url}/dashboard/`)).status).toBe(404);
    expect((await get(`${url}/api/incidents`)).status).toBe(404);
    expect((await get(`${url}/healthz`)).status).toBe(200);
  });
});

describe('the dashboard event stream', () => {
  it('pushes a change of the store to open pages, caps them, and frees a slot when one hangs up', async () => {
    const url = await serve({ maxClients: 2, pollMs: 50 });
    const first = await openStream(`${url}/api/events`);
    const second = await openStream(`${url}/api/events`);
    expect([first.status, second.status]).toEqual([200, 200]);
    const refused = await get(`${url}/api/events`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('10');

    await until(() => first.text().includes('event: incidents'), 'the first snapshot', 10_000);
    const record = await storedIncident();
    await until(() => first.text().includes(record.id), 'the new incident on the stream', 10_000);
    await until(() => second.text().includes(record.id), 'the new incident on the second stream', 10_000);

    first.close();
    await until(
      async () => {
        const third = await openStream(`${url}/api/events`);
        third.close();
        return third.status === 200;
      },
      'a slot freed by the page that hung up',
      10_000,
      100,
    );
    second.close();
  });

  it('says so when Redis cannot be read, without a 500 or a hang', async () => {
    // A real client on a port nobody listens on, failing commands at once instead of queueing them.
    const port = await freePort();
    const dead = new Redis({ port, host: '127.0.0.1', enableOfflineQueue: false, lazyConnect: true });
    dead.on('error', () => {});
    try {
      const url = await serve({ pollMs: 50 }, new RedisIncidentStore(dead, prefix));
      const list = await get(`${url}/api/incidents`);
      expect(list.status).toBe(503);
      expect(await list.text()).not.toContain(String(port));
      const stream = await openStream(`${url}/api/events`);
      await until(() => stream.text().includes('event: problem'), 'the problem event', 10_000);
      expect(stream.text()).not.toContain(String(port));
      stream.close();
    } finally {
      dead.disconnect();
    }
  });

  it('closes open streams when the server closes', async () => {
    const url = await serve({ pollMs: 50 });
    const stream = await openStream(`${url}/api/events`);
    expect(stream.status).toBe(200);
    await listener!.close();
    listener = undefined;
  });
});

describe('the dashboard page in Chromium', () => {
  it('renders hostile commit subjects and links as text, running none of them', async () => {
    const record = await storedIncident();
    const url = await serve({ pollMs: 100 });
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`${url}/dashboard/#/incidents/${record.id}`);
      const row = page.locator(`tr[data-id="${record.id}"]`);
      await row.waitFor({ timeout: 20_000 });
      await expect.poll(() => row.locator('.subject').textContent()).toBe(HOSTILE_SUBJECT);
      await page.locator('#detail .subject').waitFor({ timeout: 20_000 });
      expect(await page.locator('#detail .subject').textContent()).toBe(HOSTILE_SUBJECT);
      expect(await page.locator('img, script:not([src])').count()).toBe(0);
      expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
      expect(await page.locator('a[href^="javascript"]').count()).toBe(0);
      expect(await page.content()).not.toContain(TOKEN);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('still shows the incidents when every stream slot is taken, by reading the list instead', async () => {
    const record = await storedIncident();
    const url = await serve({ maxClients: 0 });
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${url}/dashboard/`);
      await page.locator(`tr[data-id="${record.id}"]`).waitFor({ timeout: 20_000 });
      expect(await page.locator('#live').textContent()).toContain('live updates unavailable');
    } finally {
      await browser.close();
    }
  });
});
