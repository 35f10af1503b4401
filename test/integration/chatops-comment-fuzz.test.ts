// Signed issue_comment deliveries that are not commands (edits, deletions, bots, Rewind's own
// replies, `/rollback` lines GitHub shows as code or a quote or hides, broken shapes, hostile text)
// must never answer 5xx, never crash the handler and never become a ChatOps job; a visible command
// in the same comment still does. Seeded: a failure names the delivery.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sign } from '@octokit/webhooks-methods';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commentCommandFrom } from '../../src/chatops/github-comments.ts';
import { mulberry32 } from '../../src/sandbox/forge/faults.ts';
import type { GitHubCommentJob } from '../../src/queue/jobs.ts';
import { createGitHubWebhookHandler } from '../../src/server/webhooks.ts';
import { redisUrl } from '../global-setup.ts';
import { recordingLogger } from '../helpers/wait.ts';

const SEED = 4_242;
const DELIVERIES = 1_500;
const SECRET = `whsec-${randomUUID()}`;
const PREFIX = `rewind-test:chatops-fuzz:${randomUUID()}:`;

let redis: Redis;
let server: http.Server;
let url: string;
const jobs: { delivery: number; job: GitHubCommentJob }[] = [];
let current = -1;

beforeAll(async () => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  server = http.createServer(
    createGitHubWebhookHandler({
      secret: SECRET,
      dedupe: { redis, prefix: PREFIX, ttlSeconds: 120 },
      log: recordingLogger([]),
      onEvent: async (event) => {
        if (event.name !== 'issue_comment') return;
        const job = commentCommandFrom(event.payload);
        if (typeof job !== 'string') jobs.push({ delivery: current, job });
      },
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/github`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

function payload(overrides: { action?: unknown; body?: unknown; user?: unknown; id?: unknown }) {
  return {
    action: 'action' in overrides ? overrides.action : 'created',
    issue: { number: 7, body: null, html_url: 'https://github.com/o/r/issues/7' },
    comment: {
      id: 'id' in overrides ? overrides.id : 1234,
      body: 'body' in overrides ? overrides.body : '/rollback flux-system/podinfo',
      html_url: 'https://github.com/o/r/issues/7#issuecomment-1234',
      user: 'user' in overrides ? overrides.user : { login: 'wanda', type: 'User' },
    },
    repository: { name: 'r', owner: { login: 'o' } },
    sender: { login: 'wanda', type: 'User' },
  };
}

async function deliver(body: string): Promise<number> {
  const response = await fetch(url, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'issue_comment',
      'x-github-delivery': randomUUID(),
      'x-hub-signature-256': await sign(SECRET, body),
    },
  });
  await response.arrayBuffer();
  return response.status;
}

// `/rollback` where GitHub shows code, a quote, or nothing at all.
const HIDING = [
  'For reference only:\n\n    /rollback flux-system/podinfo\n\nDo not run it yet.',
  'Logs:\n\n\t/rollback flux-system/podinfo',
  '```\n~~~\n/rollback flux-system/podinfo\n~~~\n```',
  '````\n```\n/rollback flux-system/podinfo\n```\n````',
  '<!--\n/rollback flux-system/podinfo\n-->',
  '<!-- /rollback flux-system/podinfo -->',
  '<pre>\n\n/rollback flux-system/podinfo\n\n</pre>',
  '<details>\n\n/rollback flux-system/podinfo\n\n</details>',
  '> As they said:\n/rollback flux-system/podinfo',
];

const HOSTILE = ['\u0000', '\u202e', '😀', '<script>', '@everyone', '`', '\r\n', ' -- ', 'x'.repeat(5000)];

function notACommand(random: () => number): Record<string, unknown> {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const noise = Array.from({ length: 1 + Math.floor(random() * 6) }, () => pick(HOSTILE)).join('');
  switch (Math.floor(random() * 10)) {
    case 0:
      return payload({ action: pick(['edited', 'deleted', 'pinned', '', 'CREATED']) });
    case 1:
      return payload({ user: { login: pick(['rewind[bot]', 'dependabot[bot]', 'x']), type: 'Bot' } });
    case 2:
      return payload({ body: `${noise}\n<!-- rewind:chatops reply=1 -->\n/rollback flux-system/podinfo` });
    case 3:
      return payload({ body: `> /rollback flux-system/podinfo\n${noise}` });
    case 4:
      return payload({ body: `\`\`\`\n/rollback flux-system/podinfo\n\`\`\`\n${noise}` });
    case 9:
      return payload({ body: `${pick(HIDING)}\n\n${noise}` });
    case 5:
      // Mid-line: not at the start of a line (no line breaks before it).
      return payload({ body: `see ${noise.replace(/[\r\n]/g, '')} /rollback flux-system/podinfo` });
    case 6:
      return payload({ body: pick([7, null, [], {}, true]) });
    case 7:
      return payload({
        user: pick([null, 'wanda', { type: 'User' }, { login: 7 }]),
        id: pick([-1, 0, 'x', 1.5]),
      });
    default:
      return { ...payload({}), comment: pick([null, 'comment', [], { id: 1 }]) };
  }
}

describe('signed issue_comment deliveries that are not commands', () => {
  it(`never answer 5xx and never become a ChatOps job (${DELIVERIES} deliveries, seed ${SEED})`, async () => {
    const random = mulberry32(SEED);
    const statuses = new Map<number, number>();
    for (let i = 0; i < DELIVERIES; i += 1) {
      current = i;
      const status = await deliver(JSON.stringify(notACommand(random)));
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      expect(status, `seed ${SEED}, delivery ${i}`).toBeLessThan(500);
    }
    expect(jobs, JSON.stringify(jobs.slice(0, 3))).toEqual([]);
    expect(statuses.get(202) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(422) ?? 0).toBeGreaterThan(0);
  }, 300_000);

  it('runs the visible command of a comment that also holds hidden, fenced or quoted ones', async () => {
    for (const [n, hidden] of HIDING.entries()) {
      jobs.length = 0;
      current = -2 - n;
      const body = `${hidden}\n\n/rollback flux-system/visible -- after the hidden one`;
      expect(await deliver(JSON.stringify(payload({ body })))).toBe(202);
      expect(
        jobs.map((j) => j.job.line),
        hidden,
      ).toEqual(['/rollback flux-system/visible -- after the hidden one']);
    }
    jobs.length = 0;
  });

  it('turns the same comment, created by a person, into exactly one job (the fuzz can see one)', async () => {
    current = -1;
    expect(await deliver(JSON.stringify(payload({})))).toBe(202);
    expect(jobs).toEqual([
      {
        delivery: -1,
        job: expect.objectContaining({ owner: 'o', repo: 'r', commentId: 1234, login: 'wanda' }),
      },
    ]);
  });
});
