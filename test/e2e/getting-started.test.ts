// docs/getting-started.md, run as a reader runs it: its ```bash blocks in order, from the root of the
// checkout, each as one `bash -e` script. The block that starts the kept demo runs in the
// background (its own process group, as a first terminal), and the rest wait for its `ready:` line;
// the page's commands are run literally, nothing substituted. Then the demo is stopped as Ctrl-C
// would, and must remove its directory.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { redisUrl } from '../global-setup.ts';
import { until } from '../helpers/wait.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PAGE = path.join(ROOT, 'docs/getting-started.md');
const DEMO_DIR = path.join(ROOT, 'rewind-demo');
const KEEP = 'npm run demo -- --keep';
/** Starting the demo and then Rewind from its file: 45 s on a loaded 2-core machine; the rest, a minute. */
const READY_TIMEOUT_MS = 240_000;
const BLOCK_TIMEOUT_MS = 240_000;
const run = promisify(execFile);

/** The ```bash blocks of a Markdown page, in order. */
function bashBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```bash\n([\s\S]*?)^```$/gm)].map((m) => m[1]!.trim());
}

describe('docs/getting-started.md', () => {
  let demo: ChildProcess | undefined;
  let demoOutput = '';

  const stopDemo = async (): Promise<void> => {
    if (!demo?.pid || demo.exitCode !== null) return;
    process.kill(-demo.pid, 'SIGTERM'); // Ctrl-C reaches the whole foreground group
    await until(() => demo!.exitCode !== null || demo!.signalCode !== null, 'the demo to stop', 60_000);
  };

  afterAll(async () => {
    await stopDemo().catch(() => {
      if (demo?.pid) process.kill(-demo.pid, 'SIGKILL');
    });
  });

  it(
    'runs as written: the kept demo, a bad commit pushed by hand, rolled back by Rewind, and a clean stop',
    async () => {
      // A reader's own kept demo in this checkout is not ours to replace.
      expect(existsSync(DEMO_DIR), `${DEMO_DIR} exists: stop the demo running there first`).toBe(false);
      const blocks = bashBlocks(await readFile(PAGE, 'utf8'));
      expect(blocks[0]).toBe(KEEP);
      expect(blocks.length).toBeGreaterThan(4);
      const env = { ...process.env, REDIS_URL: redisUrl(), REWIND_LOG_LEVEL: 'warn' };

      demo = spawn('bash', ['-c', KEEP], {
        cwd: ROOT,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      demo.stdout!.on('data', (d: Buffer) => (demoOutput += String(d)));
      demo.stderr!.on('data', (d: Buffer) => (demoOutput += String(d)));
      await until(
        () => {
          if (demo!.exitCode !== null) throw new Error(`the demo exited:\n${demoOutput}`);
          return /^ready: rewind-demo$/m.test(demoOutput);
        },
        'the demo to print ready',
        READY_TIMEOUT_MS,
        250,
      );
      // What the demo prints to try next is what the page says.
      expect(demoOutput).toContain(
        'kubectl --kubeconfig rewind-demo/kubeconfig get kustomizations,deployments -A',
      );
      expect(demoOutput).toContain('npx rewind status -c rewind-demo/rewind.yaml');
      expect(demoOutput).toMatch(/dashboard\s+http:\/\/127\.0\.0\.1:\d+\/dashboard\//);

      const outputs: string[] = [];
      for (const block of blocks.slice(1)) {
        const result = await run('bash', ['-e', '-o', 'pipefail', '-c', block], {
          cwd: ROOT,
          env,
          timeout: BLOCK_TIMEOUT_MS,
        }).catch((error: { stdout?: string; stderr?: string; message: string }) => {
          throw new Error(
            `this block failed:\n${block}\n${error.message}\n${error.stdout ?? ''}${error.stderr ?? ''}\ndemo:\n${demoOutput}`,
          );
        });
        outputs.push(result.stdout);
      }
      const all = outputs.join('\n');
      expect(all).toMatch(/ks\/flux-system\/podinfo\s+Converged\s+LastGoodReplicaSet/);
      expect(all).toContain('Revert "Bump podinfo to 6.7.0-broken"');
      expect(all).toContain('ghcr.io/stefanprodan/podinfo:6.5.1\n');
      expect(all).toContain('gitrepository.source.toolkit.fluxcd.io/fleet annotated');
      expect(all).toContain('Automatic rollbacks of flux-system/podinfo are paused');

      await stopDemo();
      expect(demoOutput).toContain('stopping: Rewind, the sandbox, Redis keys; removing the demo directory');
      await until(() => !existsSync(DEMO_DIR), 'the demo directory to be removed', 30_000);
    },
    READY_TIMEOUT_MS + 8 * BLOCK_TIMEOUT_MS,
  );
});
