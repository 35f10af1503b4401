// With `forge.mergeMethod: squash`, the squash commit carried only the PR title,
// no trailer and the forge's author, and a later incident took Rewind's squashed revert for a
// culprit, putting the broken image back on main. Each test lands Rewind's revert one way (Rewind
// merging with each method, or a person at the merge button with GitHub's default messages), then
// starts a new incident on the same app whose range holds only that landed revert: what an incident
// sees when the broken revision had once been applied (flapping health). Rewind must not pick it.
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import type { CommitMessageSettings } from '../../src/sandbox/forge/server.ts';
import { silentLogger } from '../../src/logging.ts';
import { manualRollback } from '../../workers/manual-rollback.ts';
import { type Loop, startLoop } from '../helpers/loop.ts';
import { until } from '../helpers/wait.ts';

const BROKEN = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';
const GOOD_IMAGE = 'podinfo:6.5.0';
/** "Default to pull request title" with a blank body: the squash carries nothing but the PR title. */
const TITLE_ONLY: Partial<CommitMessageSettings> = {
  squashMergeCommitTitle: 'PR_TITLE',
  squashMergeCommitMessage: 'BLANK',
};

async function mainDeployment(loop: Loop): Promise<string> {
  await loop.fleet.work.fetch('origin');
  return loop.fleet.work.raw(['show', 'origin/main:apps/base/podinfo/deployment.yaml']);
}

async function messageOf(loop: Loop, sha: string): Promise<string> {
  await loop.fleet.work.fetch('origin');
  return loop.fleet.work.raw(['log', '-1', '--format=%B', sha]);
}

/**
 * A new incident on podinfo whose range is `bad..main`: only the landed revert touches the app in
 * it. Returns the incident; the image on main must still be the good one afterwards.
 */
async function laterIncident(loop: Loop, bad: string): Promise<IncidentRecord> {
  const lines: string[] = [];
  await manualRollback({
    config: loop.config,
    app: 'flux-system/podinfo',
    to: bad,
    dryRun: false,
    requestedBy: 'test',
    log: silentLogger(),
    progress: (line) => lines.push(line),
    env: loop.env,
  });
  const record = (await loop.runtime.incidents.list(20)).find((r) => r.details.trigger === 'manual');
  if (record === undefined) throw new Error(`no manual incident: ${lines.join('\n')}`);
  return record;
}

function expectNoRevertOfTheRevert(incident: IncidentRecord): void {
  expect(incident.conditions.at(-1)).toMatchObject({ type: 'NeedsHuman', reason: 'NoCandidate' });
  expect(incident.conditions.at(-1)?.message).toMatch(/Rewind's own/);
}

describe('Rewind never reverts its own revert, whatever the merge method', () => {
  let loop: Loop | undefined;
  afterEach(async () => {
    await loop?.stop();
    loop = undefined;
  });

  for (const method of ['merge', 'squash', 'rebase'] as const) {
    it(`Rewind merging with "${method}" writes its trailers on the landed commit, records it, and a later incident does not revert it`, async () => {
      loop = await startLoop({ forge: { mergeMethod: method, commitMessages: TITLE_ONLY } });
      const forge = loop.forge!;
      const bad = await loop.fleet.setPodinfoImage(BROKEN);
      loop.fleet.notifyPush();
      const first = await loop.finalIncident(bad);
      expect(first.conditions.at(-1)?.type).toBe('Converged');
      const pr = forge.state.pulls[0]!;
      expect(pr.merged).toBe(true);
      expect(forge.state.merges[0]?.method).toBe(method);
      expect(first.details.merge?.sha).toBe(pr.mergeCommitSha);
      // Whatever the method, the commit that landed says whose it is.
      const landed = await messageOf(loop, pr.mergeCommitSha!);
      expect(landed).toContain(`Rewind-Incident: ${first.id}`);
      expect(landed).toContain(`Reverts: ${bad}`);
      if (method !== 'rebase') expect(landed).toContain(`#${pr.number}`);
      expect(await mainDeployment(loop)).toContain(GOOD_IMAGE);

      const later = await laterIncident(loop, bad);
      expectNoRevertOfTheRevert(later);
      expect(await mainDeployment(loop)).toContain(GOOD_IMAGE);
      expect(await mainDeployment(loop)).not.toContain(BROKEN);
      expect(forge.state.pulls).toHaveLength(1);
    });
  }

  for (const settings of [
    { squashMergeCommitTitle: 'PR_TITLE', squashMergeCommitMessage: 'COMMIT_MESSAGES' },
    TITLE_ONLY,
  ] as const) {
    it(`a person squash-merging with GitHub's defaults (${settings.squashMergeCommitTitle} + ${settings.squashMergeCommitMessage}): a later incident does not revert it`, async () => {
      loop = await startLoop({
        forge: { pollInterval: '300ms', commitMessages: settings },
        policy: { mode: 'propose' },
      });
      const forge = loop.forge!;
      const bad = await loop.fleet.setPodinfoImage(BROKEN);
      loop.fleet.notifyPush();
      await until(async () => {
        const record = (await loop!.runtime.incidents.list(5)).find((r) => r.badRevision === bad);
        return record?.conditions.at(-1)?.type === 'PullRequestOpened';
      }, 'the pull request');
      const pr = forge.state.pulls[0]!;
      await forge.humanMerge(pr.number, 'alice', { method: 'squash' });
      const first = await loop.finalIncident(bad, 30_000);
      expect(first.conditions.at(-1)?.type).toBe('Converged');
      const landed = await messageOf(loop, pr.mergeCommitSha!);
      expect(landed.split('\n')[0]).toBe(`${pr.title} (#${pr.number})`);
      if (settings.squashMergeCommitMessage === 'BLANK') expect(landed).not.toContain('Rewind-Incident');
      expect(first.details.merge?.sha).toBe(pr.mergeCommitSha);

      // Redis forgets the recorded SHA: only the marks in Git are left to recognise the revert.
      await loop.flushPrefix();
      const later = await laterIncident(loop, bad);
      expectNoRevertOfTheRevert(later);
      expect(await mainDeployment(loop)).toContain(GOOD_IMAGE);
      expect(await mainDeployment(loop)).not.toContain(BROKEN);
    });
  }

  it("a person's merge commit with GitHub's default message: a later incident does not revert it", async () => {
    loop = await startLoop({ forge: { pollInterval: '300ms' }, policy: { mode: 'propose' } });
    const forge = loop.forge!;
    const bad = await loop.fleet.setPodinfoImage(BROKEN);
    loop.fleet.notifyPush();
    await until(async () => {
      const record = (await loop!.runtime.incidents.list(5)).find((r) => r.badRevision === bad);
      return record?.conditions.at(-1)?.type === 'PullRequestOpened';
    }, 'the pull request');
    const pr = forge.state.pulls[0]!;
    await forge.humanMerge(pr.number, 'alice', { method: 'merge' });
    const first = await loop.finalIncident(bad, 30_000);
    expect(first.conditions.at(-1)?.type).toBe('Converged');
    expect((await messageOf(loop, pr.mergeCommitSha!)).split('\n')[0]).toBe(
      `Merge pull request #${pr.number} from fleet-org/${pr.headRef}`,
    );
    await loop.flushPrefix();
    const later = await laterIncident(loop, bad);
    expectNoRevertOfTheRevert(later);
    expect(await mainDeployment(loop)).toContain(GOOD_IMAGE);
  });
});
