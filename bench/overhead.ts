// Bot overhead: the time Rewind itself adds, from "incident detected" to "revert pushed and
// reconcile requested" (the incident's Detected and ReconcileRequested conditions), on the sample
// Flux fleet (a four-commit repository, direct push). The baseline is the same work done by hand
// with raw git in the same run: clone, fetch, log of the range over the app's paths, a revert scoped
// to those paths, push. Each run also counts Rewind's git processes inside that window and their
// wall time, by command (the profile that says where the time goes).
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureRedis } from '../src/demo/redis.ts';
import { stageTimings } from '../src/domain/incident.ts';
import type { GitProcessEvent } from '../src/git/repo.ts';
import { BROKEN_IMAGE_GLOB, createFleet, readyFor, waitForKustomization } from '../src/sandbox/scenario.ts';
import { startSandbox } from '../src/sandbox/sandbox.ts';
import { startBenchRewind } from './lib/bench-rewind.ts';
import { byCommand } from './lib/git-profile.ts';
import { median, numberArg } from './lib/stats.ts';

const GOOD = 'ghcr.io/stefanprodan/podinfo:6.5.1';
const BAD = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';
const APP_PATHS = ['apps/podinfo', 'apps/base/podinfo'];
const TARGET_MS = 500;

interface RunResult {
  overheadMs: number;
  byHandMs: number;
  stages: Record<string, number>;
  gitProcesses: number;
  gitMs: number;
  byCommand: Record<string, { count: number; ms: number }>;
  /** Each git process in the window: ms after Detected it started, its command line, its wall ms. */
  sequence: string[];
}

export async function run(args: string[]): Promise<unknown> {
  const runs = numberArg(args, '--runs', 5);
  const redis = await ensureRedis(process.env['REDIS_URL']);
  try {
    const results: RunResult[] = [];
    for (let i = 0; i < runs; i++) results.push(await oneRun(redis.url));
    const overhead = median(results.map((r) => r.overheadMs));
    const byHand = median(results.map((r) => r.byHandMs));
    return {
      benchmark: 'overhead',
      runs,
      note: 'overhead = incident Detected -> ReconcileRequested (direct push, four-commit fleet); byHand = clone + fetch + log + scoped revert + push with raw git, same run',
      overheadMedianMs: overhead,
      byHandMedianMs: byHand,
      ratioToByHand: round(overhead / byHand),
      targetMs: TARGET_MS,
      meetsTarget: overhead <= TARGET_MS,
      gitProcessesMedian: median(results.map((r) => r.gitProcesses)),
      gitMsMedian: Math.round(median(results.map((r) => r.gitMs))),
      runsMs: results.map((r) => [r.overheadMs, r.byHandMs]),
      lastRun: {
        stages: results.at(-1)?.stages,
        gitByCommand: results.at(-1)?.byCommand,
        ...(args.includes('--trace') ? { gitSequence: results.at(-1)?.sequence } : {}),
      },
      node: process.version,
    };
  } finally {
    await redis.stop();
  }
}

async function oneRun(redisUrl: string): Promise<RunResult> {
  const sandbox = await startSandbox({ podReadyMs: 200, unreadyImages: [BROKEN_IMAGE_GLOB] });
  const fleet = await createFleet({ sandbox, timeout: '2s', replicas: 2 });
  const events: GitProcessEvent[] = [];
  const rewind = await startBenchRewind({
    sandbox,
    redisUrl,
    fastPath: false,
    gitObserver: (e) => events.push(e),
  });
  const snapshot = await mkdtemp(path.join(tmpdir(), 'rewind-overhead-'));
  try {
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(await fleet.head()));
    const good = await fleet.setPodinfoImage(GOOD);
    fleet.notifyPush();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(good));
    const bad = await fleet.setPodinfoImage(BAD);
    // The remote as the person finds it (before Rewind pushes), for the by-hand baseline.
    await cp(fleet.remote, path.join(snapshot, 'remote.git'), { recursive: true });
    fleet.notifyPush();

    const record = await reconcileRequested(rewind.runtime, bad);
    const at = (type: string): number => Date.parse(record.conditions.find((c) => c.type === type)!.at);
    const from = at('Detected');
    const to = at('ReconcileRequested');
    const inWindow = events.filter((e) => {
      const started = performance.timeOrigin + e.startedAt;
      return started >= from && started <= to;
    });
    const byHandMs = await byHand(path.join(snapshot, 'remote.git'), good, bad);
    return {
      overheadMs: to - from,
      byHandMs,
      stages: stageTimings(record) as Record<string, number>,
      gitProcesses: inWindow.length,
      gitMs: inWindow.reduce((sum, e) => sum + e.ms, 0),
      byCommand: byCommand(inWindow),
      sequence: inWindow.map(
        (e) =>
          `+${Math.round(performance.timeOrigin + e.startedAt - from)} ${e.args.slice(0, 3).join(' ')} ${Math.round(e.ms)}ms`,
      ),
    };
  } finally {
    await rewind.close();
    await sandbox.stop();
    await fleet.cleanup();
    await rm(snapshot, { recursive: true, force: true });
  }
}

async function reconcileRequested(
  runtime: Awaited<ReturnType<typeof startBenchRewind>>['runtime'],
  bad: string,
) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const record = (await runtime.incidents.list(10)).find((r) => r.badRevision === bad);
    const last = record?.conditions.at(-1);
    if (record && record.conditions.some((c) => c.type === 'ReconcileRequested')) return record;
    if (last && ['Failed', 'NeedsHuman', 'Superseded', 'Ignored'].includes(last.type))
      throw new Error(`incident ended ${last.type}: ${last.message}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('no reconcile request within 60 s');
}

/** What a person does: clone, fetch, find the culprit over the app's paths, scoped revert, push. */
async function byHand(remote: string, good: string, bad: string): Promise<number> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rewind-by-hand-'));
  const work = path.join(dir, 'work');
  const git = personGit();
  try {
    const started = performance.now();
    await git(dir, 'clone', '--quiet', `file://${remote}`, work);
    await git(work, 'fetch', '--quiet', 'origin');
    const log = await git(
      work,
      'log',
      '--first-parent',
      '--format=%H',
      `${good}..${bad}`,
      '--',
      ...APP_PATHS,
    );
    const culprit = log.split('\n')[0]!.trim();
    const patch = path.join(dir, 'revert.patch');
    await git(work, 'diff', '--binary', `--output=${patch}`, culprit, `${culprit}^`, '--', ...APP_PATHS);
    await git(work, 'apply', '--index', patch);
    await git(work, 'commit', '--quiet', '-m', `Revert ${culprit}`);
    await git(work, 'push', '--quiet', 'origin', 'HEAD:main');
    return Math.round(performance.now() - started);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Raw git as a person runs it (their own identity, no system or global config). */
export function personGit(): (cwd: string, ...args: string[]) => Promise<string> {
  const env = {
    PATH: process.env['PATH'] ?? '',
    HOME: tmpdir(),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Person',
    GIT_AUTHOR_EMAIL: 'person@example.com',
    GIT_COMMITTER_NAME: 'Person',
    GIT_COMMITTER_EMAIL: 'person@example.com',
  };
  const exec = promisify(execFile);
  return async (cwd, ...args) => (await exec('git', args, { cwd, env, maxBuffer: 256 * 1024 * 1024 })).stdout;
}

function round(n: number): number {
  return Number(n.toFixed(2));
}
