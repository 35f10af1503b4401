// Big monorepos: culprit search and revert (pushed to a bare remote) on a generated repository of
// `--commits` commits (default 100,000) over `--apps` apps (default 2,000), for ranges of
// `--ranges` commits (default 500 and 20,000) ending at the branch head, against what a person
// runs in an up-to-date clone: fetch, `git log --first-parent good..bad -- <paths>`, `git revert`,
// push. Also the first mirror clone, partial (`--filter=blob:none`, as Rewind makes it) against a
// full `git clone --bare`. The repository is generated once with `git fast-import` and cached in
// the temporary directory, keyed by its parameters.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseCommitSha, type CommitSha } from '../src/domain/commit-sha.ts';
import type { GitProcessEvent } from '../src/git/repo.ts';
import { RollbackGit } from '../src/git/rollback-git.ts';
import { GitWorkspace } from '../src/git/workspace.ts';
import { personGit } from './overhead.ts';
import { byCommand } from './lib/git-profile.ts';
import { median, numberArg, stringArg } from './lib/stats.ts';

const AUTHOR = { name: 'Rewind', email: 'rewind@example.invalid' };
const TARGET = 'apps/target';
const BROKEN = 'registry.example/target:2.0-broken';
const TARGET_MS_RATIO = 2;
/** The culprit sits this many commits below the head: inside every measured range. */
const CULPRIT_DEPTH = 25;

export async function run(args: string[]): Promise<unknown> {
  const commits = numberArg(args, '--commits', 100_000);
  const apps = numberArg(args, '--apps', 2_000);
  const runs = numberArg(args, '--runs', 3);
  const ranges = stringArg(args, '--ranges', '500,20000').split(',').map(Number);
  const git = personGit();
  const remote = await generatedRepository(commits, apps);
  const scratch = await mkdtemp(path.join(tmpdir(), 'rewind-monorepo-'));
  try {
    const url = `file://${remote}`;
    // First mirror clone: Rewind's (partial) against a full bare clone, same run.
    const events: GitProcessEvent[] = [];
    const workspace = new GitWorkspace({
      root: path.join(scratch, 'rewind'),
      author: AUTHOR,
      allowedProtocols: ['file'],
      observer: (e) => events.push(e),
      // --full-mirror: what the partial mirror costs on every later fetch and push.
      partialClone: !args.includes('--full-mirror'),
    });
    const mirrorKind = args.includes('--full-mirror') ? 'full' : 'partial';
    const mirrorStarted = performance.now();
    const mirror = await workspace.syncMirror(url);
    const mirrorCloneMs = Math.round(performance.now() - mirrorStarted);
    const fullStarted = performance.now();
    await git(scratch, 'clone', '--bare', '--quiet', '--no-tags', url, path.join(scratch, 'full.git'));
    const fullCloneMs = Math.round(performance.now() - fullStarted);
    const sizes = {
      rewindMiB: await sizeMiB(mirror.repo.dir),
      fullBareMiB: await sizeMiB(path.join(scratch, 'full.git')),
    };

    // The person's clone, checked out and up to date before the clock starts.
    const person = path.join(scratch, 'person');
    await git(scratch, 'clone', '--quiet', '--no-tags', url, person);

    const rollbackGit = new RollbackGit(workspace, AUTHOR);
    const head = parseCommitSha((await git(remote, 'rev-parse', 'main')).trim(), 'head');
    const results = [];
    for (const range of ranges.filter((r) => r < commits)) {
      const good = parseCommitSha((await git(remote, 'rev-parse', `main~${range}`)).trim(), 'good');
      const samples: { rewind: number; byHand: number; processes: number; locate: number }[] = [];
      let profile: ReturnType<typeof byCommand> = {};
      for (let i = 0; i < runs; i++) {
        // Each run reverts on a branch of its own at the head, so every run starts from the same state.
        const branch = `bench/r${range}-${i}-${process.pid}`;
        await git(remote, 'update-ref', `refs/heads/${branch}`, head);
        await git(remote, 'update-ref', `refs/heads/person-${branch}`, head);
        // Warm, as in production: the detector fetches a source's branch when it sees the new
        // revision, before an incident opens (the person's clone is fetched before the clock too).
        await workspace.syncMirror(url, { branches: [branch] });
        events.length = 0;
        const rewind = await rewindRollback(rollbackGit, url, branch, good, head, i);
        const byHand = await personRollback(git, person, branch, good, head);
        samples.push({ rewind: rewind.ms, locate: rewind.locateMs, byHand, processes: events.length });
        profile = byCommand(events);
      }
      const rewindMs = median(samples.map((s) => s.rewind));
      const byHandMs = median(samples.map((s) => s.byHand));
      results.push({
        range,
        rewindMedianMs: rewindMs,
        rewindLocateMedianMs: median(samples.map((s) => s.locate)),
        byHandMedianMs: byHandMs,
        ratio: round(rewindMs / byHandMs),
        meetsTarget: rewindMs / byHandMs <= TARGET_MS_RATIO,
        gitProcessesMedian: median(samples.map((s) => s.processes)),
        runsMs: samples.map((s) => [s.rewind, s.byHand]),
        lastRunGitByCommand: profile,
      });
    }
    return {
      benchmark: 'monorepo',
      commits,
      apps,
      runs,
      note: 'rewind = locate (path closure, culprit search) + fix-forward check (ls-remote of the branch, a fetch only if it moved) + revert built and pushed to the bare remote, on a mirror warmed before the clock as the detector does; byHand = fetch + git log --first-parent good..bad -- apps/target + git revert + push, in an up-to-date checkout',
      mirror: mirrorKind,
      firstClone: {
        rewindMs: mirrorCloneMs,
        fullBareMs: fullCloneMs,
        ratio: round(mirrorCloneMs / fullCloneMs),
        ...sizes,
      },
      targetRatio: TARGET_MS_RATIO,
      ranges: results,
      node: process.version,
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function rewindRollback(
  git: RollbackGit,
  url: string,
  branch: string,
  good: CommitSha,
  bad: CommitSha,
  run: number,
): Promise<{ ms: number; locateMs: number }> {
  const started = performance.now();
  const located = await git.locate({ url, good, bad, appPath: TARGET, changedValues: [BROKEN] });
  const locateMs = Math.round(performance.now() - started);
  if (located.outcome.kind !== 'found') throw new Error(`no culprit: ${located.outcome.explanation}`);
  const later = await git.laterChanges(url, branch, bad, located.closure);
  if (later.length > 0) throw new Error('unexpected later changes');
  const pushed = await git.revertAndPush({
    url,
    branch,
    bad,
    dryRun: false,
    incidentId: `inc-ks.flux-system.target-${bad.slice(0, 10)}${String(run).padStart(2, '0')}`,
    commits: located.outcome.commits,
    failingApps: ['flux-system/target'],
    failingPaths: located.closure,
    otherAppsPaths: [],
    good,
  });
  if (pushed.kind !== 'pushed') throw new Error(`revert not pushed: ${pushed.kind}`);
  return { ms: Math.round(performance.now() - started), locateMs };
}

async function personRollback(
  git: ReturnType<typeof personGit>,
  clone: string,
  branch: string,
  good: string,
  bad: string,
): Promise<number> {
  await git(clone, 'fetch', '--quiet', 'origin');
  await git(clone, 'checkout', '--quiet', '--detach', bad);
  const started = performance.now();
  await git(clone, 'fetch', '--quiet', 'origin');
  const culprit = (await git(clone, 'log', '--first-parent', '--format=%H', `${good}..${bad}`, '--', TARGET))
    .split('\n')[0]!
    .trim();
  await git(clone, 'revert', '--no-edit', culprit);
  await git(clone, 'push', '--quiet', 'origin', `HEAD:refs/heads/person-${branch}`);
  return Math.round(performance.now() - started);
}

/** The generated repository (bare, serving partial clones), made once per parameters. */
async function generatedRepository(commits: number, apps: number): Promise<string> {
  const cache = path.join(tmpdir(), 'rewind-bench-cache');
  const dir = path.join(cache, `monorepo-c${commits}-a${apps}.git`);
  if (await exists(path.join(dir, 'refs'))) return dir;
  await mkdir(cache, { recursive: true });
  const building = `${dir}.${process.pid}.tmp`;
  await rm(building, { recursive: true, force: true });
  const git = personGit();
  await git(cache, 'init', '--quiet', '--bare', '--initial-branch=main', building);
  await git(building, 'config', 'uploadpack.allowFilter', 'true');
  await git(building, 'config', 'uploadpack.allowAnySHA1InWant', 'true');
  await fastImport(building, commits, apps);
  await git(building, 'repack', '-a', '-d', '-q');
  await rename(building, dir);
  return dir;
}

/**
 * 2,000 apps as apps/<group>/<app>/{kustomization,deployment}.yaml (50 apps per group) plus
 * apps/target; every commit bumps one app's image, round robin; the culprit, CULPRIT_DEPTH commits
 * below the head, is the only commit after the first that touches apps/target.
 */
function fastImport(dir: string, commits: number, apps: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['fast-import', '--quiet', '--done'], {
      cwd: dir,
      env: { PATH: process.env['PATH'] ?? '', GIT_CONFIG_NOSYSTEM: '1', HOME: tmpdir() },
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`fast-import exited ${code}`))));
    const appPath = (n: number) =>
      `apps/g${String(Math.floor(n / 50)).padStart(3, '0')}/app-${String(n).padStart(5, '0')}`;
    const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`;
    const file = (p: string, text: string) => `M 100644 inline ${p}\n${data(text)}`;
    const deployment = (name: string, image: string) =>
      `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n  template:\n    spec:\n      containers:\n        - name: ${name}\n          image: ${image}\n`;
    const kustomization = 'resources:\n  - deployment.yaml\n';
    const commit = (n: number, message: string, body: string) =>
      `commit refs/heads/main\ncommitter Dev <dev@example.com> ${1_700_000_000 + n} +0000\n${data(message)}${body}`;
    const stream = child.stdin;
    const culprit = commits - 1 - CULPRIT_DEPTH;
    let n = 0;
    const write = (): void => {
      let ok = true;
      while (ok && n < commits) {
        let chunk: string;
        if (n === 0) {
          let body = file(`${TARGET}/kustomization.yaml`, kustomization);
          body += file(`${TARGET}/deployment.yaml`, deployment('target', 'registry.example/target:1.0'));
          for (let a = 0; a < apps; a++) {
            body += file(`${appPath(a)}/kustomization.yaml`, kustomization);
            body += file(
              `${appPath(a)}/deployment.yaml`,
              deployment(`app-${a}`, `registry.example/app-${a}:1.0`),
            );
          }
          chunk = commit(n, 'Add the apps', body);
        } else if (n === culprit) {
          chunk = commit(n, 'target: 2.0', file(`${TARGET}/deployment.yaml`, deployment('target', BROKEN)));
        } else {
          const a = n % apps;
          chunk = commit(
            n,
            `app-${a}: 1.${n}`,
            file(`${appPath(a)}/deployment.yaml`, deployment(`app-${a}`, `registry.example/app-${a}:1.${n}`)),
          );
        }
        n++;
        ok = stream.write(chunk);
      }
      if (n < commits) stream.once('drain', write);
      else stream.end('done\n');
    };
    write();
  });
}

async function sizeMiB(dir: string): Promise<number> {
  const out = await personGit()(dir, 'count-objects', '-v');
  const kib = [...out.matchAll(/^(?:size|size-pack): (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  return round(kib / 1024);
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

function round(n: number): number {
  return Number(n.toFixed(2));
}
