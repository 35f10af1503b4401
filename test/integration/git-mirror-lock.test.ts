// Replicas sharing one git workdir: two processes fetch into the same bare mirror, add worktrees and
// push from them while people push to main, all at once. The Redis mirror lock (the one
// workers/runtime.ts injects) keeps their ref updates apart: no "cannot lock ref", no corrupt
// mirror, every pushed commit on the remote. Without it (the in-process chain only) the same run
// fails on ref locks.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { createFleetRepository } from '../../src/sandbox/fleet-repository.ts';
import { deletePrefix } from '../../src/sandbox/loop.ts';
import { redisUrl } from '../global-setup.ts';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ROUNDS = 12;
const prefix = `{rewind-test-mirror-lock-${process.pid}-${Date.now()}}`;
const cleanups: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

function hammer(workdir: string, remote: string, id: string): Promise<{ code: number; out: string }> {
  return run(
    process.execPath,
    [
      '--import',
      'tsx',
      'test/helpers/mirror-hammer.ts',
      workdir,
      remote,
      redisUrl(),
      prefix,
      id,
      String(ROUNDS),
    ],
    { cwd: ROOT },
  ).then(
    (r) => ({ code: 0, out: r.stdout }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
  );
}

it('two processes share a mirror: concurrent fetches, worktrees and pushes all succeed', async () => {
  const repo = await createFleetRepository();
  cleanups.push(() => repo.cleanup());
  await repo.commit('initial', { 'README.md': '# fleet\n' });
  const workdir = await mkdtemp(path.join(tmpdir(), 'rewind-shared-workdir-'));
  cleanups.push(() => rm(workdir, { recursive: true, force: true }));
  const redis = new Redis(redisUrl());
  cleanups.push(async () => {
    await deletePrefix(redis, prefix);
    redis.disconnect();
  });

  const hammers = Promise.all([hammer(workdir, repo.remote, 'a'), hammer(workdir, repo.remote, 'b')]);
  // People keep pushing to main meanwhile, so every fetch has refs to update.
  let done = false;
  void hammers.finally(() => (done = true));
  let pushes = 0;
  while (!done) {
    await repo.commit(`person ${pushes}`, { [`people/${pushes}.txt`]: `${pushes}\n` });
    pushes++;
  }
  const results = await hammers;
  for (const result of results) expect(result, result.out).toMatchObject({ code: 0 });
  const branches = (await run('git', ['-C', repo.remote, 'branch', '--list', 'a-*', 'b-*'])).stdout;
  expect(branches.split('\n').filter(Boolean)).toHaveLength(2 * ROUNDS);
  const mirrors = (await run('ls', [path.join(workdir, 'mirrors')])).stdout.split('\n').filter(Boolean);
  expect(mirrors).toHaveLength(1);
  await run('git', ['-C', path.join(workdir, 'mirrors', mirrors[0]!), 'fsck', '--strict']);
  expect(pushes).toBeGreaterThan(0);
}, 120_000);
