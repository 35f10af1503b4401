import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { frontendDeployment, readyFor, waitForKustomization } from '../../src/sandbox/scenario.ts';
import { redisUrl } from '../global-setup.ts';
import { GITHUB_TEST_TOKEN, type Loop, revertCommitsFor, startLoop } from '../helpers/loop.ts';
import { until } from '../helpers/wait.ts';

const BROKEN = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';
const run = promisify(execFile);

function capture(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  return {
    stream: new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString());
        done();
      },
    }),
    text: () => chunks.join(''),
  };
}

/** Every value stored under the loop's Redis prefix (job data, incident records, dedupe keys). */
async function redisDump(prefix: string): Promise<string> {
  const redis = new Redis(redisUrl());
  try {
    const keys = await redis.keys(`${prefix}*`);
    const values: string[] = [];
    for (const key of keys) {
      const type = await redis.type(key);
      if (type === 'string') values.push((await redis.get(key)) ?? '');
      else if (type === 'hash') values.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'list') values.push(JSON.stringify(await redis.lrange(key, 0, -1)));
      else if (type === 'zset') values.push(JSON.stringify(await redis.zrange(key, 0, -1)));
    }
    return values.join('\n');
  } finally {
    redis.disconnect();
  }
}

describe('revert pull requests on a GitHub-compatible forge', () => {
  let loop: Loop | undefined;
  afterEach(async () => {
    await loop?.stop();
    loop = undefined;
  });

  it('auto-merge: opens one PR with the evidence, merges it with the sha guard, posts the result once, and never leaks the token', async () => {
    const logs = capture();
    loop = await startLoop({ forge: {}, logTo: logs.stream });
    const { fleet } = loop;
    const forge = loop.forge!;
    const bad = await fleet.setPodinfoImage(BROKEN);
    fleet.notifyPush();
    const incident = await loop.finalIncident(bad);
    expect(incident.conditions.map((c) => c.type)).toEqual([
      'Detected',
      'Located',
      'RevertPrepared',
      'PullRequestOpened',
      'Merged',
      'ReconcileRequested',
      'Converged',
    ]);

    expect(forge.state.pulls).toHaveLength(1);
    const pr = forge.state.pulls[0]!;
    expect(pr.headRef).toBe(`rewind/flux-system/podinfo/${bad.slice(0, 12)}`);
    expect(pr.merged).toBe(true);
    expect(pr.title).toContain('Revert "Bump podinfo to 6.6.0-broken"');
    expect(pr.labels).toEqual(expect.arrayContaining(['rewind', 'rollback']));
    expect(pr.requestedReviewers).toContain('alice');
    expect(pr.body).toContain('flux-system/podinfo');
    expect(pr.body).toContain(bad.slice(0, 7));
    expect(pr.body).toContain('single-commit');
    expect(pr.body).toContain('podinfo:6.6.0-broken');
    expect(pr.body).toContain(`<!-- rewind:incident=${incident.id} culprit=${bad} -->`);
    const merges = forge.state.requests.filter((r) => r.route === 'pulls.merge' && r.status === 200);
    expect(merges).toHaveLength(1);

    await until(
      () => forge.state.comments.some((c) => c.body.includes('rewind:result')),
      'the result comment',
      5000,
    );
    expect(forge.state.comments.filter((c) => c.body.includes('rewind:result'))).toHaveLength(1);

    // Git: the merge commit is on main and carries exactly one revert for the incident.
    expect(await revertCommitsFor(fleet, incident.id)).toHaveLength(1);
    expect(await fleet.work.raw(['show', 'origin/main:apps/base/podinfo/deployment.yaml'])).toContain(
      'podinfo:6.5.0',
    );

    // The token never reaches logs, Redis (job data, records) or what Rewind wrote on the forge.
    const written = [
      ...forge.state.pulls.map((p) => `${p.title}\n${p.body}`),
      ...forge.state.comments.map((c) => c.body),
    ].join('\n');
    for (const text of [logs.text(), await redisDump(loop.config.redis.prefix), written]) {
      expect(text).not.toContain(GITHUB_TEST_TOKEN);
      expect(text).not.toContain(GITHUB_TEST_TOKEN.slice(0, 40));
    }
    expect(logs.text()).toContain('rewind started');
  });

  it('propose: waits for a person; their merge (webhook) carries the incident to Converged', async () => {
    loop = await startLoop({ forge: { pollInterval: '10m' }, policy: { mode: 'propose' } });
    const { fleet } = loop;
    const forge = loop.forge!;
    const bad = await fleet.setPodinfoImage(BROKEN);
    fleet.notifyPush();
    await until(async () => {
      const record = (await loop!.runtime.incidents.list(5)).find((r) => r.badRevision === bad);
      return record?.conditions.at(-1)?.type === 'PullRequestOpened';
    }, 'the pull request');
    await new Promise((r) => setTimeout(r, 500));
    const waiting = (await loop.runtime.incidents.list(5)).find((r) => r.badRevision === bad)!;
    expect(waiting.conditions.at(-1)?.type).toBe('PullRequestOpened');
    expect(forge.state.pulls[0]?.merged).toBe(false);

    await forge.humanMerge(forge.state.pulls[0]!.number, 'alice');
    // The poll interval is 10 minutes: only the webhook can make this converge in time.
    const incident = await loop.finalIncident(bad, 30_000);
    expect(incident.conditions.at(-1)?.type).toBe('Converged');
    expect(incident.conditions.find((c) => c.type === 'Merged')?.reason).toBe('PullRequestMerged');
    expect(forge.state.pulls).toHaveLength(1);
  });

  it('a PR nobody reviews in time needs a human; merging it later still rolls back and verifies', async () => {
    loop = await startLoop({
      forge: { pollInterval: '300ms' },
      policy: { mode: 'propose', reviewTimeout: '1s' },
    });
    const { fleet } = loop;
    const forge = loop.forge!;
    const bad = await fleet.setPodinfoImage(BROKEN);
    fleet.notifyPush();
    const waited = await loop.finalIncident(bad, 30_000);
    expect(waited.conditions.at(-1)).toMatchObject({ type: 'NeedsHuman', reason: 'ReviewTimeout' });
    expect(forge.state.pulls[0]).toMatchObject({ state: 'open', merged: false });

    await forge.humanMerge(forge.state.pulls[0]!.number, 'alice');
    await until(async () => {
      const record = (await loop!.runtime.incidents.list(5)).find((r) => r.badRevision === bad);
      return record?.conditions.at(-1)?.type === 'Converged';
    }, 'convergence after the late merge');
    const incident = (await loop.runtime.incidents.list(5)).find((r) => r.badRevision === bad)!;
    expect(incident.conditions.map((c) => c.type).slice(-4)).toEqual([
      'NeedsHuman',
      'Merged',
      'ReconcileRequested',
      'Converged',
    ]);
    expect(forge.state.pulls).toHaveLength(1);
  });

  it('a PR closed without merging ends the incident as Ignored', async () => {
    loop = await startLoop({ forge: { pollInterval: '10m' }, policy: { mode: 'propose' } });
    const { fleet } = loop;
    const forge = loop.forge!;
    const bad = await fleet.setPodinfoImage(BROKEN);
    fleet.notifyPush();
    await until(() => forge.state.pulls.length === 1, 'the pull request');
    await until(async () => {
      const record = (await loop!.runtime.incidents.list(5)).find((r) => r.badRevision === bad);
      return record?.conditions.at(-1)?.type === 'PullRequestOpened';
    }, 'PullRequestOpened');
    await forge.humanClose(forge.state.pulls[0]!.number, 'alice');
    // The poll interval is 10 minutes: the webhook wakes the incident.
    const incident = await loop.finalIncident(bad, 15_000);
    expect(incident.conditions.at(-1)).toMatchObject({ type: 'Ignored', reason: 'PullRequestClosed' });
    expect(await fleet.head()).toBe(bad);
  });

  it('branch protection refuses the merge: the PR stays open with a comment saying why, the incident needs a human', async () => {
    loop = await startLoop({ forge: { protection: { blockMerges: true } } });
    const { fleet } = loop;
    const forge = loop.forge!;
    const bad = await fleet.setPodinfoImage(BROKEN);
    fleet.notifyPush();
    const incident = await loop.finalIncident(bad);
    expect(incident.conditions.at(-1)).toMatchObject({ type: 'NeedsHuman', reason: 'MergeRefused' });
    expect(forge.state.pulls).toHaveLength(1);
    expect(forge.state.pulls[0]).toMatchObject({ state: 'open', merged: false });
    const refused = forge.state.comments.filter((c) => c.body.includes('rewind:merge-refused'));
    expect(refused).toHaveLength(1);
  });

  it('`rewind rollback` goes through a pull request too, and posts the result on it', async () => {
    loop = await startLoop({ forge: {}, roles: ['verifier'] });
    const { fleet, sandbox } = loop;
    const forge = loop.forge!;
    const good = await fleet.head();
    const next = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.7.0');
    fleet.notifyPush();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(next));
    const configFile = path.join(loop.workdir, 'rewind.yaml');
    await writeFile(configFile, stringify(loop.configInput));
    const result = await run(
      'node',
      ['bin/rewind.mjs', 'rollback', 'flux-system/podinfo', '--to', good, '--config', configFile],
      { env: { ...process.env, ...loop.env, REWIND_LOG_LEVEL: 'silent' } },
    );
    expect(result.stdout).toMatch(/PullRequestOpened/);
    expect(result.stdout).toMatch(/Converged/);
    expect(forge.state.pulls).toHaveLength(1);
    expect(forge.state.pulls[0]?.merged).toBe(true);
    expect(forge.state.comments.filter((c) => c.body.includes('rewind:result'))).toHaveLength(1);
  });

  it('one culprit breaking two apps gives one pull request that lists both', async () => {
    loop = await startLoop({ forge: {} });
    const { fleet } = loop;
    const forge = loop.forge!;
    const bad = await fleet.setPodinfoImage(BROKEN, {
      'apps/frontend/deployment.yaml': frontendDeployment('ghcr.io/example/frontend:2.0.0-broken', 2),
    });
    fleet.notifyPush();
    const first = await loop.finalIncident(bad);
    const both = async () =>
      (await loop!.runtime.incidents.list(10)).filter(
        (r) =>
          r.badRevision === bad &&
          ['Converged', 'NeedsHuman', 'Failed', 'Ignored'].includes(r.conditions.at(-1)!.type),
      );
    await until(async () => (await both()).length === 2, 'both incidents to end', 40_000);
    const records = await both();
    expect(records.map((r) => r.conditions.at(-1)?.type)).toEqual(['Converged', 'Converged']);
    expect(forge.state.pulls).toHaveLength(1);
    const pr = forge.state.pulls[0]!;
    expect(pr.body).toContain('flux-system/podinfo');
    expect(pr.body).toContain('flux-system/frontend');
    expect(first.details.pr?.number).toBe(pr.number);
  });
});
