import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sign } from '@octokit/webhooks-methods';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type GitHubWebhookEvent, createGitHubWebhookHandler } from '../../src/server/webhooks.ts';
import { redisUrl } from '../global-setup.ts';
import { recordingLogger } from '../helpers/wait.ts';

const SECRET = `whsec-${randomUUID()}`;
const PREFIX = `rewind-test:webhooks:${randomUUID()}:`;
const MAX = 64 * 1024;

interface Reply {
  status: number;
  body: unknown;
}

let redis: Redis;
let server: http.Server;
let url: string;
const logs: string[] = [];
const received: GitHubWebhookEvent[] = [];
let failNext = false;

beforeAll(async () => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  const handler = createGitHubWebhookHandler({
    secret: SECRET,
    maxBodyBytes: MAX,
    dedupe: { redis, prefix: PREFIX, ttlSeconds: 60 },
    log: recordingLogger(logs),
    onEvent: async (event) => {
      if (failNext) {
        failNext = false;
        throw new Error('queue unavailable');
      }
      received.push(event);
    },
  });
  server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/github`;
});

afterEach(() => {
  received.length = 0;
  failNext = false;
});

afterAll(async () => {
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  // The signature and the secret never reach a log line.
  const all = logs.join('\n');
  expect(all).not.toContain(SECRET);
  expect(all).not.toContain('sha256=');
});

async function deliver(
  body: string,
  headers: Record<string, string | undefined> = {},
  deliveryId = randomUUID(),
): Promise<Reply> {
  const signature = await sign(SECRET, body);
  const all: Record<string, string> = {};
  for (const [k, v] of Object.entries({
    'content-type': 'application/json',
    'x-github-event': 'issue_comment',
    'x-github-delivery': deliveryId,
    'x-hub-signature-256': signature,
    ...headers,
  })) {
    if (v !== undefined) all[k] = v;
  }
  const response = await fetch(url, { method: 'POST', headers: all, body });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

const payload = JSON.stringify({
  action: 'created',
  issue: { number: 7, body: null, pull_request: {} },
  comment: { body: '/rollback podinfo' },
});

describe('POST /webhooks/github', () => {
  it('accepts a validly signed delivery once and hands it over', async () => {
    const id = randomUUID();

    const reply = await deliver(payload, {}, id);

    expect(reply).toEqual({ status: 202, body: { accepted: true } });
    expect(received).toEqual([{ name: 'issue_comment', deliveryId: id, payload: JSON.parse(payload) }]);
    expect(await redis.ttl(`${PREFIX}${id}`)).toBeGreaterThan(0);
  });

  it('ignores a duplicate delivery without handing it over again', async () => {
    const id = randomUUID();
    await deliver(payload, {}, id);

    const again = await deliver(payload, {}, id);

    expect(again).toEqual({ status: 200, body: { duplicate: true } });
    expect(received).toHaveLength(1);
  });

  it('refuses a bad signature with 401', async () => {
    const wrong = await sign('another secret', payload);

    const reply = await deliver(payload, { 'x-hub-signature-256': wrong });

    expect(reply.status).toBe(401);
    expect(received).toHaveLength(0);
  });

  it('refuses a delivery without a signature with 401', async () => {
    const reply = await deliver(payload, { 'x-hub-signature-256': undefined });

    expect(reply.status).toBe(401);
    expect(received).toHaveLength(0);
  });

  it('requires the event and delivery headers', async () => {
    expect((await deliver(payload, { 'x-github-event': undefined })).status).toBe(400);
    expect((await deliver(payload, { 'x-github-delivery': 'not a guid; DEL *' })).status).toBe(400);
  });

  it('refuses a signed body that is not JSON with 400, after checking the signature', async () => {
    const reply = await deliver('{"action": "created",');

    expect(reply.status).toBe(400);
    expect(received).toHaveLength(0);
  });

  it('refuses an oversized body with 413 without reading it all', async () => {
    const total = 64 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let sent = 0;

    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'push',
          'x-github-delivery': randomUUID(),
          'x-hub-signature-256': `sha256=${'0'.repeat(64)}`,
          // No content-length: chunked, so the cap must hold while reading.
        },
      });
      let answered = false;
      req.on('response', (res) => {
        answered = true;
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', (error) => {
        if (!answered) reject(error);
      });
      const pump = (): void => {
        while (!answered && sent < total) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        if (!answered) req.end();
      };
      pump();
    });

    expect(status).toBe(413);
    expect(sent).toBeLessThan(total);
    expect(received).toHaveLength(0);
  });

  it('refuses a declared oversized body with 413 before reading it', async () => {
    const reply = await deliver('x'.repeat(MAX + 1));

    expect(reply.status).toBe(413);
  });

  it('refuses a pull_request payload whose body is not text with 422, and its redelivery the same way', async () => {
    const id = randomUUID();
    const odd = JSON.stringify({ action: 'edited', pull_request: { number: 7, body: { html: '<b>' } } });

    const first = await deliver(odd, { 'x-github-event': 'pull_request' }, id);
    const redelivery = await deliver(odd, { 'x-github-event': 'pull_request' }, id);

    expect(first.status).toBe(422);
    expect(first.body).toMatchObject({ problems: [expect.stringContaining('pull_request.body')] });
    expect(redelivery).toEqual(first);
    expect(await redis.exists(`${PREFIX}${id}`)).toBe(0);
    expect(received).toHaveLength(0);
  });

  it('refuses a null payload for an event it handles with 422', async () => {
    for (const event of ['pull_request', 'issue_comment', 'ping']) {
      expect((await deliver('null', { 'x-github-event': event })).status).toBe(422);
    }
    expect(received).toHaveLength(0);
  });

  it('acknowledges events it does not handle without handing them over, whatever their shape', async () => {
    for (const body of ['null', '[1,2]', JSON.stringify({ ref: 'refs/heads/main' })]) {
      expect(await deliver(body, { 'x-github-event': 'push' })).toEqual({
        status: 200,
        body: { ignored: true },
      });
    }
    expect(received).toHaveLength(0);
  });

  it('answers a ping without handing it over', async () => {
    const hello = JSON.stringify({ zen: 'Design for failure.', hook_id: 1, hook: { active: true } });

    expect(await deliver(hello, { 'x-github-event': 'ping' })).toEqual({ status: 200, body: { pong: true } });
    expect(received).toHaveLength(0);
  });

  it('hands over only the fields Rewind reads from a pull_request payload', async () => {
    const id = randomUUID();
    const full = {
      action: 'closed',
      number: 7,
      pull_request: { number: 7, body: null, merged: true, title: 'Revert', head: { sha: 'c'.repeat(40) } },
      repository: { full_name: 'acme/fleet' },
      sender: { login: 'octocat' },
    };

    const reply = await deliver(JSON.stringify(full), { 'x-github-event': 'pull_request' }, id);

    expect(reply.status).toBe(202);
    expect(received).toEqual([
      {
        name: 'pull_request',
        deliveryId: id,
        payload: { action: 'closed', pull_request: { number: 7, body: null, merged: true } },
      },
    ]);
  });

  it('refuses a badly signed payload with 401 before looking at its shape', async () => {
    const wrong = await sign('another secret', 'null');

    const reply = await deliver('null', { 'x-github-event': 'pull_request', 'x-hub-signature-256': wrong });

    expect(reply.status).toBe(401);
  });

  it('answers 500 when the event cannot be handed over, and accepts the redelivery', async () => {
    const id = randomUUID();
    failNext = true;

    const first = await deliver(payload, {}, id);
    const redelivery = await deliver(payload, {}, id);

    expect(first.status).toBe(500);
    expect(redelivery).toEqual({ status: 202, body: { accepted: true } });
    expect(received.map((e) => e.deliveryId)).toEqual([id]);
  });
});
