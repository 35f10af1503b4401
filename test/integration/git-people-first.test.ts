// People come first: a person's fix pushed after the bad revision is never overwritten, whatever
// moment it arrives at (before Rewind acts, or between building the revert and pushing it), and a
// revert may take back only the culprit's own lines.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCommitSha, type CommitSha } from '../../src/domain/commit-sha.ts';
import type { CandidateCommit } from '../../src/git/culprit.ts';
import { laterChanges, revertExceedsCulprits } from '../../src/git/people-first.ts';
import { pushRevertDirect } from '../../src/git/push.ts';
import { buildRevert } from '../../src/git/revert.ts';
import { RollbackGit } from '../../src/git/rollback-git.ts';
import { GitWorkspace } from '../../src/git/workspace.ts';
import { deployment, fluxLayout, gitdir, type GitDir } from '../helpers/gitdir.ts';

const REWIND = { name: 'Rewind', email: 'rewind@example.invalid' };
const INCIDENT = 'inc-ks.flux-system.podinfo-0123456789ab';
const PODINFO = 'apps/base/podinfo/deployment.yaml';
const sha = (s: string): CommitSha => parseCommitSha(s);

let repo: GitDir;
let ws: GitWorkspace;
let good: CommitSha;

function commitOf(s: CommitSha, parent: CommitSha, subject: string): CandidateCommit {
  return {
    sha: s,
    parents: [parent],
    subject,
    authorName: 'Dev',
    authorEmail: 'dev@example.com',
    committedAt: '',
  };
}

beforeEach(() => {
  repo = gitdir();
  good = sha(
    repo.commit(
      'initial layout',
      fluxLayout({ podinfo: 'ghcr.io/x/podinfo:1.0', frontend: 'ghcr.io/x/fe:1.0' }),
    ),
  );
  ws = new GitWorkspace({ root: `${repo.root}/ws`, author: REWIND, allowedProtocols: ['file'] });
});
afterEach(() => repo.cleanup());

describe('people come first', () => {
  it("finds a person's later change to the app, and ignores other apps' changes and Rewind's own commits", async () => {
    const bad = sha(
      repo.commit('podinfo broken', { [PODINFO]: deployment('podinfo', 'ghcr.io/x/podinfo:broken') }),
    );
    repo.commit('frontend 1.1', {
      'apps/frontend/deployment.yaml': deployment('frontend', 'ghcr.io/x/fe:1.1'),
    });
    repo.commit('Rewind revert', { [PODINFO]: deployment('podinfo', 'ghcr.io/x/podinfo:1.0') }, REWIND);
    const git = new RollbackGit(ws, REWIND);
    expect(await git.laterChanges(repo.remote, 'main', bad, ['apps/podinfo', 'apps/base/podinfo'])).toEqual(
      [],
    );

    const fix = repo.commit(
      'podinfo 1.1: fix forward',
      { [PODINFO]: deployment('podinfo', 'ghcr.io/x/podinfo:1.1') },
      {
        name: 'Alice',
        email: 'alice@example.com',
      },
    );
    const later = await git.laterChanges(repo.remote, 'main', bad, ['apps/podinfo', 'apps/base/podinfo']);
    expect(later.map((c) => c.sha)).toEqual([fix]);
    expect(later[0]).toMatchObject({ subject: 'podinfo 1.1: fix forward', authorName: 'Alice' });
  });

  it('stops the push when a person pushes a fix between building the revert and pushing it', async () => {
    const bad = sha(
      repo.commit('podinfo broken', { [PODINFO]: deployment('podinfo', 'ghcr.io/x/podinfo:broken') }),
    );
    const paths = ['apps/podinfo', 'apps/base/podinfo'];
    let fix = '';
    let builds = 0;
    const outcome = await pushRevertDirect({
      workspace: ws,
      remoteUrl: repo.remote,
      branch: 'main',
      incidentId: INCIDENT,
      buildRevert: async (worktree) => {
        builds++;
        // The worst moment: the revert is built on the old head while the person pushes.
        if (fix === '')
          fix = repo.commit('podinfo 1.1', { [PODINFO]: deployment('podinfo', 'ghcr.io/x/podinfo:1.1') });
        return buildRevert(worktree, {
          commits: [commitOf(bad, good, 'podinfo broken')],
          incidentId: INCIDENT,
          failingApps: ['flux-system/podinfo'],
          failingPaths: paths,
          otherAppsPaths: [],
          good,
          rewindAuthor: REWIND,
        });
      },
      fixForward: (r, head) => laterChanges(r, bad, head, paths, REWIND),
    });
    expect(builds).toBe(1);
    expect(outcome).toMatchObject({ kind: 'superseded' });
    expect(outcome.kind === 'superseded' && outcome.commits.map((c) => c.sha)).toEqual([fix]);
    // The remote has the person's fix on top, and no Rewind commit.
    repo.git('fetch', '--quiet', 'origin');
    expect(repo.git('rev-parse', 'origin/main')).toBe(fix);
    expect(repo.git('log', '--format=%B', 'origin/main')).not.toContain('Rewind-Incident');
  });

  it('a push on a reused fetch still yields to a fix pushed after that fetch: the remote refuses it, the retry sees the fix', async () => {
    const bad = sha(
      repo.commit('podinfo broken', { [PODINFO]: deployment('podinfo', 'ghcr.io/x/podinfo:broken') }),
    );
    const paths = ['apps/podinfo', 'apps/base/podinfo'];
    const commands: string[] = [];
    const observed = new GitWorkspace({
      root: `${repo.root}/observed`,
      author: REWIND,
      allowedProtocols: ['file'],
      observer: (e) => commands.push(e.command),
    });
    const git = new RollbackGit(observed, REWIND);
    // The check before acting fetches; the person pushes right after it.
    expect(await git.laterChanges(repo.remote, 'main', bad, paths)).toEqual([]);
    const fix = repo.commit('podinfo 1.1', { [PODINFO]: deployment('podinfo', 'ghcr.io/x/podinfo:1.1') });
    commands.length = 0;
    const outcome = await git.revertAndPush({
      url: repo.remote,
      branch: 'main',
      bad,
      dryRun: false,
      incidentId: INCIDENT,
      commits: [commitOf(bad, good, 'podinfo broken')],
      failingApps: ['flux-system/podinfo'],
      failingPaths: paths,
      otherAppsPaths: [],
      good,
    });
    expect(outcome).toMatchObject({ kind: 'superseded' });
    expect(outcome.kind === 'superseded' && outcome.commits.map((c) => c.sha)).toEqual([fix]);
    // The first attempt used the earlier fetch and its push was refused; the second fetched.
    expect(commands.filter((c) => c === 'push')).toHaveLength(1);
    expect(commands.filter((c) => c === 'fetch')).toHaveLength(1);
    expect(repo.git('--git-dir', repo.remote, 'rev-parse', 'main')).toBe(fix);
  });

  it('refuses a revert commit that takes back lines the culprit did not write', async () => {
    const bad = sha(
      repo.commit('podinfo broken', { [PODINFO]: deployment('podinfo', 'ghcr.io/x/podinfo:broken') }),
    );
    const culprit = commitOf(bad, good, 'podinfo broken');
    const mirror = await ws.syncMirror(repo.remote);
    const result = await ws.withWorktree(mirror, bad, async (wt) => {
      const clean = await buildRevert(wt, {
        commits: [culprit],
        incidentId: INCIDENT,
        failingApps: ['p'],
        failingPaths: ['apps/base/podinfo'],
        otherAppsPaths: [],
        rewindAuthor: REWIND,
      });
      const cleanExceeds =
        'sha' in clean ? await revertExceedsCulprits(wt, clean.sha, [culprit], clean.paths) : ['?'];
      // A "revert" that also drops the frontend line nobody in the culprit wrote (worktrees have
      // no checkout: the commit is made in the index, on the clean revert).
      if ('sha' in clean) await wt.run(['update-ref', '--no-deref', 'HEAD', clean.sha]);
      await wt.run(['read-tree', 'HEAD']);
      await wt.run(['rm', '-q', '--cached', '--', 'apps/frontend/deployment.yaml']);
      await wt.run(['commit', '--quiet', '-m', 'over-reaching revert']);
      const over = await wt.head();
      return {
        clean,
        cleanExceeds,
        overExceeds: await revertExceedsCulprits(
          wt,
          over,
          [culprit],
          [PODINFO, 'apps/frontend/deployment.yaml'],
        ),
      };
    });
    expect(result.clean.kind).toBe('reverted');
    expect(result.cleanExceeds).toEqual([]);
    expect(result.overExceeds).toEqual(['apps/frontend/deployment.yaml']);
  });
});
