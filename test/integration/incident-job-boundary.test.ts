// Whatever stops a rollback ends its incident, at once and with what to fix: a refusal that no retry
// can get past (here, a GitRepository tracking a branch name git refuses) ends the queue job after
// one attempt and the incident NeedsHuman with the refusal's message, both for the worker's job and
// for `rewind rollback` run in a terminal (which used to stay `Located` forever).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRef } from '../../src/domain/app-ref.ts';
import { parseCommitSha } from '../../src/domain/commit-sha.ts';
import { incidentIdFor, isTerminal } from '../../src/domain/incident.ts';
import { silentLogger } from '../../src/logging.ts';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import { jobOptions, QUEUE_NAMES, rollbackJobId } from '../../src/queue/jobs.ts';
import { EVENT, GIT_REPOSITORY } from '../../src/sandbox/resources.ts';
import { manualRollback } from '../../workers/manual-rollback.ts';
import { type Loop, startLoop } from '../helpers/loop.ts';
import { until } from '../helpers/wait.ts';

const BROKEN = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';
const BAD_BRANCH = 'main..x';

describe('a non-retryable error ends the incident at once, with its message', () => {
  let loop: Loop;
  let good: string;
  let bad: string;

  beforeAll(async () => {
    // Only the rollback worker: no detector, so the only incidents are the ones these tests start.
    loop = await startLoop({ roles: ['rollback'] });
    const { fleet, sandbox } = loop;
    good = await fleet.head();
    bad = await fleet.setPodinfoImage(BROKEN);
    fleet.notifyPush();
    await until(
      () =>
        (
          sandbox.store.get(GIT_REPOSITORY, fleet.namespace, 'fleet')?.status?.artifact?.revision as
            string | undefined
        )?.endsWith(bad) === true,
      'the GitRepository to fetch the bad commit',
      30_000,
    );
    // A branch name `git check-ref-format` refuses: the push step can never succeed.
    sandbox.store.mutate(GIT_REPOSITORY, fleet.namespace, 'fleet', (repo) => {
      repo.spec = { ...repo.spec, ref: { branch: BAD_BRANCH } };
    });
  }, 90_000);

  afterAll(async () => {
    await loop?.stop();
  }, 60_000);

  async function incident(id: string): Promise<IncidentRecord | undefined> {
    return loop.runtime.incidents.get(id);
  }

  /** The outcome Event of `incidentId` on the Kustomization (`kubectl describe` shows it). */
  async function outcomeEvent(incidentId: string): Promise<Record<string, unknown>> {
    const find = () =>
      loop.sandbox.store
        .list(EVENT, { namespace: loop.fleet.namespace, fieldSelector: 'involvedObject.name=podinfo' })
        .find((e) => String(e['message']).includes(incidentId));
    await until(() => find() !== undefined, `the outcome Event of ${incidentId}`, 10_000);
    return find()!;
  }

  it('rollback job: one attempt, then NeedsHuman with the refusal (not Failed "after repeated errors")', async () => {
    const app = appRef('flux-kustomization', 'flux-system', 'podinfo');
    const incidentId = incidentIdFor(app, parseCommitSha(bad));
    const job = await loop.runtime.rollbackQueue.add(
      QUEUE_NAMES.rollback,
      {
        incidentId,
        app,
        badRevision: bad,
        goodRevision: good,
        trigger: 'engine',
        reason: 'HealthCheckFailed',
        message: 'test',
        detectedAt: new Date().toISOString(),
        manual: true,
        dryRun: false,
      },
      jobOptions(rollbackJobId(incidentId)),
    );
    await until(async () => (await job.getState()) === 'failed', 'the job to fail', 60_000, 50);
    const failed = await loop.runtime.rollbackQueue.getJob(job.id!);
    expect(failed?.attemptsMade).toBe(1);
    expect(failed?.failedReason).toContain('Invalid branch name');
    await until(
      async () => isTerminal((await incident(incidentId))?.conditions.at(-1)?.type ?? 'Detected'),
      'the incident to end',
      10_000,
    );
    const last = (await incident(incidentId))!.conditions.at(-1);
    expect(last, JSON.stringify(last)).toMatchObject({
      type: 'NeedsHuman',
      reason: 'InvalidInput',
      message: expect.stringContaining(`Invalid branch name "${BAD_BRANCH}"`),
    });
    expect(await outcomeEvent(incidentId)).toMatchObject({ type: 'Warning', reason: 'RollbackNeedsHuman' });
  }, 90_000);

  it('rewind rollback: the refused run ends its incident NeedsHuman instead of leaving it Located', async () => {
    const lines: string[] = [];
    await expect(
      manualRollback({
        config: loop.config,
        app: 'flux-system/podinfo',
        to: good,
        dryRun: false,
        requestedBy: 'test',
        log: silentLogger(),
        progress: (line) => lines.push(line),
        env: loop.env,
      }),
    ).rejects.toThrow(/Invalid branch name/);
    const manual = (await loop.runtime.incidents.list(20)).find((r) => r.details.trigger === 'manual');
    // Refused by name before any git call, so it never gets as far as Located.
    expect(manual?.conditions.map((c) => c.type)).toEqual(['Detected', 'NeedsHuman']);
    expect(manual?.conditions.at(-1)).toMatchObject({
      reason: 'InvalidInput',
      message: expect.stringContaining('Invalid branch name'),
    });
    // The person sees how it ended, and so does `kubectl describe`.
    expect(lines.join('\n')).toMatch(/NeedsHuman\s+InvalidInput/);
    expect(await outcomeEvent(manual!.id)).toMatchObject({ type: 'Warning', reason: 'RollbackNeedsHuman' });
  }, 90_000);
});
