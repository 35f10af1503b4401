// Real temporary git repositories for tests (after changesets' gitdir()): a bare "remote" and a
// working clone that plays the humans pushing commits.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface GitDir {
  readonly root: string;
  /** Bare repository standing in for the remote. */
  readonly remote: string;
  /** Working clone used to author commits. */
  readonly work: string;
  git(...args: string[]): string;
  /** Writes files (null deletes), commits, pushes; returns the new SHA. */
  commit(
    message: string,
    files: Readonly<Record<string, string | null>>,
    author?: { name: string; email: string },
  ): string;
  /** Merges `branch` into main with a merge commit and pushes; returns the merge SHA. */
  merge(branch: string, message: string): string;
  head(): string;
  cleanup(): void;
}

const ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Dev',
  GIT_AUTHOR_EMAIL: 'dev@example.com',
  GIT_COMMITTER_NAME: 'Dev',
  GIT_COMMITTER_EMAIL: 'dev@example.com',
};

export function gitdir(): GitDir {
  const root = mkdtempSync(path.join(tmpdir(), 'rewind-git-'));
  const remote = path.join(root, 'remote.git');
  const work = path.join(root, 'work');
  const run = (cwd: string, args: string[], env: NodeJS.ProcessEnv = ENV): string =>
    execFileSync('git', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  run(root, ['init', '--quiet', '--bare', '--initial-branch=main', remote]);
  run(root, ['init', '--quiet', '--initial-branch=main', work]);
  run(work, ['remote', 'add', 'origin', remote]);

  const dir: GitDir = {
    root,
    remote,
    work,
    git: (...args) => run(work, args),
    commit(message, files, author) {
      for (const [file, content] of Object.entries(files)) {
        const full = path.join(work, file);
        if (content === null) rmSync(full, { force: true });
        else {
          mkdirSync(path.dirname(full), { recursive: true });
          writeFileSync(full, content);
        }
      }
      run(work, ['add', '-A']);
      const env = author ? { ...ENV, GIT_AUTHOR_NAME: author.name, GIT_AUTHOR_EMAIL: author.email } : ENV;
      run(work, ['commit', '--quiet', '--allow-empty', '-m', message], env);
      run(work, ['push', '--quiet', 'origin', 'HEAD:refs/heads/main']);
      return run(work, ['rev-parse', 'HEAD']);
    },
    merge(branch, message) {
      run(work, ['merge', '--quiet', '--no-ff', '-m', message, branch]);
      run(work, ['push', '--quiet', 'origin', 'HEAD:refs/heads/main']);
      return run(work, ['rev-parse', 'HEAD']);
    },
    head: () => run(work, ['rev-parse', 'HEAD']),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
  return dir;
}

export function deployment(name: string, image: string, replicas = 1): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      containers:
        - name: ${name}
          image: ${image}
`;
}

/** A two-app Flux layout: podinfo (overlay on a base) and frontend, plus a shared config dir. */
export function fluxLayout(images: { podinfo: string; frontend: string }): Record<string, string> {
  return {
    'apps/base/podinfo/kustomization.yaml': 'resources:\n  - deployment.yaml\n',
    'apps/base/podinfo/deployment.yaml': deployment('podinfo', images.podinfo),
    'apps/podinfo/kustomization.yaml':
      'resources:\n  - ../base/podinfo\n  - https://github.com/example/remote//base?ref=v1\npatches:\n  - path: patch.yaml\n',
    'apps/podinfo/patch.yaml':
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: podinfo\nspec:\n  replicas: 2\n',
    'apps/frontend/kustomization.yaml': 'resources:\n  - deployment.yaml\n',
    'apps/frontend/deployment.yaml': deployment('frontend', images.frontend),
    'README.md': '# cluster\n',
  };
}
