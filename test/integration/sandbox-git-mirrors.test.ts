// The sandbox's Git mirrors (Argo CD's repo-server cache, Flux's source artifacts) against real
// repositories: one mirror is shared by every app of a repository and by the controller's refresh and
// operation queues, so fetches into it overlap.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GitMirrors } from '../../src/sandbox/flux-source.ts';
import { type GitDir, gitdir } from '../helpers/gitdir.ts';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function setup(): { repo: GitDir; mirrors: GitMirrors } {
  const repo = gitdir();
  const cacheDir = mkdtempSync(path.join(tmpdir(), 'rewind-mirrors-'));
  cleanups.push(
    () => repo.cleanup(),
    () => rmSync(cacheDir, { recursive: true, force: true }),
  );
  return { repo, mirrors: new GitMirrors(cacheDir) };
}

describe('sandbox Git mirrors', () => {
  it('resolves overlapping fetches of one mirror after the remote moved, each to the new head', async () => {
    const { repo, mirrors } = setup();
    const url = `file://${repo.remote}`;
    repo.commit('one', { 'a.txt': '1\n' });
    await mirrors.resolve('repositories', 'shared', url, 'main');
    for (let round = 2; round <= 6; round++) {
      const head = repo.commit(`round ${round}`, { 'a.txt': `${round}\n` });
      // Every fetch reads refs/heads/main at the old head; git refuses all but the first update
      // ("cannot lock ref") unless the mirror takes one fetch at a time.
      const resolved = await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          i % 2 === 0
            ? mirrors.resolve('repositories', 'shared', url, 'main')
            : mirrors.resolve('repositories', 'shared', url, head),
        ),
      );
      expect(resolved.map((r) => r.sha)).toEqual([head, head, head, head]);
    }
  }, 60_000);

  it('fetches one branch into a mirror from overlapping callers', async () => {
    const { repo, mirrors } = setup();
    const url = `file://${repo.remote}`;
    repo.commit('one', { 'a.txt': '1\n' });
    await mirrors.fetch('flux-system', 'app', url, 'main');
    for (let round = 2; round <= 6; round++) {
      const head = repo.commit(`round ${round}`, { 'a.txt': `${round}\n` });
      const fetched = await Promise.all(
        Array.from({ length: 4 }, () => mirrors.fetch('flux-system', 'app', url, 'main')),
      );
      expect(fetched.map((r) => r.sha)).toEqual([head, head, head, head]);
    }
  }, 60_000);

  it('reads a file shared by two commits once: the second tree is served from the blob cache', async () => {
    const { repo, mirrors } = setup();
    const url = `file://${repo.remote}`;
    repo.commit('one', { 'base/deployment.yaml': 'kind: Deployment\n', 'app.txt': '1\n' });
    const first = await mirrors.fetch('flux-system', 'app', url, 'main');
    const firstTree = await mirrors.tree('flux-system', 'app', first.sha);
    expect(await firstTree.readText('base/deployment.yaml')).toBe('kind: Deployment\n');
    repo.commit('two', { 'app.txt': '2\n' });
    const second = await mirrors.fetch('flux-system', 'app', url, 'main');
    const secondTree = await mirrors.tree('flux-system', 'app', second.sha);
    // With the mirror's objects gone, only what was read before can still be read.
    rmSync(path.join(mirrors.mirrorDir('flux-system', 'app'), 'objects'), { recursive: true, force: true });
    expect(await secondTree.readText('base/deployment.yaml')).toBe('kind: Deployment\n');
    await expect(secondTree.readText('app.txt')).rejects.toThrow();
  }, 60_000);

  it("fetches only when the branch moved, read from the remote's loose or packed refs (source-controller's optimised clone)", async () => {
    const { repo, mirrors } = setup();
    const url = `file://${repo.remote}`;
    // Every git process the mirrors start goes through this shim, which logs its subcommand.
    const shim = mkdtempSync(path.join(tmpdir(), 'rewind-git-shim-'));
    const log = path.join(shim, 'calls.log');
    const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
    writeFileSync(path.join(shim, 'git'), `#!/bin/sh\necho "$1" >> '${log}'\nexec '${realGit}' "$@"\n`);
    chmodSync(path.join(shim, 'git'), 0o755);
    const path0 = process.env['PATH'];
    process.env['PATH'] = `${shim}:${path0}`;
    cleanups.push(
      () => (process.env['PATH'] = path0),
      () => rmSync(shim, { recursive: true, force: true }),
    );
    const fetches = (): number =>
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l === 'fetch').length;

    const first = repo.commit('one', { 'a.txt': '1\n' });
    expect((await mirrors.fetch('flux-system', 'app', url, 'main')).sha).toBe(first);
    expect(fetches()).toBe(1);
    expect((await mirrors.fetch('flux-system', 'app', url, 'main')).sha).toBe(first); // loose ref, unchanged
    expect(fetches()).toBe(1);
    const second = repo.commit('two', { 'a.txt': '2\n' });
    expect((await mirrors.fetch('flux-system', 'app', url, 'main')).sha).toBe(second);
    expect(fetches()).toBe(2);
    execFileSync('git', ['pack-refs', '--all'], { cwd: repo.remote }); // the ref now lives in packed-refs
    expect((await mirrors.fetch('flux-system', 'app', url, 'main')).sha).toBe(second);
    expect(fetches()).toBe(2);
    const third = repo.commit('three', { 'a.txt': '3\n' });
    expect((await mirrors.fetch('flux-system', 'app', url, 'main')).sha).toBe(third);
    expect(fetches()).toBe(3);
    // Another mirror of the same remote has fetched nothing yet: it fetches.
    expect((await mirrors.fetch('flux-system', 'other', url, 'main')).sha).toBe(third);
    expect(fetches()).toBe(4);
  }, 60_000);
});
