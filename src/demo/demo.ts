// `rewind demo` / `npm run demo`: the whole loop on a fresh sandbox. A sample Flux fleet (two apps in
// a local bare Git repository), Redis (REDIS_URL, or a private redis-server), and Rewind with every
// role in this process. A good deploy, then a bad commit that breaks podinfo and also touches the
// healthy frontend; Rewind detects it, finds the commit, reverts only podinfo's part, pushes, makes
// Flux apply it at once, and proves podinfo is back on its last-good ReplicaSet.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { parseConfig } from '../config/index.ts';
import { isTerminal, stageTimings } from '../domain/incident.ts';
import { silentLogger } from '../logging.ts';
import type { IncidentRecord } from '../pipeline/incident-record.ts';
import {
  BROKEN_IMAGE_GLOB,
  createFleet,
  frontendDeployment,
  readyFor,
  waitForKustomization,
} from '../sandbox/scenario.ts';
import { startSandbox } from '../sandbox/sandbox.ts';
import { startRuntime } from '../../workers/runtime.ts';
import { type SandboxForge, startSandboxForge } from '../sandbox/forge/server.ts';
import { randomBytes } from 'node:crypto';
import { ensureRedis } from './redis.ts';

export interface DemoOptions {
  out: Writable;
  /** direct-push (default): the revert is pushed to main; github: through a pull request on the sandbox forge. */
  forge?: 'direct-push' | 'github';
  /** Give up after this long. */
  timeoutMs?: number;
}

export async function runDemo({
  out,
  forge = 'direct-push',
  timeoutMs = 60_000,
}: DemoOptions): Promise<number> {
  const log = (line: string): void => {
    out.write(`${line}\n`);
  };
  const started = Date.now();
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const redis = await ensureRedis(process.env['REDIS_URL']);
    cleanups.push(() => redis.stop());
    const sandbox = await startSandbox({ podReadyMs: 150, unreadyImages: [BROKEN_IMAGE_GLOB] });
    cleanups.push(() => sandbox.stop());
    log(
      `sandbox cluster   ${sandbox.url}   (kubectl --kubeconfig ${sandbox.kubeconfigPath} get deploy,rs,ks -A)`,
    );
    log(`redis             ${redis.url}${redis.owned ? ' (private redis-server started for the demo)' : ''}`);

    const fleet = await createFleet({ sandbox, timeout: '5s', replicas: 3 });
    cleanups.push(() => fleet.cleanup());
    const workdir = await mkdtemp(path.join(tmpdir(), 'rewind-demo-'));
    cleanups.push(() => rm(workdir, { recursive: true, force: true }));
    const env: Record<string, string> = {};
    let forgeConfig: Record<string, unknown> = { type: 'direct-push' };
    let sandboxForge: SandboxForge | undefined;
    if (forge === 'github') {
      // The sandbox forge speaks GitHub's REST API over the fleet's bare repository; Rewind talks to
      // it with the real Octokit, exactly as it would to api.github.com.
      env['REWIND_DEMO_GITHUB_TOKEN'] = `ghp_demo${randomBytes(16).toString('hex')}`;
      sandboxForge = await startSandboxForge({
        repoDir: fleet.remote,
        owner: 'fleet-org',
        repo: 'fleet',
        token: env['REWIND_DEMO_GITHUB_TOKEN'],
        users: [{ login: 'alice', email: 'alice@example.com', name: 'Alice Developer' }],
      });
      const started = sandboxForge;
      cleanups.push(() => started.stop());
      forgeConfig = {
        type: 'github',
        apiUrl: sandboxForge.url,
        owner: 'fleet-org',
        repo: 'fleet',
        tokenEnv: 'REWIND_DEMO_GITHUB_TOKEN',
      };
      log(`sandbox forge     ${sandboxForge.url}   (GitHub REST subset; Octokit baseUrl)`);
    }
    const config = parseConfig(
      {
        redis: { url: redis.url, prefix: `rewind-demo-${process.pid}-${Date.now()}` },
        kubernetes: { kubeconfig: sandbox.kubeconfigPath },
        git: { workdir, allowFileRemotes: true },
        forge: forgeConfig,
        policy: { gracePeriod: '1s', verifyTimeout: '45s' },
      },
      { env },
    );
    const runtime = await startRuntime({
      config,
      roles: ['detector', 'rollback', 'verifier'],
      log: silentLogger(),
      env,
      verifyIntervalMs: 100,
      detector: { debounceMs: 10 },
      github: { minWriteGapMs: 50, retryBaseDelayMs: 50, retryAfterBaseMs: 50 },
    });
    cleanups.push(() => runtime.close());

    const first = await fleet.head();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(first));
    const good = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.5.1');
    fleet.notifyPush();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(good));
    log(`good deploy       ${good.slice(0, 7)} podinfo:6.5.1 rolled out (Flux Ready, 3/3 Pods)`);

    const badAt = Date.now();
    const bad = await fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.6.0-broken', {
      'apps/frontend/deployment.yaml': frontendDeployment('ghcr.io/example/frontend:1.0.0', 3, 'green'),
    });
    fleet.notifyPush();
    log(
      `bad commit        ${bad.slice(0, 7)} "Bump podinfo to 6.6.0-broken" (also changes frontend's theme)`,
    );
    log('');
    log('timeline (seconds after the bad push)');

    const record = await followIncident(runtime.incidents, bad, badAt, log, started + timeoutMs);
    log('');
    if (!record) {
      log('demo FAILED: no incident reached a final state in time');
      return 1;
    }
    const d = record.details;
    log(
      `culprit           ${record.culprit?.slice(0, 7) ?? '?'} "${d.culpritSubject ?? ''}" (rule ${d.culpritRule}, ${d.confidence} confidence, ${d.rangeCommits} candidate(s))`,
    );
    for (const change of d.templateChanges ?? []) log(`template change   ${change}`);
    if (d.revert?.sha)
      log(
        `revert            ${d.revert.sha.slice(0, 7)} (${d.revert.kind}: ${(d.revert.paths ?? []).join(', ')})`,
      );
    for (const v of d.verification ?? []) log(`verified          ${v.namespace}/${v.name}: ${v.state}`);
    for (const w of d.warnings ?? []) log(`warning           ${w}`);
    if (d.pr && sandboxForge) {
      const pulls = sandboxForge.state.pulls;
      log(`pull request      #${d.pr.number} ${d.pr.url} (${pulls.length} pull request(s) on the forge)`);
      // The result comment is posted right after the Converged condition is recorded.
      const number = d.pr.number;
      const resultPosted = (): boolean =>
        sandboxForge.state.comments.some((c) => c.issueNumber === number && c.body.includes('rewind:result'));
      for (let i = 0; i < 100 && !resultPosted(); i++) await new Promise((r) => setTimeout(r, 50));
      const comments = sandboxForge.state.comments.filter((c) => c.issueNumber === number);
      for (const c of comments)
        log(`  comment         ${c.body.split('\n').find((l) => l.trim() && !l.startsWith('<!--')) ?? ''}`);
    }
    const timings = stageTimings(record);
    log(
      `stage timings     ${Object.entries(timings)
        .map(([k, ms]) => `${k} ${(ms / 1000).toFixed(2)}s`)
        .join(', ')}`,
    );
    await fleet.head(); // fetches
    const gitLog = await fleet.work.raw(['log', '--oneline', '-4', 'origin/main']);
    log('');
    log('git log (the revert is in Git, frontend keeps its change):');
    for (const line of gitLog.trim().split('\n')) log(`  ${line}`);
    const status = record.conditions.at(-1);
    const ok = status?.type === 'Converged';
    log('');
    log(
      ok
        ? `demo finished: OK (converged ${((Date.now() - badAt) / 1000).toFixed(1)}s after the bad push)`
        : `demo FAILED: ${status?.type} ${status?.reason}: ${status?.message}`,
    );
    return ok ? 0 : 1;
  } catch (error) {
    log(`\ndemo FAILED: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

async function followIncident(
  incidents: { list(limit?: number): Promise<IncidentRecord[]> },
  badSha: string,
  since: number,
  log: (line: string) => void,
  deadline: number,
): Promise<IncidentRecord | undefined> {
  const printed = new Set<string>();
  while (Date.now() < deadline) {
    const record = (await incidents.list(20)).find((r) => r.badRevision === badSha);
    if (record) {
      for (const c of record.conditions) {
        const key = `${c.type}@${c.at}`;
        if (printed.has(key)) continue;
        printed.add(key);
        const t = ((Date.parse(c.at) - since) / 1000).toFixed(2).padStart(6);
        log(`  ${t}s  ${c.type.padEnd(18)} ${c.message}`);
      }
      if (isTerminal(record.conditions.at(-1)!.type)) return record;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}
