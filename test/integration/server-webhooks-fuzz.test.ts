// Anyone holding the webhook secret (GitHub, a person redelivering, a compromised integration) can
// send any bytes. Thousands of signed, seeded-random deliveries shaped like real GitHub payloads with
// one part broken must never answer 5xx, never hand a bad shape to the consumer, and never slow the
// server down. Same seed, same deliveries: a failure names the seed and the delivery to replay.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sign } from '@octokit/webhooks-methods';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_MARKED_TEXT_LENGTH } from '../../src/domain/branch.ts';
import { mulberry32 } from '../../src/sandbox/forge/faults.ts';
import { wakeIncidentsFor } from '../../src/server/github-events.ts';
import { type GitHubWebhookEvent, createGitHubWebhookHandler } from '../../src/server/webhooks.ts';
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

const SEED = 20_240_607;
const DELIVERIES = 3_000;
const CONCURRENCY = 8;
const SECRET = `whsec-${randomUUID()}`;
const PREFIX = `rewind-test:webhooks-fuzz:${randomUUID()}:`;
const INCIDENT = 'inc-ks.flux-system.podinfo-0123456789ab';
const MARKER = `<!-- rewind:incident=${INCIDENT} culprit=${'c'.repeat(40)} -->`;
/** Generous for a busy 2-core machine: the point is "no request stalls", not a benchmark. */
const SLOWEST_ANSWER_MS = 3_000;

let redis: Redis;
let server: http.Server;
let url: string;
const logs: string[] = [];
const handedOver = new Map<string, GitHubWebhookEvent>();
const woken: string[] = [];

beforeAll(async () => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  const log = recordingLogger(logs);
  const incidents = {
    wake: (id: string): Promise<boolean> => {
      woken.push(id);
      return Promise.resolve(true);
    },
    followMerged: (): Promise<boolean> => Promise.resolve(false),
  };
  server = http.createServer(
    createGitHubWebhookHandler({
      secret: SECRET,
      dedupe: { redis, prefix: PREFIX, ttlSeconds: 120 },
      log,
      onEvent: async (event) => {
        handedOver.set(event.deliveryId, event);
        await wakeIncidentsFor(event, incidents, log);
      },
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/github`;
});

afterAll(async () => {
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

// Payloads as GitHub sends them (trimmed to a realistic core; see docs.github.com webhook-events).
function user(login: string): Record<string, unknown> {
  return { login, id: 1, node_id: 'U_1', type: 'User', site_admin: false };
}
function repository(): Record<string, unknown> {
  return { id: 1, name: 'fleet', full_name: 'acme/fleet', private: true, owner: user('acme') };
}
function pullRequest(merged: boolean): Record<string, unknown> {
  return {
    action: merged ? 'closed' : 'opened',
    number: 7,
    pull_request: {
      id: 500_007,
      number: 7,
      state: merged ? 'closed' : 'open',
      title: 'Revert "bump podinfo"',
      body: `Reverting.\n\n${MARKER}\n`,
      user: user('rewind[bot]'),
      labels: [{ id: 1, name: 'rewind' }],
      merged,
      merged_at: merged ? '2024-06-07T10:00:00Z' : null,
      head: { ref: 'rewind/flux-system/podinfo/cccccccccccc', sha: 'c'.repeat(40) },
      base: { ref: 'main', sha: 'd'.repeat(40) },
    },
    repository: repository(),
    sender: user('octocat'),
  };
}
function issueComment(): Record<string, unknown> {
  return {
    action: 'created',
    issue: {
      id: 400_007,
      number: 7,
      title: 'Revert "bump podinfo"',
      body: `Reverting.\n\n${MARKER}\n`,
      state: 'open',
      user: user('rewind[bot]'),
      labels: [],
      pull_request: { url: 'https://api.github.com/repos/acme/fleet/pulls/7', merged_at: null },
    },
    comment: { id: 9, body: 'looks good', user: user('octocat'), created_at: '2024-06-07T10:00:00Z' },
    repository: repository(),
    sender: user('octocat'),
  };
}
function ping(): Record<string, unknown> {
  return { zen: 'Keep it logically awesome.', hook_id: 42, hook: { type: 'Repository', active: true } };
}

function hostile(random: Random): unknown {
  return hostileValue(random, {
    bigSizes: [MAX_MARKED_TEXT_LENGTH + 1, 600_000],
    extra: ['<!--rewind:incident='.repeat(100), MARKER],
  });
}

interface Delivery {
  readonly name: string;
  readonly body: string;
  /** Set when the broken part is one Rewind reads: such a delivery must be refused. */
  readonly mustRefuse: boolean;
  readonly note: string;
}

/** The parts Rewind reads, stated independently of the implementation's schema. */
function breaksWhatRewindReads(name: string, payload: unknown): boolean {
  if (!['pull_request', 'issue_comment', 'ping'].includes(name)) return false;
  if (!isPlainObject(payload)) return true;
  const textOrNull = (v: unknown): boolean =>
    v === null || (typeof v === 'string' && v.length <= MAX_MARKED_TEXT_LENGTH);
  if (name === 'pull_request') {
    const pr = payload['pull_request'];
    return !isPlainObject(pr) || !textOrNull(pr['body']);
  }
  if (name === 'issue_comment') {
    const issue = payload['issue'];
    return !isPlainObject(issue) || !textOrNull(issue['body']);
  }
  return false;
}

function nextDelivery(random: Random): Delivery {
  const name = pickFrom(random, [
    'pull_request',
    'pull_request',
    'issue_comment',
    'issue_comment',
    'ping',
    'push',
    'check_run',
  ]);
  const base =
    name === 'pull_request'
      ? pullRequest(random() < 0.5)
      : name === 'issue_comment'
        ? issueComment()
        : name === 'ping'
          ? ping()
          : { ref: 'refs/heads/main', commits: [] };
  const roll = random();
  if (roll < 0.06) {
    // Raw text: mostly not JSON at all.
    const text = JSON.stringify(base);
    const broken = pickFrom(random, brokenJsonTexts(text, random));
    const body = broken === '' ? '{' : broken;
    let mustRefuse = true;
    try {
      mustRefuse = breaksWhatRewindReads(name, JSON.parse(body));
    } catch {
      // Not JSON: refused whatever the event.
    }
    return { name, body, mustRefuse, note: 'raw text' };
  }
  if (roll < 0.12) {
    return { name, body: JSON.stringify(base), mustRefuse: false, note: 'unchanged' };
  }
  const mutations = 1 + Math.floor(random() * 3);
  let payload: unknown = base;
  const notes: string[] = [];
  for (let i = 0; i < mutations; i++) {
    const path = pickFrom(random, pathsOf(payload));
    const replacement = hostile(random);
    const remove = random() < 0.2;
    payload = mutate(payload, path, replacement, remove);
    notes.push(`${remove ? 'delete' : 'set'} ${path.join('.') || '(root)'}`);
  }
  const body = JSON.stringify(payload);
  return { name, body, mustRefuse: breaksWhatRewindReads(name, payload), note: notes.join(', ') };
}

interface Outcome {
  readonly status: number;
  readonly ms: number;
}

async function deliver(name: string, body: string, deliveryId: string): Promise<Outcome> {
  const start = performance.now();
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': name,
      'x-github-delivery': deliveryId,
      'x-hub-signature-256': await sign(SECRET, body),
    },
    body,
  });
  await response.arrayBuffer();
  return { status: response.status, ms: performance.now() - start };
}

describe('POST /webhooks/github under fuzzed signed deliveries', () => {
  it(`never answers 5xx nor hands over a shape Rewind cannot read (${DELIVERIES} deliveries, seed ${SEED})`, async () => {
    const random = mulberry32(SEED);
    const deliveries = Array.from({ length: DELIVERIES }, (_, i) => ({
      ...nextDelivery(random),
      deliveryId: `fuzz-${SEED}-${i}`,
    }));
    const outcomes = new Map<string, Outcome>();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < deliveries.length) {
          const d = deliveries[next++]!;
          outcomes.set(d.deliveryId, await deliver(d.name, d.body, d.deliveryId));
        }
      }),
    );

    const failures: string[] = [];
    for (const d of deliveries) {
      const { status, ms } = outcomes.get(d.deliveryId)!;
      const event = handedOver.get(d.deliveryId);
      const why = (problem: string): void => {
        failures.push(`${d.deliveryId} ${d.name} [${d.note}]: ${problem}`);
      };
      if (![200, 202, 400, 413, 422].includes(status)) why(`answered ${status}`);
      if (ms > SLOWEST_ANSWER_MS) why(`answered after ${Math.round(ms)} ms`);
      if (status !== 202 && event !== undefined) why(`answered ${status} but was handed over`);
      if (status === 202 && event === undefined) why('answered 202 but was not handed over');
      if (d.mustRefuse && status < 400) why(`a shape Rewind cannot read was answered ${status}`);
    }
    expect(failures.slice(0, 20)).toEqual([]);

    const statuses = [...outcomes.values()].map((o) => o.status);
    // The campaign exercises every answer, so it keeps testing something as the payloads evolve.
    for (const status of [200, 202, 400, 422]) expect(statuses).toContain(status);
    expect(woken).toContain(INCIDENT);
  });

  it('refuses the redelivery of a refused delivery the same way, and accepts a good one afterwards', async () => {
    const random = mulberry32(SEED + 1);
    let refused = 0;
    for (let i = 0; i < 300 && refused < 50; i++) {
      const d = nextDelivery(random);
      const id = `redeliver-${SEED}-${i}`;
      const first = await deliver(d.name, d.body, id);
      if (first.status < 400) continue;
      refused++;

      const again = await deliver(d.name, d.body, id);

      expect({ note: d.note, status: again.status }).toEqual({ note: d.note, status: first.status });
      expect(await redis.exists(`${PREFIX}${id}`)).toBe(0);
    }
    expect(refused).toBeGreaterThan(10);

    woken.length = 0;
    const good = await deliver('pull_request', JSON.stringify(pullRequest(false)), randomUUID());
    expect(good.status).toBe(202);
    expect(woken).toEqual([INCIDENT]);
  });
});
