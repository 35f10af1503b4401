// Incident storm: one commit breaks N apps through a shared kustomize base (each app its
// own namespace, one Flux Kustomization each, grace period 1 s), with pull requests on the sandbox
// forge. Target: ONE pull request listing every app, at most 10 forge writes, every incident linked
// to that PR within 30 s, every app verified (Converged). Baseline, measured in the same run: the
// same storm with one app (bad commit pushed -> the incident linked to its merged PR).
//
//   npm run bench -- storm [--apps 500] [--baseline-runs 1] [--timeout-s 600] [--concurrency 32]
//                          [--verify-timeout-s 120] [--cpu-prof <dir>] [--rewind-process]
//
// --rewind-process: Rewind runs as `rewind start` in a process of its own (as it is deployed: all
// roles, leader election, production timings), this process being the cluster, Flux and the forge;
// the JSON then has the CPU each process used. Without it, Rewind runs inside this process.
//
// --cpu-prof (or REWIND_BENCH_CPU_PROF=<dir>): a CPU profile of the N-app storm from the push until
// every incident ended, in <dir> (`npm run bench -- profile-summary <dir>`). Rewind runs inside this
// process next to the sandbox (cluster, Flux syncer, forge), so the profile holds both; with
// --rewind-process, the Rewind process's own profile is in <dir>/rewind-process.
//
// The apps go through Git and the sandbox's Flux syncer like a real fleet (nothing is created
// behind Rewind's back), so setting up 500 apps takes a while before the measured part starts.
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { ensureRedis } from '../src/demo/redis.ts';
import { isTerminal } from '../src/domain/incident.ts';
import type { IncidentRecord } from '../src/pipeline/incident-record.ts';
import { type Loop, startLoop } from '../src/sandbox/loop.ts';
import { KUSTOMIZATION, NAMESPACE } from '../src/sandbox/resources.ts';
import { type ChildWorker, spawnRewind } from '../src/sandbox/child-worker.ts';
import {
  childProfileArgs,
  cpuMeter,
  cpuProfileDir,
  profileClockMicros,
  profileThisProcess,
  writeProfileWindow,
} from './lib/cpu-profile.ts';
import { median, numberArg } from './lib/stats.ts';

const GOOD = 'ghcr.io/example/storm:1.0.0';
const BROKEN = 'ghcr.io/example/storm:1.1.0-broken';
/** Flux health-check timeout of each storm app: Rewind detects from the Pods long before it. */
const FLUX_TIMEOUT = '5s';

export interface StormResult {
  apps: number;
  /** Bad commit pushed -> the first pull request exists. */
  prOpenedMs?: number;
  /** Bad commit pushed -> the revert merged. */
  mergedMs?: number;
  /** Bad commit pushed -> every app's incident recorded and linked to the one pull request. */
  allLinkedMs?: number;
  /** Bad commit pushed -> every incident Converged. */
  allVerifiedMs?: number;
  incidents: number;
  linked: number;
  converged: number;
  pullRequests: number;
  /** Whether the pull request names every app. */
  prListsEveryApp: boolean;
  prBodyChars: number;
  forgeWrites: number;
  forgeWritesByRoute: Record<string, number>;
  /** When the incidents reached each condition (ms after the push): median and slowest. */
  stages: Record<string, { medianMs: number; maxMs: number }>;
  /** Incidents of the same apps on another revision (the revert's), by how they ended. */
  otherIncidents: Record<string, number>;
  /** How the incidents ended (condition/reason: count). */
  endings: Record<string, number>;
  /** Why the first few incidents that did not converge ended so (their last message). */
  unconverged: string[];
  setupMs: number;
  /** With a profile: CPU of this process (Rewind and the sandbox) and of its git processes. */
  cpu?: unknown;
}

function baseFiles(image: string): Record<string, string> {
  return {
    'apps/storm/base/kustomization.yaml': 'resources:\n  - deployment.yaml\n',
    'apps/storm/base/deployment.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: ${image}
`,
  };
}

const appName = (i: number): string => `storm-${i}`;

/** N overlays of the shared base, one namespace each, and a Kustomization per app. */
async function addStormApps(loop: Loop, apps: number): Promise<string> {
  const { sandbox, fleet } = loop;
  const files: Record<string, string> = baseFiles(GOOD);
  for (let i = 0; i < apps; i++) {
    files[`apps/storm/${appName(i)}/kustomization.yaml`] =
      `namespace: ${appName(i)}\nresources:\n  - ../base\n`;
    sandbox.store.create(NAMESPACE, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: appName(i) } });
  }
  const sha = await fleet.commit(`Add ${apps} storm apps`, files);
  for (let i = 0; i < apps; i++) {
    sandbox.store.create(KUSTOMIZATION, {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: appName(i), namespace: fleet.namespace },
      spec: {
        interval: '10m',
        path: `./apps/storm/${appName(i)}`,
        prune: true,
        wait: true,
        timeout: FLUX_TIMEOUT,
        sourceRef: { kind: 'GitRepository', name: 'fleet' },
      },
    });
  }
  fleet.notifyPush();
  return sha;
}

/** How many of the apps are Ready on `sha`. */
function readyOn(loop: Loop, apps: number, sha: string): number {
  let ready = 0;
  for (let i = 0; i < apps; i++) {
    const ks = loop.sandbox.store.get(KUSTOMIZATION, loop.fleet.namespace, appName(i));
    const isReady = ks?.status?.conditions?.some(
      (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
    );
    if (isReady && String(ks?.status?.lastAppliedRevision ?? '').endsWith(sha)) ready++;
  }
  return ready;
}

/** Progress on stderr (stdout carries the JSON), at most every 10 s. */
function progress(): (line: string) => void {
  let last = 0;
  return (line) => {
    if (Date.now() - last < 10_000) return;
    last = Date.now();
    process.stderr.write(`storm: ${line}\n`);
  };
}

async function waitFor(
  what: string,
  timeoutMs: number,
  check: () => boolean | Promise<boolean>,
  pollMs = 100,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`storm: ${what} within ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * While the storm runs, the benchmark reads every incident record once a second, only to know when
 * to stop: it shares the one thread with Rewind and the sandbox, and reading 500 records ten times a
 * second (as an earlier version did) was a load of its own. The figures come from the records'
 * condition timestamps afterwards, to the millisecond.
 */
const STORM_POLL_MS = 1000;

/** When each figure was reached, from the records' own timestamps (ms after `startedAt`). */
function timesFromRecords(
  records: readonly IncidentRecord[],
  prNumber: number | undefined,
  apps: number,
  startedAt: number,
): Pick<StormResult, 'prOpenedMs' | 'mergedMs' | 'allLinkedMs' | 'allVerifiedMs'> {
  const at = (r: IncidentRecord, ...types: string[]): number | undefined => {
    const c = r.conditions.find((condition) => types.includes(condition.type));
    return c ? Date.parse(c.at) - startedAt : undefined;
  };
  const first = (values: (number | undefined)[]): number | undefined => {
    const known = values.filter((v): v is number => v !== undefined);
    return known.length ? Math.min(...known) : undefined;
  };
  const linked = records.filter((r) => prNumber !== undefined && r.details.pr?.number === prNumber);
  // An incident is linked when it records the PR: PullRequestOpened (it opened or joined it), or
  // Merged for one that found the PR already merged.
  const linkedAt = linked.map((r) => at(r, 'PullRequestOpened', 'Merged'));
  const convergedAt = records.map((r) => at(r, 'Converged'));
  const all = (values: (number | undefined)[]): number | undefined =>
    values.length >= apps && values.every((v) => v !== undefined) ? Math.max(...values) : undefined;
  const times = {
    prOpenedMs: first(records.map((r) => at(r, 'PullRequestOpened'))),
    mergedMs: first(records.map((r) => at(r, 'Merged'))),
    allLinkedMs: all(linkedAt),
    allVerifiedMs: all(convergedAt),
  };
  return Object.fromEntries(Object.entries(times).filter(([, v]) => v !== undefined));
}

export interface StormOptions {
  /** worker.concurrency (Rewind's default 32 otherwise): lower, the storm's incidents run in batches. */
  concurrency?: number;
  /** policy.verifyTimeout (default 120s). */
  verifyTimeout?: string;
  /** Write a CPU profile of the measured part here. */
  profileDir?: string;
  /** Run Rewind as `rewind start` in a child process instead of inside this one. */
  rewindProcess?: boolean;
}

/** `rewind start` on the loop's configuration, in a process of its own; resolves once it started. */
async function startRewindProcess(loop: Loop, timeoutMs: number, profileDir?: string): Promise<ChildWorker> {
  const configFile = path.join(loop.workdir, 'rewind-process.yaml');
  await writeFile(configFile, stringify(loop.configInput));
  const rewind = spawnRewind(
    ['start', '--config', configFile, '--listen', '0'],
    { ...loop.env, POD_NAME: 'rewind-storm', REWIND_LOG_LEVEL: 'info' },
    profileDir ? await childProfileArgs(profileDir) : [],
  );
  await waitFor('rewind start', timeoutMs, () => {
    if (rewind.child.exitCode !== null) throw new Error(`rewind start exited:\n${rewind.output()}`);
    return rewind.output().includes('"msg":"rewind started"');
  });
  return rewind;
}

export async function runStorm(
  apps: number,
  redisUrl: string,
  timeoutMs: number,
  options: StormOptions = {},
): Promise<StormResult> {
  const loop = await startLoop({
    ...(options.concurrency ? { worker: { concurrency: options.concurrency } } : {}),
    forge: { pollInterval: '1s' },
    // A verification that cannot converge ends Failed (counted) instead of holding the run.
    policy: { gracePeriod: '1s', verifyTimeout: options.verifyTimeout ?? '120s' },
    // Rewind's default: hundreds of verifications polling every 100 ms (the tests' pace) would
    // starve the sandbox that has to apply the revert.
    verifyIntervalMs: 1000,
    redisUrl,
    // With a Rewind process of its own, this one only reads the incident records.
    ...(options.rewindProcess ? { roles: [] } : {}),
  });
  let rewind: ChildWorker | undefined;
  try {
    const setupStart = performance.now();
    const added = await addStormApps(loop, apps);
    const report = progress();
    await waitFor(`all ${apps} apps ready`, timeoutMs, () => {
      const ready = readyOn(loop, apps, added);
      report(`${ready} of ${apps} apps ready (setup)`);
      return ready === apps;
    });
    const setupMs = Math.round(performance.now() - setupStart);
    // The Rewind process's profile goes to <dir>/rewind-process, written when it stops.
    const rewindProfileDir =
      options.rewindProcess && options.profileDir
        ? path.join(options.profileDir, 'rewind-process')
        : undefined;
    if (options.rewindProcess) rewind = await startRewindProcess(loop, timeoutMs, rewindProfileDir);
    const forge = loop.forge!;
    const requestsBefore = forge.state.requests.length;

    const bad = await loop.fleet.commit('Bump the shared base to 1.1.0', baseFiles(BROKEN));
    const stopProfile = options.profileDir
      ? await profileThisProcess(options.profileDir, `storm-${apps}`)
      : undefined;
    const meter =
      options.profileDir || rewind
        ? await cpuMeter([process.pid, ...(rewind?.child.pid ? [rewind.child.pid] : [])])
        : undefined;
    const start = performance.now();
    const startedAt = Date.now();
    const startedMicros = profileClockMicros();
    loop.fleet.notifyPush();
    const since = (): number => Math.round(performance.now() - start);
    const result: StormResult = {
      apps,
      incidents: 0,
      linked: 0,
      converged: 0,
      pullRequests: 0,
      prListsEveryApp: false,
      prBodyChars: 0,
      forgeWrites: 0,
      forgeWritesByRoute: {},
      stages: {},
      otherIncidents: {},
      endings: {},
      unconverged: [],
      setupMs,
    };
    const storm = async () =>
      (await loop.runtime.incidents.list(4 * apps + 100)).filter(
        (r) => r.badRevision === bad && r.app.name.startsWith('storm-'),
      );
    await waitFor(
      'every incident to end',
      timeoutMs,
      async () => {
        const pr = forge.state.pulls[0];
        const records = await storm();
        const linked = records.filter((r) => pr && r.details.pr?.number === pr.number).length;
        const ended = records.filter((r) => isTerminal(r.conditions.at(-1)!.type));
        const converged = ended.filter((r) => r.conditions.at(-1)!.type === 'Converged').length;
        report(
          `${records.length} incidents, ${linked} linked, ${ended.length} ended, ${converged} converged (${Math.round(since() / 1000)} s)`,
        );
        return records.length >= apps && ended.length === records.length;
      },
      STORM_POLL_MS,
    );
    const cpu = await meter?.();
    await stopProfile?.();
    if (rewind && rewindProfileDir) {
      await writeProfileWindow(rewindProfileDir, startedMicros, profileClockMicros());
      const exited = once(rewind.child, 'exit');
      rewind.child.kill('SIGTERM'); // it writes its profile as it exits
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000).unref())]);
    }
    if (cpu) result.cpu = cpu;
    const records = await storm();
    const pr = forge.state.pulls[0];
    Object.assign(result, timesFromRecords(records, pr?.number, apps, startedAt));
    result.incidents = records.length;
    result.linked = records.filter((r) => pr && r.details.pr?.number === pr.number).length;
    result.converged = records.filter((r) => r.conditions.at(-1)!.type === 'Converged').length;
    const at: Record<string, number[]> = {};
    for (const r of records)
      for (const c of r.conditions) (at[c.type] ??= []).push(Date.parse(c.at) - startedAt);
    for (const [type, times] of Object.entries(at))
      result.stages[type] = { medianMs: median(times), maxMs: Math.max(...times) };
    for (const r of records) {
      const last = r.conditions.at(-1)!;
      const key = `${last.type}/${last.reason}`;
      result.endings[key] = (result.endings[key] ?? 0) + 1;
      if (last.type !== 'Converged' && result.unconverged.length < 3)
        result.unconverged.push(`${r.app.name}: ${last.message}`);
    }
    for (const r of await loop.runtime.incidents.list(4 * apps + 100)) {
      if (r.badRevision === bad || !r.app.name.startsWith('storm-')) continue;
      const last = r.conditions.at(-1)!;
      const key = `${last.type}/${last.reason}`;
      result.otherIncidents[key] = (result.otherIncidents[key] ?? 0) + 1;
    }
    result.pullRequests = forge.state.pulls.length;
    result.prBodyChars = pr?.body.length ?? 0;
    result.prListsEveryApp =
      pr !== undefined &&
      Array.from({ length: apps }, (_, i) => `/${appName(i)}**`).every((n) => pr.body.includes(n));
    for (const request of forge.state.requests.slice(requestsBefore)) {
      if (!request.write) continue;
      result.forgeWrites++;
      const route = request.route ?? request.path;
      result.forgeWritesByRoute[route] = (result.forgeWritesByRoute[route] ?? 0) + 1;
    }
    return result;
  } finally {
    await rewind?.stop();
    await loop.stop();
  }
}

export async function run(args: string[]): Promise<unknown> {
  const apps = numberArg(args, '--apps', 500);
  const timeoutMs = numberArg(args, '--timeout-s', 600) * 1000;
  const options: StormOptions = {
    concurrency: numberArg(args, '--concurrency', 32),
    verifyTimeout: `${numberArg(args, '--verify-timeout-s', 120)}s`,
    rewindProcess: args.includes('--rewind-process'),
  };
  const redis = await ensureRedis(process.env['REDIS_URL']);
  try {
    const single = await runStorm(1, redis.url, timeoutMs, options);
    const profileDir = cpuProfileDir(args);
    const storm = await runStorm(apps, redis.url, timeoutMs, {
      ...options,
      ...(profileDir ? { profileDir } : {}),
    });
    const ratio = (a?: number, b?: number): number | null =>
      a === undefined || b === undefined || b === 0 ? null : Number((a / b).toFixed(2));
    const met = {
      onePullRequest: storm.pullRequests === 1,
      listsEveryApp: storm.prListsEveryApp,
      atMost10ForgeWrites: storm.forgeWrites <= 10,
      everyIncidentLinkedWithin30s: storm.allLinkedMs !== undefined && storm.allLinkedMs <= 30_000,
      everyAppVerified: storm.converged === apps,
    };
    return {
      benchmark: 'storm',
      apps,
      gracePeriodS: 1,
      rewind: options.rewindProcess ? 'own process (rewind start)' : 'inside the benchmark process',
      note: 'times from pushing the bad commit; linked = incident recorded with the one PR; baseline = the same with one app, in this run',
      figure: { allLinkedMs: storm.allLinkedMs ?? null, allVerifiedMs: storm.allVerifiedMs ?? null },
      baseline: {
        singleAppLinkedMs: single.allLinkedMs ?? null,
        singleAppVerifiedMs: single.allVerifiedMs ?? null,
      },
      ratios: {
        linkedVsSingleApp: ratio(storm.allLinkedMs, single.allLinkedMs),
        verifiedVsSingleApp: ratio(storm.allVerifiedMs, single.allVerifiedMs),
      },
      targets: met,
      ...(profileDir ? { cpuProfile: profileDir } : {}),
      storm,
      single,
      node: process.version,
    };
  } finally {
    await redis.stop();
  }
}
