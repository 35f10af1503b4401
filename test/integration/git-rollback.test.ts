import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCommitSha, type CommitSha } from '../../src/domain/commit-sha.ts';
import { NotAncestorError, ShaNotInHistoryError } from '../../src/domain/errors.ts';
import { findCulprit, type CandidateCommit } from '../../src/git/culprit.ts';
import { ClosureCache } from '../../src/git/closure-cache.ts';
import { pathClosure, unionPaths } from '../../src/git/path-closure.ts';
import { pushRevertDirect } from '../../src/git/push.ts';
import type { GitRepo } from '../../src/git/repo.ts';
import { buildRevert, type BuildRevertInput } from '../../src/git/revert.ts';
import { GitWorkspace, type Mirror } from '../../src/git/workspace.ts';
import { deployment, fluxLayout, gitdir, type GitDir } from '../helpers/gitdir.ts';

const REWIND = { name: 'Rewind', email: 'rewind@example.invalid' };
const INCIDENT = 'inc-ks.flux-system.podinfo-0123456789ab';
const sha = (s: string): CommitSha => parseCommitSha(s);

let repo: GitDir;
let ws: GitWorkspace;
let good: CommitSha;

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

async function closureOf(mirror: Mirror, at: CommitSha, appPath: string): Promise<string[]> {
  return [...(await pathClosure(mirror.repo, at, appPath)).paths];
}

async function locate(bad: CommitSha, changedValues?: string[]) {
  const mirror = await ws.syncMirror(repo.remote);
  const paths = unionPaths(
    await closureOf(mirror, good, 'apps/podinfo'),
    await closureOf(mirror, bad, 'apps/podinfo'),
  );
  const outcome = await findCulprit(mirror.repo, {
    good,
    bad,
    paths,
    rewindAuthor: REWIND,
    ...(changedValues === undefined ? {} : { changedValues }),
  });
  return { mirror, paths, outcome };
}

async function revertIn(
  mirror: Mirror,
  at: CommitSha,
  input: Omit<BuildRevertInput, 'incidentId' | 'failingApps'>,
) {
  return ws.withWorktree(mirror, at, async (wt) => {
    const outcome = await buildRevert(wt, {
      incidentId: INCIDENT,
      failingApps: ['flux-system/podinfo'],
      ...input,
    });
    const show = 'sha' in outcome ? await wt.text(['show', '--stat', '--format=%B', outcome.sha]) : '';
    const tip = 'sha' in outcome ? outcome.sha : at;
    const file = async (p: string) => (await wt.run(['show', `${tip}:${p}`], { okExitCodes: [128] })).stdout;
    return {
      outcome,
      show,
      podinfo: await file('apps/base/podinfo/deployment.yaml'),
      frontend: await file('apps/frontend/deployment.yaml'),
    };
  });
}

function commitsOf(outcome: Awaited<ReturnType<typeof locate>>['outcome']): CandidateCommit[] {
  if (outcome.kind !== 'found')
    throw new Error(`expected a culprit, got ${outcome.kind}: ${outcome.explanation}`);
  return [...outcome.commits];
}

describe('git rollback loop (real repositories)', () => {
  it('fetches only when a branch moved, appeared or went away (ls-remote first)', async () => {
    const commands: string[] = [];
    const observed = new GitWorkspace({
      root: `${repo.root}/ws-observed`,
      author: REWIND,
      allowedProtocols: ['file'],
      observer: (e) => commands.push(e.command),
    });
    const heads = async () =>
      (await (await observed.syncMirror(repo.remote)).repo.run(['for-each-ref', '--format=%(refname)']))
        .stdout;
    const fetchesDuring = async (change: () => void) => {
      change();
      commands.length = 0;
      const refs = await heads();
      return { fetches: commands.filter((c) => c === 'fetch').length, refs };
    };
    await heads();

    expect((await fetchesDuring(() => {})).fetches).toBe(0);
    const moved = await fetchesDuring(() =>
      repo.commit(
        'podinfo 1.1',
        fluxLayout({ podinfo: 'ghcr.io/x/podinfo:1.1', frontend: 'ghcr.io/x/fe:1.0' }),
      ),
    );
    expect(moved.fetches).toBe(1);
    const created = await fetchesDuring(() =>
      repo.git('push', '--quiet', 'origin', 'HEAD:refs/heads/feature'),
    );
    expect(created).toEqual({ fetches: 1, refs: 'refs/heads/feature\nrefs/heads/main\n' });
    const deleted = await fetchesDuring(() => repo.git('push', '--quiet', 'origin', ':refs/heads/feature'));
    expect(deleted).toEqual({ fetches: 1, refs: 'refs/heads/main\n' });
    expect((await fetchesDuring(() => {})).fetches).toBe(0);

    // Asking about main only: another branch moving needs no fetch; main moving does.
    const mainOnly = async (change: () => void) => {
      change();
      commands.length = 0;
      await observed.syncMirror(repo.remote, { branches: ['main'] });
      return commands.filter((c) => c === 'fetch').length;
    };
    expect(await mainOnly(() => repo.git('push', '--quiet', 'origin', 'HEAD:refs/heads/elsewhere'))).toBe(0);
    expect(
      await mainOnly(() =>
        repo.commit(
          'podinfo 1.2',
          fluxLayout({ podinfo: 'ghcr.io/x/podinfo:1.2', frontend: 'ghcr.io/x/fe:1.0' }),
        ),
      ),
    ).toBe(1);
    await expect(observed.syncMirror(repo.remote, { branches: ['--upload-pack=x'] })).rejects.toThrow(
      /branch/i,
    );
  });

  it('resolves the path closure from the commit, through bases and patches, ignoring remote URLs', async () => {
    const mirror = await ws.syncMirror(repo.remote);
    const closure = await pathClosure(mirror.repo, good, './apps/podinfo/');
    expect(closure.paths).toEqual(['apps/base/podinfo', 'apps/podinfo']);
    expect(closure.skipped).toEqual([
      expect.objectContaining({
        ref: 'https://github.com/example/remote//base?ref=v1',
        why: 'remote reference',
      }),
    ]);
    expect((await pathClosure(mirror.repo, good, 'apps/frontend')).paths).toEqual(['apps/frontend']);
  });

  it('computes the same closures once per commit for every app of a source (cache, batched reads)', async () => {
    const mirror = await ws.syncMirror(repo.remote);
    const cache = new ClosureCache();
    const apps = ['./apps/podinfo/', 'apps/frontend', 'apps/base/podinfo', 'missing/app'];
    const cached = await Promise.all(apps.map((p) => cache.closureOf(repo.remote, mirror.repo, good, p)));
    const direct = await Promise.all(apps.map(async (p) => (await pathClosure(mirror.repo, good, p)).paths));
    expect(cached).toEqual(direct);
    expect(cache.cached(repo.remote, good, 'apps/frontend')).toBeDefined();
    expect(cache.cached(repo.remote, good, 'apps/other')).toBeUndefined();
  });

  it('quotes a hostile subject and reason in the revert commit message inertly and without tokens', async () => {
    const token = `ghp_${'Qq12Ww34Ee56'.repeat(3)}`;
    repo.commit(`podinfo 2.0 [click](https://evil.example) @org/admins ${token}`, {
      'apps/base/podinfo/deployment.yaml': deployment('podinfo', 'ghcr.io/x/podinfo:2.0'),
    });
    const bad = sha(repo.head());
    const { mirror, paths, outcome } = await locate(bad);
    const result = await revertIn(mirror, bad, {
      commits: commitsOf(outcome),
      failingPaths: paths,
      otherAppsPaths: ['apps/frontend'],
      good,
      requestedBy: 'alice on Slack (Slack #ops): see ![x](https://evil.example/x.png) cc @org/admins',
    });
    expect(result.outcome.kind).toBe('reverted');
    expect(result.show).toMatch(/^Revert "podinfo 2\.0 /);
    expect(result.show).not.toContain(token);
    expect(result.show).toContain('\\[REDACTED\\]');
    // Links and images escaped, mentions in code spans: inert wherever GitHub renders the message.
    expect(result.show).not.toMatch(/(?<!\\)\[(click|x)\]/);
    expect(result.show).toContain('\\[click\\](https://evil.example)');
    expect(result.show.replaceAll('`@org/admins`', '')).not.toContain('@org/admins');
  });

  it('finds a single culprit through the base directory and reverts the whole commit', async () => {
    repo.commit('docs', { 'README.md': '# cluster\nmore\n' });
    const culprit = sha(
      repo.commit('podinfo 2.0', {
        'apps/base/podinfo/deployment.yaml': deployment('podinfo', 'ghcr.io/x/podinfo:2.0'),
      }),
    );
    repo.commit('frontend 1.1', {
      'apps/frontend/deployment.yaml': deployment('frontend', 'ghcr.io/x/fe:1.1'),
    });
    const bad = sha(repo.head());
    const { mirror, paths, outcome } = await locate(bad);
    expect(outcome).toMatchObject({ kind: 'found', rule: 'single-commit', confidence: 'high' });
    expect(commitsOf(outcome).map((c) => c.sha)).toEqual([culprit]);

    const result = await revertIn(mirror, bad, {
      commits: commitsOf(outcome),
      failingPaths: paths,
      otherAppsPaths: ['apps/frontend'],
      good,
    });
    expect(result.outcome.kind).toBe('reverted');
    expect(result.podinfo).toContain('podinfo:1.0');
    expect(result.frontend).toContain('fe:1.1');
    expect(result.show).toMatch(/^Revert "podinfo 2.0"/);
    expect(result.show).toContain(`Reverts: ${culprit}`);
    expect(result.show).toContain(`Rewind-Incident: ${INCIDENT}`);
  });

  it("reverts only the failing app's part of a commit that also touches a healthy app", async () => {
    const both = sha(
      repo.commit('bump everything', {
        'apps/base/podinfo/deployment.yaml': deployment('podinfo', 'ghcr.io/x/podinfo:2.0'),
        'apps/frontend/deployment.yaml': deployment('frontend', 'ghcr.io/x/fe:2.0'),
      }),
    );
    const { mirror, paths, outcome } = await locate(both);
    const result = await revertIn(mirror, both, {
      commits: commitsOf(outcome),
      failingPaths: paths,
      otherAppsPaths: ['apps/frontend'],
      good,
    });
    expect(result.outcome).toMatchObject({ kind: 'scoped', paths: ['apps/base/podinfo/deployment.yaml'] });
    expect(result.podinfo).toContain('podinfo:1.0');
    expect(result.frontend).toContain('fe:2.0');
  });

  it('uses the pickaxe to pick the commit that introduced the bad image among several', async () => {
    repo.commit('podinfo replicas', {
      'apps/podinfo/patch.yaml': 'kind: Deployment\nspec:\n  replicas: 3\n',
    });
    const culprit = sha(
      repo.commit('podinfo image', {
        'apps/base/podinfo/deployment.yaml': deployment('podinfo', 'ghcr.io/x/podinfo:2.0'),
      }),
    );
    repo.commit('podinfo labels', { 'apps/podinfo/extra.yaml': 'kind: ConfigMap\n' });
    const bad = sha(repo.head());
    const { outcome } = await locate(bad, ['ghcr.io/x/podinfo:2.0']);
    expect(outcome).toMatchObject({ kind: 'found', rule: 'pickaxe', confidence: 'high' });
    expect(commitsOf(outcome).map((c) => c.sha)).toEqual([culprit]);

    const fallback = await locate(bad, ['ghcr.io/x/never-there:9']);
    expect(fallback.outcome).toMatchObject({ kind: 'found', rule: 'range', confidence: 'low' });
    expect(commitsOf(fallback.outcome)).toHaveLength(3);
    expect(commitsOf(fallback.outcome)[0]?.sha).toBe(bad); // newest first
  });

  it('reverts the whole range when the pickaxe commit sits on an earlier bad one (stacked failures)', async () => {
    // podinfo 1.0 (good) -> 2.0-broken -> 3.0-broken: the bad template's image came from the last
    // commit, but reverting only that one would bring back 2.0-broken, not the last-good 1.0.
    const first = sha(
      repo.commit('podinfo 2.0', {
        'apps/base/podinfo/deployment.yaml': deployment('podinfo', 'ghcr.io/x/podinfo:2.0-broken'),
      }),
    );
    const second = sha(
      repo.commit('podinfo 3.0', {
        'apps/base/podinfo/deployment.yaml': deployment('podinfo', 'ghcr.io/x/podinfo:3.0-broken'),
      }),
    );
    const mirror = await ws.syncMirror(repo.remote);
    const paths = await closureOf(mirror, second, 'apps/podinfo');
    const stacked = await findCulprit(mirror.repo, {
      good,
      bad: second,
      paths,
      rewindAuthor: REWIND,
      changedValues: ['ghcr.io/x/podinfo:3.0-broken', '3.0-broken'],
      restoredValues: ['1.0'],
    });
    expect(stacked).toMatchObject({ kind: 'found', rule: 'range' });
    expect(commitsOf(stacked).map((c) => c.sha)).toEqual([second, first]);

    // With only one bad commit on top of the good one, the pickaxe still decides.
    const single = await findCulprit(mirror.repo, {
      good: first,
      bad: second,
      paths,
      rewindAuthor: REWIND,
      changedValues: ['ghcr.io/x/podinfo:3.0-broken'],
      restoredValues: ['2.0-broken'],
    });
    expect(single).toMatchObject({ kind: 'found', rule: 'single-commit' });
  });

  it("never treats Rewind's own commits as culprits", async () => {
    repo.commit('Revert "something"\n\nRewind-Incident: inc-ks.flux-system.podinfo-aaaaaaaaaaaa', {
      'apps/base/podinfo/deployment.yaml': deployment('podinfo', 'ghcr.io/x/podinfo:0.9'),
    });
    const byAuthor = sha(repo.commit('tidy', { 'apps/podinfo/patch.yaml': 'kind: Deployment\n' }, REWIND));
    const { outcome } = await locate(byAuthor);
    expect(outcome.kind).toBe('no-candidate');
    if (outcome.kind === 'no-candidate') {
      expect(outcome.skippedOwn).toHaveLength(2);
      expect(outcome.explanation).toMatch(/never reverts its own commits/);
    }
  });

  it("treats the merge of Rewind's revert pull request as Rewind's own (no revert of a revert)", async () => {
    repo.git('checkout', '--quiet', '-b', 'rewind/flux-system/podinfo/aaaaaaaaaaaa');
    repo.commit('Revert "podinfo 1.1"\n\nRewind-Incident: inc-ks.flux-system.podinfo-aaaaaaaaaaaa', {
      'apps/base/podinfo/deployment.yaml': deployment('podinfo', 'ghcr.io/x/podinfo:0.9'),
    });
    repo.git('checkout', '--quiet', 'main');
    repo.git('reset', '--quiet', '--hard', good);
    const merge = sha(
      repo.merge(
        'rewind/flux-system/podinfo/aaaaaaaaaaaa',
        'Merge pull request #8 from org/rewind/flux-system/podinfo/aaaaaaaaaaaa',
      ),
    );
    const { outcome } = await locate(merge);
    expect(outcome.kind).toBe('no-candidate');
  });

  it('knows a squashed revert of its pull request by title and pure-revert diff, but not a forged title', async () => {
    const PERSON = { name: 'Mallory', email: 'mallory@example.com' };
    const path = 'apps/base/podinfo/deployment.yaml';
    repo.commit('podinfo 1.1', { [path]: deployment('podinfo', 'ghcr.io/x/podinfo:1.1') });
    const broken = sha(
      repo.commit('podinfo 2.0-broken', { [path]: deployment('podinfo', 'ghcr.io/x/podinfo:2.0-broken') }),
    );
    // GitHub's squash with "Default to PR title" and a blank body: no trailer, the merger's author.
    const squashed = sha(
      repo.commit(
        'Revert "podinfo 2.0-broken" (rewind: flux-system/podinfo) (#4)',
        { [path]: deployment('podinfo', 'ghcr.io/x/podinfo:1.1') },
        { name: 'alice', email: '3+alice@users.noreply.github.com' },
      ),
    );
    const own = await findCulprit((await ws.syncMirror(repo.remote)).repo, {
      good: broken,
      bad: squashed,
      paths: ['apps/base/podinfo'],
      rewindAuthor: REWIND,
    });
    expect(own.kind).toBe('no-candidate');

    // The same title on a change that reverts nothing stays a candidate.
    const forged = sha(
      repo.commit(
        'Revert "podinfo 1.1" (rewind: flux-system/podinfo) (#5)',
        {
          [path]: deployment('podinfo', 'ghcr.io/x/podinfo:6.6.6-evil'),
        },
        PERSON,
      ),
    );
    const outcome = await findCulprit((await ws.syncMirror(repo.remote)).repo, {
      good: squashed,
      bad: forged,
      paths: ['apps/base/podinfo'],
      rewindAuthor: REWIND,
    });
    expect(outcome.kind).toBe('found');
    if (outcome.kind === 'found') expect(outcome.commits.map((c) => c.sha)).toEqual([forged]);
  });

  it('reverts a merge commit against its first parent', async () => {
    repo.git('checkout', '--quiet', '-b', 'feature');
    repo.commit('feature: podinfo 2.0', {
      'apps/base/podinfo/deployment.yaml': deployment('podinfo', 'ghcr.io/x/podinfo:2.0'),
    });
    repo.git('checkout', '--quiet', 'main');
    repo.git('reset', '--quiet', '--hard', good);
    const merge = sha(repo.merge('feature', 'Merge pull request #7 from feature'));
    const { mirror, paths, outcome } = await locate(merge);
    const [culprit] = commitsOf(outcome);
    expect(culprit?.sha).toBe(merge);
    expect(culprit?.mainline).toBe(1);
    const result = await revertIn(mirror, merge, {
      commits: commitsOf(outcome),
      failingPaths: paths,
      otherAppsPaths: [],
      good,
    });
    expect(result.outcome.kind).toBe('reverted');
    expect(result.podinfo).toContain('podinfo:1.0');
  });

  it('never restores the good revision over a later commit by someone else: the conflict needs a person', async () => {
    const culprit = sha(
      repo.commit('podinfo 2.0', {
        'apps/base/podinfo/deployment.yaml': deployment('podinfo', 'ghcr.io/x/podinfo:2.0'),
      }),
    );
    // A later commit edits the same line and adds a file: reverting the culprit alone conflicts.
    const bad = sha(
      repo.commit('podinfo 2.1', {
        'apps/base/podinfo/deployment.yaml': deployment('podinfo', 'ghcr.io/x/podinfo:2.1'),
      }),
    );
    const { mirror, paths } = await locate(bad);
    const commit: CandidateCommit = {
      sha: culprit,
      parents: [good],
      subject: 'podinfo 2.0',
      authorName: 'Dev',
      authorEmail: 'dev@example.com',
      committedAt: '',
    };
    const restored = await revertIn(mirror, bad, {
      commits: [commit],
      failingPaths: paths,
      otherAppsPaths: [],
      good,
    });
    // Restoring podinfo 1.0 would discard "podinfo 2.1", which is not the culprit (people come first).
    expect(restored.outcome).toMatchObject({ kind: 'needs-human' });
    expect('message' in restored.outcome && restored.outcome.message).toContain(bad.slice(0, 7));
    expect(restored.podinfo).toContain('podinfo:2.1');

    const human = await revertIn(mirror, bad, { commits: [commit], failingPaths: paths, otherAppsPaths: [] });
    expect(human.outcome).toMatchObject({
      kind: 'needs-human',
      conflicts: ['apps/base/podinfo/deployment.yaml'],
    });
  });

  it('reverting a file the culprits added deletes it (newest first, no restore needed)', async () => {
    const culprit = sha(
      repo.commit('add hpa', { 'apps/podinfo/hpa.yaml': 'kind: HorizontalPodAutoscaler\nv: 1\n' }),
    );
    const bad = sha(
      repo.commit('tune hpa', { 'apps/podinfo/hpa.yaml': 'kind: HorizontalPodAutoscaler\nv: 2\n' }),
    );
    const { mirror, paths } = await locate(bad);
    const commit: CandidateCommit = {
      sha: culprit,
      parents: [good],
      subject: 'add hpa',
      authorName: 'Dev',
      authorEmail: 'd',
      committedAt: '',
    };
    const tune: CandidateCommit = { ...commit, sha: bad, parents: [culprit], subject: 'tune hpa' };
    const result = await ws.withWorktree(mirror, bad, async (wt: GitRepo) => {
      const outcome = await buildRevert(wt, {
        commits: [tune, commit],
        incidentId: INCIDENT,
        failingApps: ['p'],
        failingPaths: paths,
        otherAppsPaths: [],
        good,
      });
      const tip = 'sha' in outcome ? outcome.sha : bad;
      return { outcome, type: await wt.objectType(tip, 'apps/podinfo/hpa.yaml') };
    });
    expect(result.outcome.kind).toBe('reverted');
    expect(result.type).toBeUndefined();
  });

  it('says clearly when a SHA is not in history or good is not an ancestor of bad', async () => {
    const mirror = await ws.syncMirror(repo.remote);
    const missing = sha('0123456789abcdef0123456789abcdef01234567');
    await expect(
      findCulprit(mirror.repo, { good, bad: missing, paths: ['apps/podinfo'], rewindAuthor: REWIND }),
    ).rejects.toThrow(ShaNotInHistoryError);
    await expect(
      findCulprit(mirror.repo, { good: missing, bad: good, paths: ['apps/podinfo'], rewindAuthor: REWIND }),
    ).rejects.toThrow(/SHA not in history/);
    const later = sha(repo.commit('later', { 'apps/podinfo/x.yaml': 'x\n' }));
    await ws.syncMirror(repo.remote);
    await expect(
      findCulprit(mirror.repo, { good: later, bad: good, paths: ['apps/podinfo'], rewindAuthor: REWIND }),
    ).rejects.toThrow(NotAncestorError);
  });

  it('pushes the revert once: a retry finds it by its incident trailer', async () => {
    const culprit = sha(
      repo.commit('podinfo 2.0', {
        'apps/base/podinfo/deployment.yaml': deployment('podinfo', 'ghcr.io/x/podinfo:2.0'),
      }),
    );
    const { paths, outcome } = await locate(culprit);
    const push = () =>
      pushRevertDirect({
        workspace: ws,
        remoteUrl: repo.remote,
        branch: 'main',
        incidentId: INCIDENT,
        buildRevert: (wt) =>
          buildRevert(wt, {
            commits: commitsOf(outcome),
            incidentId: INCIDENT,
            failingApps: ['p'],
            failingPaths: paths,
            otherAppsPaths: [],
            good,
          }),
      });
    const first = await push();
    expect(first).toMatchObject({ kind: 'pushed', attempts: 1 });
    const second = await push();
    expect(second).toEqual({ kind: 'already-pushed', sha: 'sha' in first ? first.sha : '' });
    const log = repo.git('--git-dir', repo.remote, 'log', '--format=%s', 'main');
    expect(log.split('\n').filter((s) => s.startsWith('Revert'))).toEqual(['Revert "podinfo 2.0"']);
  });

  it('rebuilds on the new head when someone pushes first (never forces)', async () => {
    const culprit = sha(
      repo.commit('podinfo 2.0', {
        'apps/base/podinfo/deployment.yaml': deployment('podinfo', 'ghcr.io/x/podinfo:2.0'),
      }),
    );
    const { paths, outcome } = await locate(culprit);
    let builds = 0;
    const heads: string[] = [];
    const result = await pushRevertDirect({
      workspace: ws,
      remoteUrl: repo.remote,
      branch: 'main',
      incidentId: INCIDENT,
      buildRevert: async (wt, head) => {
        builds++;
        heads.push(head);
        // A human pushes between our fetch and our push, on the first attempt only.
        if (builds === 1)
          repo.commit('frontend 1.2', {
            'apps/frontend/deployment.yaml': deployment('frontend', 'ghcr.io/x/fe:1.2'),
          });
        return buildRevert(wt, {
          commits: commitsOf(outcome),
          incidentId: INCIDENT,
          failingApps: ['p'],
          failingPaths: paths,
          otherAppsPaths: [],
          good,
        });
      },
    });
    expect(result).toMatchObject({ kind: 'pushed', attempts: 2 });
    expect(heads[1]).not.toBe(heads[0]);
    const log = repo.git('--git-dir', repo.remote, 'log', '--format=%s', 'main').split('\n');
    expect(log.slice(0, 2)).toEqual(['Revert "podinfo 2.0"', 'frontend 1.2']);
  });
});
