// The fault campaign's counters, on real repositories: each one sees the defect it is there for
// (a campaign whose counters cannot fail would report zeros whatever Rewind does).
import { afterEach, describe, expect, it } from 'vitest';
import {
  isRewindCommit,
  mainHistory,
  personOverwritten,
  revertsOfReverts,
  rewindChanges,
} from '../../bench/lib/end-state.ts';
import { type GitDir, deployment, gitdir } from '../helpers/gitdir.ts';

const FILE = 'apps/podinfo/deployment.yaml';
const REWIND = { name: 'Rewind', email: 'rewind@example.invalid' };
const FORGE_BOT = { name: 'GitHub', email: 'noreply@github.com' };
const ALICE = { name: 'Alice', email: 'alice@example.com' };
const image = (tag: string) => ({ [FILE]: deployment('podinfo', `ghcr.io/podinfo:${tag}`) });

describe('fault campaign counters', () => {
  let repo: GitDir | undefined;
  afterEach(() => repo?.cleanup());

  it("counts a squashed revert (no trailer, the forge's author) as Rewind's, and its revert that puts the broken image back as a revert of a revert", async () => {
    repo = gitdir();
    repo.commit('good', image('1.0.0'), ALICE);
    const bad = repo.commit('bad', image('1.1.0-broken'), ALICE);
    const squash = repo.commit(`Revert "bad" (#1)`, image('1.0.0'), FORGE_BOT);
    // The defect this guards against: Rewind took its own squash as the culprit and reverted it.
    repo.commit(
      `Revert "Revert \\"bad\\" (#1)"\n\nThis reverts commit ${squash}.\n\nRewind-Incident: i-2`,
      image('1.1.0-broken'),
      REWIND,
    );
    const marks = { authorEmail: REWIND.email, pullNumbers: [1] };
    const history = await mainHistory(repo.remote);
    expect(history.filter((c) => isRewindCommit(c, marks)).map((c) => c.message.split('\n')[0])).toEqual([
      'Revert "Revert \\"bad\\" (#1)"',
      'Revert "bad" (#1)',
    ]);
    expect(history.some((c) => c.sha === bad && isRewindCommit(c, marks))).toBe(false);
    expect(await revertsOfReverts(repo.remote, history, marks, '-broken', ['apps/'])).toHaveLength(1);
    // Without knowing the PR number, the squash is not Rewind's, but the broken image coming back still counts.
    expect(
      await revertsOfReverts(repo.remote, history, { authorEmail: REWIND.email }, '-broken', ['apps/']),
    ).toHaveLength(1);
  });

  it('counts a Rewind commit whose Reverts: trailer names a Rewind commit, and none for a plain revert', async () => {
    repo = gitdir();
    repo.commit('good', image('1.0.0'), ALICE);
    const bad = repo.commit('bad', image('1.1.0-broken'), ALICE);
    const revert = repo.commit(
      `Revert "bad"\n\nReverts: ${bad}\nRewind-Incident: i-1`,
      image('1.0.0'),
      REWIND,
    );
    const marks = { authorEmail: REWIND.email };
    let history = await mainHistory(repo.remote);
    expect(rewindChanges(history, marks)).toHaveLength(1);
    expect(await revertsOfReverts(repo.remote, history, marks, '-broken', ['apps/'])).toEqual([]);
    repo.commit(
      `Revert "Revert"\n\nReverts: ${revert.slice(0, 12)}\nRewind-Incident: i-2`,
      image('1.0.1'),
      REWIND,
    );
    history = await mainHistory(repo.remote);
    expect(await revertsOfReverts(repo.remote, history, marks, '-broken', ['apps/'])).toHaveLength(1);
  });

  it("sees a person's fix overwritten by a Rewind restore, and not when Rewind left it alone", async () => {
    repo = gitdir();
    repo.commit('good', image('1.0.0'), ALICE);
    repo.commit('bad', image('1.1.0-broken'), ALICE);
    const fix = repo.commit('fix forward', image('1.1.1'), ALICE);
    const marks = { authorEmail: REWIND.email };
    const person = { sha: fix, file: FILE, line: 'image: ghcr.io/podinfo:1.1.1' };
    expect(await personOverwritten(repo.remote, await mainHistory(repo.remote), marks, person)).toBe(false);
    // The defect this guards against: "restored ... to the last good revision" over the fix.
    repo.commit('Reverting conflicted; restored\n\nRewind-Incident: i-1', image('1.0.0'), REWIND);
    expect(await personOverwritten(repo.remote, await mainHistory(repo.remote), marks, person)).toBe(true);
  });
});
