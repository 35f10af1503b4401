// `rewind demo --keep` (`npm run demo -- --keep`): a sandbox to keep using. Everything goes in one
// directory (default ./rewind-demo): the sandbox's kubeconfig, the fleet's bare repository and a clone
// to push from, and a rewind.yaml that runs as is against the sandbox. Rewind runs from that file in
// a child process (`rewind start -c <dir>/rewind.yaml`, logs in <dir>/rewind.log), exactly as a
// person would start it. Pushes to the fleet are seen at once: the bare repository is watched and
// the GitRepository asked to fetch, as a Flux webhook Receiver does. Ctrl-C or SIGTERM stops it all
// and removes the directory (everything in it points at the sandbox that just stopped).
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { simpleGit } from 'simple-git';
import { stringify } from 'yaml';
import { deletePrefix } from '../sandbox/loop.ts';
import { BROKEN_IMAGE_GLOB, createFleet, readyFor, waitForKustomization } from '../sandbox/scenario.ts';
import { startSandbox } from '../sandbox/sandbox.ts';
import { ensureRedis, freePort } from './redis.ts';
import { untilStopped } from '../sandbox/stop-signal.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Marks a directory as the kept demo's, so a later `--keep` may replace it. */
const MARKER = '.rewind-demo';
const GOOD_IMAGE = 'ghcr.io/stefanprodan/podinfo:6.5.1';

export interface KeptDemoOptions {
  out: Writable;
  /** Where everything goes; default ./rewind-demo. */
  dir?: string;
  /** The dashboard's port; default a free one. */
  listen?: number;
  /** Resolves when the demo should stop; default the first SIGINT or SIGTERM, or its parent's exit. */
  stopped?: Promise<void>;
}

/** A directory for the demo: new, or a previous kept demo's (replaced); anything else is refused. */
async function freshDir(dir: string): Promise<void> {
  if (existsSync(dir)) {
    const entries = await readdir(dir);
    if (entries.length > 0 && !entries.includes(MARKER)) {
      throw new Error(
        `${dir} exists and was not made by \`rewind demo --keep\`: remove it, or pass --dir <another directory>.`,
      );
    }
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, MARKER), 'made by `rewind demo --keep`; removed when it stops\n');
}

/** How the paths are printed: relative to the current directory when inside it, so commands stay short. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

/** Starts `rewind start -c <config>` and resolves once /readyz answers 200. */
async function startRewind(config: string, port: number, logFile: string): Promise<ChildProcess> {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(
    process.execPath,
    ['bin/rewind.mjs', 'start', '-c', config, '--listen', String(port), '--host', '127.0.0.1'],
    { cwd: ROOT, env: { ...process.env, REWIND_LOG_LEVEL: process.env['REWIND_LOG_LEVEL'] ?? 'info' } },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`rewind start exited (${child.exitCode}):\n${await readFile(logFile, 'utf8')}`);
    }
    const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
    if (res?.status === 200) return child;
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`rewind start was not ready in time; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Runs until stopped; resolves to the exit code. */
export async function runKeptDemo(options: KeptDemoOptions): Promise<number> {
  const log = (line = ''): void => void options.out.write(`${line}\n`);
  const stopped = options.stopped ?? untilStopped();
  const dir = path.resolve(options.dir ?? 'rewind-demo');
  const cleanups: (() => Promise<void>)[] = [];
  try {
    await freshDir(dir);
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const redis = await ensureRedis(process.env['REDIS_URL']);
    cleanups.push(() => redis.stop());
    // One prefix per demo directory: the file, `rewind status` and the running Rewind agree on it.
    const prefix = `rewind-demo-${createHash('sha256').update(dir).digest('hex').slice(0, 8)}`;
    const dropKeys = async (): Promise<void> => {
      const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      try {
        await deletePrefix(client, prefix);
      } finally {
        client.disconnect();
      }
    };
    await dropKeys(); // what a demo killed with SIGKILL left behind
    cleanups.push(dropKeys);

    const kubeconfig = path.join(dir, 'kubeconfig');
    const sandbox = await startSandbox({ kubeconfig, podReadyMs: 150, unreadyImages: [BROKEN_IMAGE_GLOB] });
    cleanups.push(() => sandbox.stop());
    const fleet = await createFleet({ sandbox, dir, timeout: '10s', replicas: 3 });
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(await fleet.head()));
    const good = await fleet.setPodinfoImage(GOOD_IMAGE);
    fleet.notifyPush();
    await waitForKustomization(sandbox, fleet.namespace, 'podinfo', readyFor(good));

    // A push is fetched at once: what a Flux webhook Receiver does, for the fleet's bare repository.
    const bare = simpleGit(fleet.remote);
    let seen = good;
    const watcher = setInterval(() => {
      void bare.revparse(['main']).then(
        (head) => {
          if (head.trim() === seen) return;
          seen = head.trim();
          fleet.notifyPush();
        },
        () => undefined,
      );
    }, 500);
    cleanups.push(async () => clearInterval(watcher));

    const config = path.join(dir, 'rewind.yaml');
    await writeFile(
      config,
      [
        '# Rewind against the demo sandbox, written by `rewind demo --keep` (removed when it stops).',
        '# The same keys run Rewind on a real cluster: see rewind.example.yaml for all of them.',
        stringify({
          redis: { url: redis.url, prefix },
          kubernetes: { kubeconfig },
          // The fleet is a local bare repository (a file:// URL): allowed here, refused by default.
          git: { workdir: path.join(dir, 'rewind-work'), allowFileRemotes: true },
          forge: { type: 'direct-push' },
          policy: { gracePeriod: '1s', verifyTimeout: '45s' },
        }),
      ].join('\n'),
    );
    const port = options.listen ?? (await freePort());
    const logFile = path.join(dir, 'rewind.log');
    const rewind = await startRewind(config, port, logFile);
    const exited = once(rewind, 'exit');
    cleanups.push(async () => {
      // Ctrl-C in a terminal reaches Rewind too (one process group), and it drains on its own; a
      // second signal would cut its drain short. Only a Rewind that did not hear it is told.
      await new Promise((r) => setTimeout(r, 500));
      const heard = (await readFile(logFile, 'utf8').catch(() => '')).includes('draining:');
      if (!heard && rewind.exitCode === null && rewind.signalCode === null) rewind.kill('SIGTERM');
      const killer = setTimeout(() => rewind.kill('SIGKILL'), 60_000);
      await exited.finally(() => clearTimeout(killer));
    });

    const kc = shown(kubeconfig);
    const clone = shown(fleet.workDir);
    const back = path.relative(fleet.workDir, process.cwd()) || '.';
    log('Rewind demo is up, and stays up until Ctrl-C (which stops it all and removes the directory).');
    log(`  sandbox cluster  ${sandbox.url}   kubeconfig ${kc}`);
    log(`  fleet            ${shown(fleet.remote)} (bare repository), your clone ${clone}`);
    log(`  Flux             GitRepository ${fleet.namespace}/fleet, Kustomizations podinfo and frontend`);
    log(`  rewind.yaml      ${shown(config)}`);
    log(`  Rewind           rewind start -c ${shown(config)} (pid ${rewind.pid}), logs ${shown(logFile)}`);
    log(`  dashboard        http://127.0.0.1:${port}/dashboard/`);
    log();
    log('Next, in another terminal, from this directory:');
    log(`  kubectl --kubeconfig ${kc} get kustomizations,deployments -A`);
    log(
      `  cd ${clone} && perl -pi -e 's/podinfo:6\\.5\\.1/podinfo:6.7.0-broken/' apps/base/podinfo/deployment.yaml && git commit -qam 'Bump podinfo to 6.7.0-broken' && git push -q && cd ${back}`,
    );
    log(`  npx rewind status -c ${shown(config)}`);
    log(`  git -C ${clone} pull -q && git -C ${clone} log --oneline -3`);
    log('A push is fetched within a second. To make Flux fetch now by hand:');
    log(
      `  kubectl --kubeconfig ${kc} -n ${fleet.namespace} annotate gitrepository fleet reconcile.fluxcd.io/requestedAt="$(date +%s)" --overwrite`,
    );
    log();
    log(`ready: ${shown(dir)}`);
    await Promise.race([stopped, exited]);
    if (rewind.exitCode !== null && rewind.exitCode !== 0) {
      log(`Rewind exited with code ${rewind.exitCode}; its log was ${shown(logFile)}:`);
      log(await readFile(logFile, 'utf8').catch(() => ''));
      return 1;
    }
    log('stopping: Rewind, the sandbox, Redis keys; removing the demo directory');
    return 0;
  } catch (error) {
    log(`demo FAILED: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}
