// The fault campaign: the real bot on the sandbox, each scenario N times,
// and per scenario how many incidents were lost, how many duplicate writes Rewind made, how many
// people's commits it overwrote, how many of its own reverts it reverted, and how many rollbacks it
// should not have made. Everything is counted from the end state (bare repository history, forge
// records, the sandbox's Deployment), see bench/lib/end-state.ts. Goal: zero in every column.
//
//   npm run bench -- faults [--runs N] [--scenario NAME[,NAME]] [--seed S]
//
// JSON on stdout (like the other benchmarks), the table on stderr.
import { mulberry32 } from '../src/sandbox/forge/faults.ts';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Octokit } from '@octokit/rest';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { deploymentComplete } from '../src/cluster/rollout-verdict.ts';
import { parseConfig } from '../src/config/index.ts';
import { freePort, localRedisUrl, startPrivateRedis } from '../src/demo/redis.ts';
import { isTerminal } from '../src/domain/incident.ts';
import { silentLogger } from '../src/logging.ts';
import { spawnWorker } from '../src/sandbox/child-worker.ts';
import { type Loop, type LoopOptions, deletePrefix, startLoop } from '../src/sandbox/loop.ts';
import { DEPLOYMENT, KUSTOMIZATION, POD } from '../src/sandbox/resources.ts';
import { readyFor, waitForKustomization } from '../src/sandbox/scenario.ts';
import { type Runtime, startRuntime } from '../workers/runtime.ts';
import {
  type RewindMarks,
  fileAtHead,
  mainHistory,
  personOverwritten,
  revertsOfReverts,
  rewindChanges,
} from './lib/end-state.ts';

const GOOD = 'ghcr.io/stefanprodan/podinfo:6.5.1';
const BROKEN = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';
const BROKEN_AGAIN = 'ghcr.io/stefanprodan/podinfo:6.7.0-broken';
const FIX = 'ghcr.io/stefanprodan/podinfo:6.6.1';
const BROKEN_MARK = '-broken';
const PODINFO_FILE = 'apps/base/podinfo/deployment.yaml';
const APP_PATHS = ['apps/'];
const REWIND_EMAIL = 'rewind@example.invalid';
/** How long an incident may take to end and the app to recover before it counts as lost. */
const BOUND_MS = 60_000;

export interface RunCounts {
  incidentsLost: number;
  duplicateWrites: number;
  peoplesCommitsOverwritten: number;
  revertsOfReverts: number;
  needlessRollbacks: number;
}

export interface RunResult extends RunCounts {
  scenario: string;
  run: number;
  ms: number;
  /** What was seen, for a reader who wants to know why a count is not zero. */
  notes: string[];
}

interface RunContext {
  run: number;
  seed: number;
  redisUrl: string;
  random: () => number;
}

interface Scenario {
  readonly name: string;
  readonly what: string;
  run(ctx: RunContext): Promise<Omit<RunResult, 'scenario' | 'run' | 'ms'>>;
}

const ZERO: RunCounts = {
  incidentsLost: 0,
  duplicateWrites: 0,
  peoplesCommitsOverwritten: 0,
  revertsOfReverts: 0,
  needlessRollbacks: 0,
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function poll<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  stepMs = 100,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) return undefined;
    await sleep(stepMs);
  }
}

/** The incident for `bad` once final (Rewind's record: only used to know when to look). */
async function finalFor(runtime: Runtime, bad: string, timeoutMs = BOUND_MS) {
  return poll(async () => {
    const record = (await runtime.incidents.list(50).catch(() => [])).find((r) => r.badRevision === bad);
    const last = record?.conditions.at(-1);
    return last && isTerminal(last.type) ? record : undefined;
  }, timeoutMs);
}

/** The podinfo Deployment runs a non-broken image on every replica. */
function appRecovered(loop: Loop): boolean {
  const d = loop.sandbox.store.get(DEPLOYMENT, 'default', 'podinfo');
  const image: string = d?.spec?.template?.spec?.containers?.[0]?.image ?? '';
  return d !== undefined && !image.includes(BROKEN_MARK) && deploymentComplete(d);
}

function marksOf(loop: Loop): RewindMarks {
  const forge = loop.forge;
  return {
    authorEmail: REWIND_EMAIL,
    mergeShas: forge?.state.merges.map((m) => m.sha) ?? [],
    // In the campaign, every pull request is Rewind's.
    pullNumbers: forge?.state.pulls.map((p) => p.number) ?? [],
  };
}

/**
 * The counts every scenario shares, for `incidents` bad revisions that each needed one revert:
 * lost = an incident that did not end within the bound, or the app / main still broken at the end;
 * duplicates = revert commits, PRs, merges or result comments beyond one per incident.
 */
async function commonCounts(
  loop: Loop,
  bads: readonly string[],
  notes: string[],
  options: { runtime?: Runtime; expectReverts?: number } = {},
): Promise<RunCounts> {
  const runtime = options.runtime ?? loop.runtime;
  let lost = 0;
  for (const bad of bads) {
    const record = await finalFor(runtime, bad);
    if (!record) {
      lost++;
      notes.push(`incident for ${bad.slice(0, 7)} not final within ${BOUND_MS / 1000}s`);
    } else {
      const last = record.conditions.at(-1)!;
      notes.push(
        `${bad.slice(0, 7)}: ${last.type}${last.type === 'Converged' ? '' : ` (${last.reason}: ${last.message.slice(0, 160)})`}`,
      );
    }
  }
  const recovered = await poll(() => (appRecovered(loop) ? true : undefined), BOUND_MS);
  // Stragglers (a second process, a retried write) get a moment to show up before counting.
  await sleep(2000);
  const history = await mainHistory(loop.fleet.remote);
  const tip = await fileAtHead(loop.fleet.remote, PODINFO_FILE);
  if (!recovered || tip.includes(BROKEN_MARK)) {
    lost = Math.max(lost, 1);
    notes.push(!recovered ? 'app not recovered in the cluster' : 'main still has a broken image');
  }
  const marks = marksOf(loop);
  const changes = rewindChanges(history, marks);
  const expected = options.expectReverts ?? bads.length;
  let duplicates = Math.max(0, changes.length - expected);
  if (changes.length) notes.push(`${changes.length} Rewind commit(s) on main`);
  const forge = loop.forge;
  if (forge) {
    // The verifier posts the result comment right after Converged.
    await poll(
      () =>
        forge.state.comments.filter((c) => c.body.includes('rewind:result')).length >= expected
          ? true
          : undefined,
      10_000,
    );
    await sleep(500);
    const results = forge.state.comments.filter((c) => c.body.includes('rewind:result')).length;
    duplicates += Math.max(0, forge.state.pulls.length - expected);
    duplicates += Math.max(0, forge.state.merges.length - expected);
    duplicates += Math.max(0, results - forge.state.pulls.length);
    notes.push(
      `${forge.state.pulls.length} PR(s), ${forge.state.merges.length} merge(s), ${results} result comment(s)`,
    );
  }
  const rr = await revertsOfReverts(loop.fleet.remote, history, marks, BROKEN_MARK, APP_PATHS);
  if (rr.length) notes.push(`reverts of reverts: ${rr.map((c) => c.sha.slice(0, 7)).join(', ')}`);
  return { ...ZERO, incidentsLost: lost, duplicateWrites: duplicates, revertsOfReverts: rr.length };
}

async function withLoop<T>(options: LoopOptions, body: (loop: Loop) => Promise<T>): Promise<T> {
  const loop = await startLoop(options);
  try {
    return await body(loop);
  } finally {
    await loop.stop();
  }
}

/**
 * A person pushes a new podinfo image, on top of whatever main has now (Rewind may have pushed).
 * When the push loses a race with Rewind's own (rejected as not a fast-forward, or the remote could
 * not take its ref lock because Rewind's push was updating it), the person does what people do:
 * fetch, start again from the new main, push again. The commit rewrites the whole file, so there is
 * nothing to merge.
 */
async function personPushes(loop: Loop, image: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    await loop.fleet.work.fetch('origin');
    await loop.fleet.work.raw(['reset', '--hard', '--quiet', 'origin/main']);
    try {
      const sha = await loop.fleet.setPodinfoImage(image);
      loop.fleet.notifyPush();
      return sha;
    } catch (error) {
      const lostRace = /\[rejected\]|\[remote rejected\]|cannot lock ref|failed to update ref/i.test(
        String(error),
      );
      if (!lostRace || attempt >= 3) throw error;
    }
  }
}

function pushBroken(loop: Loop, image = BROKEN): Promise<string> {
  return personPushes(loop, image);
}

/** A second runtime on the loop's Redis prefix (another Rewind process), with its own git workdir. */
async function secondRuntime(loop: Loop, gitDir: string): Promise<Runtime> {
  const input = loop.configInput as { git: Record<string, unknown> } & Record<string, unknown>;
  const config = parseConfig(
    { ...input, git: { ...input.git, workdir: path.join(loop.workdir, gitDir) } },
    { env: loop.env },
  );
  return startRuntime({
    config,
    roles: ['detector', 'rollback', 'verifier'],
    log: silentLogger(),
    env: loop.env,
    verifyIntervalMs: 100,
    lockDurationMs: 3000,
    detector: { debounceMs: 10 },
    github: { minWriteGapMs: 20, retryBaseDelayMs: 20, retryAfterBaseMs: 20 },
  });
}

const fixForward: Scenario = {
  name: 'fix-forward',
  what: "a person's fix to the same line 1.5 s after the broken push (direct push, grace 1s, Flux timeout 4s)",
  run: (ctx) =>
    withLoop({ policy: { gracePeriod: '1s' }, timeout: '4s', redisUrl: ctx.redisUrl }, async (loop) => {
      const notes: string[] = [];
      const good = await personPushes(loop, GOOD);
      await waitForKustomization(loop.sandbox, loop.fleet.namespace, 'podinfo', readyFor(good));
      const bad = await pushBroken(loop);
      await sleep(1500);
      const fix = await personPushes(loop, FIX);
      // One revert over the fix is the overwrite counted below, not also a duplicate.
      const counts = await commonCounts(loop, [bad], notes);
      const history = await mainHistory(loop.fleet.remote);
      const overwritten = await personOverwritten(loop.fleet.remote, history, marksOf(loop), {
        sha: fix,
        file: PODINFO_FILE,
        line: `image: ${FIX}`,
      });
      return {
        ...counts,
        peoplesCommitsOverwritten: overwritten ? 1 : 0,
        notes,
      };
    }),
};

const squashLoop: Scenario = {
  name: 'squash-merge-loop',
  what: 'forge.mergeMethod squash, two consecutive incidents (does Rewind revert its own squashed revert?)',
  run: (ctx) =>
    withLoop(
      {
        forge: { mergeMethod: 'squash', pollInterval: '1s' },
        // Two incidents back to back: the budget's cooldown would (rightly) stop the second one.
        policy: { budgets: { cooldown: '1s', perHour: 5 } },
        redisUrl: ctx.redisUrl,
      },
      async (loop) => {
        const notes: string[] = [];
        const first = await pushBroken(loop, BROKEN);
        // The next broken push right as the first incident ends: Rewind's record of the last
        // healthy revision may still predate its own squashed revert, which is then in the culprit range.
        await finalFor(loop.runtime, first);
        const second = await pushBroken(loop, BROKEN_AGAIN);
        return { ...(await commonCounts(loop, [first, second], notes)), notes };
      },
    ),
};

const forgeFaults: Scenario = {
  name: 'forge-faults',
  what: 'revert PR with 30% of forge answers 5xx / 403 / 429 rate limits, 30% of writes losing their answer after the effect',
  run: (ctx) =>
    withLoop(
      {
        forge: {
          pollInterval: '1s',
          faults: {
            errorRate: 0.15,
            rateLimitRate: 0.05,
            secondaryRateLimitRate: 0.1,
            afterEffectRate: 0.3,
            seed: ctx.seed,
          },
        },
        redisUrl: ctx.redisUrl,
      },
      async (loop) => {
        const notes: string[] = [];
        const bad = await pushBroken(loop);
        const counts = await commonCounts(loop, [bad], notes);
        const requests = loop.forge!.state.requests;
        notes.push(
          `${requests.length} forge requests, ${requests.filter((r) => r.fault !== undefined).length} faulted`,
        );
        return { ...counts, notes };
      },
    ),
};

/** Every key under the prefix gone (wipe), or the whole Redis killed and restarted empty (kill). */
const redisLoss: Scenario = {
  name: 'redis-kill-wipe',
  what: 'mid-incident, at a random point: every key under the prefix deleted at once (even runs) or a private Redis SIGKILLed and restarted empty on the same port (odd runs)',
  async run(ctx) {
    const kill = ctx.run % 2 === 1;
    const port = kill ? await freePort() : 0;
    let redis = kill ? await startPrivateRedis(port) : undefined;
    try {
      return await withLoop(
        { detector: { resyncMs: 500, reofferMs: 500 }, redisUrl: redis?.url ?? ctx.redisUrl },
        async (loop) => {
          const notes: string[] = [];
          const bad = await pushBroken(loop);
          const at = Math.round(ctx.random() * 4000);
          await sleep(at);
          const before = (await loop.runtime.incidents.list(10)).find((r) => r.badRevision === bad);
          notes.push(
            `${kill ? 'killed' : 'wiped'} at +${at}ms (${before?.conditions.at(-1)?.type ?? 'no incident yet'})`,
          );
          if (redis) {
            await redis.kill();
            await sleep(500);
            redis = await startPrivateRedis(port);
          } else {
            const client = new Redis(ctx.redisUrl);
            try {
              await deletePrefix(client, loop.prefix);
            } finally {
              client.disconnect();
            }
          }
          return { ...(await commonCounts(loop, [bad], notes)), notes };
        },
      );
    } finally {
      await redis?.kill();
    }
  },
};

const apiRestart: Scenario = {
  name: 'api-server-restart',
  what: "the sandbox's Kubernetes API server stopped for 1 s and started again on the same port, at a random point mid-incident",
  run: (ctx) =>
    withLoop({ redisUrl: ctx.redisUrl }, async (loop) => {
      const notes: string[] = [];
      const bad = await pushBroken(loop);
      const at = Math.round(500 + ctx.random() * 3500);
      await sleep(at);
      notes.push(`restarted at +${at}ms`);
      await loop.sandbox.api.restart(1000);
      return { ...(await commonCounts(loop, [bad], notes)), notes };
    }),
};

const twoProcesses: Scenario = {
  name: 'two-rewind-processes',
  what: 'two Rewind runtimes (every role) on the same Redis prefix; direct push on even runs, pull requests on odd runs',
  run: (ctx) =>
    withLoop(
      {
        redisUrl: ctx.redisUrl,
        ...(ctx.run % 2 === 1 ? { forge: { pollInterval: '1s' } } : {}),
      },
      async (loop) => {
        const notes: string[] = [];
        const other = await secondRuntime(loop, 'git-second');
        try {
          const bad = await pushBroken(loop);
          return { ...(await commonCounts(loop, [bad], notes)), notes };
        } finally {
          await other.close();
        }
      },
    ),
};

const sigtermMidPush: Scenario = {
  name: 'sigterm-mid-push',
  what: 'the rollback worker (its own process) gets SIGTERM right after its push (even runs) or before the reconcile request (odd runs), is SIGKILLed 10 s later if still running, and is started again',
  run: (ctx) =>
    withLoop({ roles: ['detector', 'verifier'], redisUrl: ctx.redisUrl }, async (loop) => {
      const notes: string[] = [];
      const crashAt = ctx.run % 2 === 0 ? 'after-push' : 'before-reconcile';
      const input = loop.configInput as { git: Record<string, unknown> } & Record<string, unknown>;
      const configFile = path.join(loop.workdir, 'rewind-worker.yaml');
      await writeFile(
        configFile,
        stringify({
          ...input,
          git: { ...input.git, workdir: path.join(loop.workdir, 'git-child') },
          worker: { lockDuration: '2s' },
        }),
      );
      const first = spawnWorker('rollback', configFile, {
        ...loop.env,
        REWIND_CRASH_AT: crashAt,
        REWIND_CRASH_SIGNAL: 'SIGTERM',
      });
      let second: ReturnType<typeof spawnWorker> | undefined;
      try {
        const bad = await pushBroken(loop);
        const exited = await Promise.race([
          once(first.child, 'exit').then(([code, signal]) => `exited ${String(signal ?? code)}`),
          sleep(BOUND_MS / 2).then(() => undefined),
        ]);
        if (exited) notes.push(`worker ${exited} (${crashAt})`);
        else {
          notes.push(`worker still running ${BOUND_MS / 2000}s after the push: killed`);
          await first.stop();
        }
        second = spawnWorker('rollback', configFile, loop.env);
        return { ...(await commonCounts(loop, [bad], notes)), notes };
      } finally {
        await first.stop();
        await second?.stop();
      }
    }),
};

/** One podinfo Pod alternates CrashLoopBackOff / Ready for `flapMs`, then stays Ready. */
async function flapOnePod(
  loop: Loop,
  image: string,
  flapMs: number,
  stepMs: number,
  endFailing = false,
): Promise<string> {
  // A Pod of the new revision as soon as it has a container status: the flap happens while the
  // release is still rolling out (once Rewind recorded a revision healthy, Pod signals on it are
  // not a new incident).
  const pod = await poll(
    () =>
      loop.sandbox.store
        .list(POD, { namespace: 'default' })
        .find((p) => p.spec?.containers?.[0]?.image === image && p.status?.containerStatuses?.[0]),
    30_000,
    5,
  );
  if (!pod) throw new Error(`no Pod runs ${image}`);
  const name: string = pod.metadata.name;
  const set = (failing: boolean): void => {
    loop.sandbox.store.mutate(
      POD,
      'default',
      name,
      (p) => {
        const status = p.status?.containerStatuses?.[0];
        if (!status) return;
        status.ready = !failing;
        status.started = !failing;
        status.state = failing
          ? { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container' } }
          : { running: { startedAt: new Date().toISOString() } };
        p.status.conditions = (p.status.conditions ?? []).map((c: { type: string }) =>
          c.type === 'Ready' || c.type === 'ContainersReady'
            ? { ...c, status: failing ? 'False' : 'True' }
            : c,
        );
      },
      { subresource: 'status' },
    );
  };
  const end = Date.now() + flapMs;
  let failing = true;
  while (Date.now() < end) {
    set(failing);
    failing = !failing;
    await sleep(stepMs);
  }
  set(endFailing);
  return name;
}

const flapping: Scenario = {
  name: 'flapping-health',
  what: 'a good release; while it rolls out, one of its Pods alternates CrashLoopBackOff / Ready every 300 ms for 1.5 s (inside the 2 s grace period), then stays Ready: any rollback is needless',
  run: (ctx) =>
    withLoop({ policy: { gracePeriod: '2s' }, redisUrl: ctx.redisUrl }, async (loop) => {
      const notes: string[] = [];
      await personPushes(loop, GOOD);
      // FAULTS_FLAP_SANITY=1: the Pod ends failing, so a rollback is due (shows the counter counts).
      const sanity = process.env['FAULTS_FLAP_SANITY'] === '1';
      const pod = await flapOnePod(loop, GOOD, 1500, 300, sanity);
      notes.push(`flapped ${pod}`);
      // Grace period, a re-check and an engine round trip.
      await sleep(8000);
      const history = await mainHistory(loop.fleet.remote);
      const changes = rewindChanges(history, marksOf(loop));
      const incidents = (await loop.runtime.incidents.list(10)).map((r) => r.conditions.at(-1)?.type);
      if (incidents.length) notes.push(`incidents: ${incidents.join(', ')}`);
      if (changes.length) notes.push(`${changes.length} Rewind commit(s) on main`);
      return {
        ...ZERO,
        needlessRollbacks: changes.length,
        incidentsLost: appRecovered(loop) ? 0 : 1,
        notes,
      };
    }),
};

/** Every incident Rewind recorded has ended (or the bound passed). */
async function allIncidentsEnded(runtime: Runtime, timeoutMs = BOUND_MS): Promise<boolean> {
  const ended = await poll(async () => {
    const records = await runtime.incidents.list(50).catch(() => undefined);
    return records?.every((r) => isTerminal(r.conditions.at(-1)!.type)) ? true : undefined;
  }, timeoutMs);
  return ended === true;
}

/**
 * The counts of a scenario in which a person fixed forward and Rewind should write nothing: every
 * Rewind commit on main is a needless rollback, the fix must still be on main, and the app must run it.
 */
async function fixForwardCounts(loop: Loop, fix: string, notes: string[]): Promise<RunCounts> {
  if (!(await allIncidentsEnded(loop.runtime))) notes.push('an incident did not end');
  const recovered = await poll(() => (appRecovered(loop) ? true : undefined), BOUND_MS);
  await sleep(2000);
  const history = await mainHistory(loop.fleet.remote);
  const marks = marksOf(loop);
  const changes = rewindChanges(history, marks);
  const tip = await fileAtHead(loop.fleet.remote, PODINFO_FILE);
  const incidents = (await loop.runtime.incidents.list(10)).map((r) => {
    const last = r.conditions.at(-1);
    return `${r.badRevision.slice(0, 7)} ${r.details.trigger}: ${last?.type} (${last?.reason})`;
  });
  if (incidents.length) notes.push(`incidents: ${incidents.join(', ')}`);
  if (changes.length) notes.push(`${changes.length} Rewind commit(s) on main`);
  const lost = !recovered || tip.includes(BROKEN_MARK);
  if (lost) notes.push(!recovered ? 'app not recovered in the cluster' : 'main has a broken image again');
  const overwritten = await personOverwritten(loop.fleet.remote, history, marks, {
    sha: fix,
    file: PODINFO_FILE,
    line: `image: ${FIX}`,
  });
  return {
    ...ZERO,
    incidentsLost: lost ? 1 : 0,
    peoplesCommitsOverwritten: overwritten ? 1 : 0,
    needlessRollbacks: changes.length,
  };
}

const ALERT_TOKEN = 'alertmanager-token-for-the-fault-campaign';

const alertDuringFixForward: Scenario = {
  name: 'alert-during-fix-forward',
  what: "a broken push, the person's fix 4 s later, and a late firing Alertmanager alert for the app while Flux rolls the fix out (Ready Unknown): the fix must stay (grace 10s, Flux timeout 8s, Pods Ready after 1.5 s; even runs without the detector, so the alert is the only trigger)",
  run: (ctx) =>
    withLoop(
      {
        policy: { gracePeriod: '10s' },
        // Even runs: alerts are the only trigger (no detector to have opened an incident for the
        // fix first); odd runs: the detector runs too.
        ...(ctx.run % 2 === 0 ? { roles: ['rollback', 'verifier'] as const } : {}),
        timeout: '8s',
        podReadyMs: 1500,
        alerts: { alertmanager: { tokenEnv: 'FAULTS_ALERTMANAGER_TOKEN' } },
        env: { FAULTS_ALERTMANAGER_TOKEN: ALERT_TOKEN },
        redisUrl: ctx.redisUrl,
      },
      async (loop) => {
        const notes: string[] = [];
        const good = await personPushes(loop, GOOD);
        await waitForKustomization(loop.sandbox, loop.fleet.namespace, 'podinfo', readyFor(good), 60_000);
        await pushBroken(loop);
        await sleep(4000);
        const fix = await personPushes(loop, FIX);
        // The alert lands while Flux rolls the fix out: attempted = the fix, Ready Unknown.
        const rolling = await poll(
          () => {
            const ks = loop.sandbox.store.get(KUSTOMIZATION, loop.fleet.namespace, 'podinfo');
            const ready = (ks?.status?.conditions as { type: string; status: string }[] | undefined)?.find(
              (c) => c.type === 'Ready',
            );
            const attempted = (ks?.status?.lastAttemptedRevision as string | undefined) ?? '';
            return attempted.endsWith(fix) && ready?.status === 'Unknown' ? true : undefined;
          },
          30_000,
          20,
        );
        if (!rolling) notes.push('the fix was never seen rolling out; the alert came after it');
        const labels = {
          alertname: 'ReconciliationFailure',
          kind: 'Kustomization',
          exported_namespace: loop.fleet.namespace,
          name: 'podinfo',
          severity: 'critical',
        };
        const res = await fetch(`${loop.httpUrl!}/webhooks/alertmanager`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${ALERT_TOKEN}` },
          body: JSON.stringify({
            version: '4',
            groupKey: '{}:{alertname="ReconciliationFailure"}',
            truncatedAlerts: 0,
            status: 'firing',
            receiver: 'rewind',
            groupLabels: { alertname: 'ReconciliationFailure' },
            commonLabels: labels,
            commonAnnotations: {},
            externalURL: 'http://alertmanager.example:9093',
            alerts: [
              {
                status: 'firing',
                labels,
                annotations: { summary: 'Kustomization podinfo reconciliation failing' },
                startsAt: new Date(Date.now() - 5000).toISOString(),
                endsAt: '0001-01-01T00:00:00Z',
                generatorURL: 'http://prometheus.example:9090/graph',
                fingerprint: `f${ctx.seed}`,
              },
            ],
          }),
        });
        const answer = (await res.json()) as { results?: { kind: string; reason?: string }[] };
        const first = answer.results?.[0];
        notes.push(
          `alert answered ${res.status} ${first?.kind ?? '?'}${first?.reason ? ` ${first.reason}` : ''}`,
        );
        return { ...(await fixForwardCounts(loop, fix, notes)), notes };
      },
    ),
};

const CHATOPS_TOKEN = 'ghp_wanda_writer_for_the_fault_campaign';

const chatopsOverFixForward: Scenario = {
  name: 'chatops-over-fix-forward',
  what: "a broken push Rewind records failing, the person's fix while it waits out its grace period, then a writer's `/rollback <app>` once the fix is healthy: reverting the fix would bring the broken image back (grace 8s, pull requests)",
  run: (ctx) =>
    withLoop(
      {
        policy: { gracePeriod: '8s' },
        forge: {
          pollInterval: '1s',
          users: [{ login: 'wanda', permission: 'write', token: CHATOPS_TOKEN }],
        },
        redisUrl: ctx.redisUrl,
      },
      async (loop) => {
        const notes: string[] = [];
        const bad = await pushBroken(loop);
        const detected = await poll(
          async () => (await loop.runtime.incidents.list(10)).find((r) => r.badRevision === bad),
          30_000,
        );
        if (!detected) notes.push('the broken revision was never recorded failing');
        const fix = await personPushes(loop, FIX);
        await waitForKustomization(loop.sandbox, loop.fleet.namespace, 'podinfo', readyFor(fix), 60_000);
        await allIncidentsEnded(loop.runtime);
        const octokit = new Octokit({ auth: CHATOPS_TOKEN, baseUrl: loop.forge!.url });
        const repo = { owner: 'fleet-org', repo: 'fleet' };
        const issue = (await octokit.rest.issues.create({ ...repo, title: 'podinfo looks off' })).data.number;
        const { data } = await octokit.rest.issues.createComment({
          ...repo,
          issue_number: issue,
          body: '/rollback flux-system/podinfo -- something looks off',
        });
        const reply = await poll(
          () =>
            loop.forge!.state.comments.find((c) => c.body.includes(`rewind:chatops reply=${data.id} `))?.body,
          30_000,
        );
        // The reply quotes the command first; what Rewind answered is the first line of its own.
        const answered = reply
          ?.split('\n')
          .find((l) => l.trim() !== '' && !l.startsWith('>') && !l.startsWith('<!--'));
        notes.push(`reply: ${answered?.slice(0, 300) ?? 'none'}`);
        return { ...(await fixForwardCounts(loop, fix, notes)), notes };
      },
    ),
};

export const SCENARIOS: readonly Scenario[] = [
  fixForward,
  alertDuringFixForward,
  chatopsOverFixForward,
  squashLoop,
  forgeFaults,
  redisLoss,
  apiRestart,
  twoProcesses,
  sigtermMidPush,
  flapping,
];

const COLUMNS = [
  ['incidentsLost', 'incidents lost'],
  ['duplicateWrites', 'duplicate writes'],
  ['peoplesCommitsOverwritten', "people's commits overwritten"],
  ['revertsOfReverts', 'reverts of reverts'],
  ['needlessRollbacks', 'needless rollbacks'],
] as const;

export interface ScenarioSummary extends RunCounts {
  scenario: string;
  runs: number;
  /** Runs that threw before they could be counted (counted as lost). */
  errors: number;
  medianMs: number;
}

export function summarise(results: readonly RunResult[], names: readonly string[]): ScenarioSummary[] {
  return names.map((scenario) => {
    const mine = results.filter((r) => r.scenario === scenario);
    const sum = (key: keyof RunCounts) => mine.reduce((n, r) => n + r[key], 0);
    const ms = mine.map((r) => r.ms).sort((a, b) => a - b);
    return {
      scenario,
      runs: mine.length,
      incidentsLost: sum('incidentsLost'),
      duplicateWrites: sum('duplicateWrites'),
      peoplesCommitsOverwritten: sum('peoplesCommitsOverwritten'),
      revertsOfReverts: sum('revertsOfReverts'),
      needlessRollbacks: sum('needlessRollbacks'),
      errors: mine.filter((r) => r.notes.some((n) => n.startsWith('error: '))).length,
      medianMs: ms[Math.floor(ms.length / 2)] ?? 0,
    };
  });
}

export function table(summaries: readonly ScenarioSummary[]): string {
  const header = ['scenario', 'runs', ...COLUMNS.map(([, title]) => title)];
  const rows = summaries.map((s) => [s.scenario, String(s.runs), ...COLUMNS.map(([key]) => String(s[key]))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function option(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Seeded, so `--seed` replays the same random mid-incident moments and forge faults. */
const seeded = mulberry32;

export async function run(args: string[]): Promise<unknown> {
  const runs = Number(option(args, '--runs') ?? 3);
  const seed = Number(option(args, '--seed') ?? Date.now() % 100_000);
  const wanted = option(args, '--scenario')?.split(',');
  const unknown = wanted?.filter((name) => !SCENARIOS.some((s) => s.name === name)) ?? [];
  if (unknown.length)
    throw new Error(
      `unknown scenario ${unknown.join(', ')}; available: ${SCENARIOS.map((s) => s.name).join(', ')}`,
    );
  const scenarios = SCENARIOS.filter((s) => !wanted || wanted.includes(s.name));
  const redisUrl = localRedisUrl();
  const random = seeded(seed);
  const results: RunResult[] = [];
  const started = Date.now();
  for (const scenario of scenarios) {
    for (let i = 0; i < runs; i++) {
      const t0 = Date.now();
      const ctx: RunContext = { run: i, seed: seed + i, redisUrl, random };
      let result: RunResult;
      try {
        result = { scenario: scenario.name, run: i, ms: 0, ...(await scenario.run(ctx)) };
      } catch (error) {
        // A run that could not even finish is a lost incident, not a silent skip.
        result = {
          scenario: scenario.name,
          run: i,
          ms: 0,
          ...ZERO,
          incidentsLost: 1,
          notes: [`error: ${error instanceof Error ? error.message : String(error)}`],
        };
      }
      result.ms = Date.now() - t0;
      results.push(result);
      process.stderr.write(
        `[faults] ${scenario.name} #${i + 1}: ${COLUMNS.map(([key]) => result[key]).join('/')} in ${(result.ms / 1000).toFixed(1)}s; ${result.notes.join('; ')}\n`,
      );
    }
  }
  const summaries = summarise(
    results,
    scenarios.map((s) => s.name),
  );
  process.stderr.write(`\n${table(summaries)}\n`);
  return {
    benchmark: 'faults',
    runs,
    seed,
    totalMs: Date.now() - started,
    goal: 'zero in every column',
    scenarios: scenarios.map((s) => ({ name: s.name, what: s.what })),
    table: summaries,
    results,
    node: process.version,
  };
}
