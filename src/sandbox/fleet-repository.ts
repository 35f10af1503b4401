// The Git side of a sample fleet (Flux or Argo CD): a local bare repository standing in for the
// remote, and a working clone that plays the people pushing commits to main.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';

export interface FleetRepository {
  /** Temporary directory holding both repositories. */
  readonly dir: string;
  /** The bare repository (what the GitOps engine fetches from). */
  readonly remote: string;
  readonly work: SimpleGit;
  readonly workDir: string;
  /** Commits a change of files (path -> content, null deletes), pushes it, returns the SHA. */
  readonly commit: (message: string, files: Record<string, string | null>) => Promise<string>;
  /** Fetches and returns origin/main. */
  readonly head: () => Promise<string>;
  readonly cleanup: () => Promise<void>;
}

/**
 * In a fresh temporary directory; or, given `dir` (the kept demo's), there as `fleet.git` and the
 * clone `fleet` for a person to work in.
 */
export async function createFleetRepository(options: { dir?: string } = {}): Promise<FleetRepository> {
  const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), 'rewind-fleet-')));
  const remote = path.join(dir, 'fleet.git');
  const workDir = path.join(dir, options.dir === undefined ? 'work' : 'fleet');
  await simpleGit().raw(['init', '--bare', '--initial-branch=main', '--', remote]);
  await simpleGit().clone(remote, workDir);
  const work = simpleGit(workDir);
  await work.addConfig('user.name', 'Alice Developer').addConfig('user.email', 'alice@example.com');
  await work.raw(['checkout', '-B', 'main']);

  return {
    dir,
    remote,
    work,
    workDir,
    async commit(message, files) {
      for (const [file, content] of Object.entries(files)) {
        const full = path.join(workDir, file);
        if (content === null) {
          await rm(full, { force: true });
          await work.raw(['rm', '--cached', '--ignore-unmatch', '-q', '--', file]);
        } else {
          await mkdir(path.dirname(full), { recursive: true });
          await writeFile(full, content);
          await work.add(['--', file]);
        }
      }
      await work.commit(message);
      await work.push('origin', 'main');
      return (await work.revparse(['HEAD'])).trim();
    },
    async head() {
      await work.fetch('origin');
      return (await work.revparse(['origin/main'])).trim();
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
