// The outcome comment on a revert pull request is posted once, also when several posters reach it at
// the same moment: a verify job whose lock lapsed on a starved event loop runs again in another
// worker while the first run still posts, and GitHub does not deduplicate comments.
import { randomUUID } from 'node:crypto';
import { Octokit } from '@octokit/rest';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { localRedisUrl } from '../../src/demo/redis.ts';
import { appRef } from '../../src/domain/app-ref.ts';
import { pullRequestTexts } from '../../src/forge/texts.ts';
import { GitHubForge } from '../../src/forge/github.ts';
import { silentLogger } from '../../src/logging.ts';
import { incidentRecordFor } from '../../src/pipeline/incident-from-job.ts';
import type { ForgeDeps } from '../../src/pipeline/pull-request.ts';
import { redisLock } from '../../src/queue/lock.ts';
import { startSandboxForge } from '../../src/sandbox/forge/server.ts';
import { resultPoster } from '../../workers/runtime.ts';
import { gitdir } from '../helpers/gitdir.ts';

const POSTERS = 8;
const BAD = 'a'.repeat(40);

describe('the result comment', () => {
  const connections: Redis[] = [];
  const connect = (): Redis => {
    const c = new Redis(localRedisUrl());
    connections.push(c);
    return c;
  };
  afterAll(() => connections.forEach((c) => c.disconnect()));

  it(`is posted once when ${POSTERS} posters, each with its own client, reach it at the same moment`, async () => {
    const dir = gitdir();
    dir.commit('initial', { 'apps/podinfo/deployment.yaml': 'image: podinfo:6.4.0\n' });
    const token = `ghs_${randomUUID().replace(/-/g, '')}${randomUUID().replace(/-/g, '')}`;
    const sandbox = await startSandboxForge({ repoDir: dir.remote, owner: 'acme', repo: 'fleet', token });
    const prefix = `rewind-test-result-comment-${randomUUID()}`;
    try {
      const octokit = new Octokit({ auth: token, baseUrl: sandbox.url });
      const issue = (await octokit.rest.issues.create({ owner: 'acme', repo: 'fleet', title: 'revert' }))
        .data;
      const incidentId = `inc-ks.flux-system.podinfo-${BAD.slice(0, 12)}`;
      const base = incidentRecordFor(
        {
          incidentId,
          app: appRef('flux-kustomization', 'flux-system', 'podinfo'),
          badRevision: BAD,
          trigger: 'engine',
          reason: 'HealthCheckFailed',
          message: 'health check failed',
          detectedAt: new Date().toISOString(),
          manual: false,
          dryRun: false,
        },
        new Date(),
      );
      const record = {
        ...base,
        details: {
          ...base.details,
          source: { url: dir.remote, branch: 'main' },
          pr: { number: issue.number, url: issue.html_url, branch: 'rewind/ks/podinfo/aaaaaaaaaaaa' },
        },
      };
      // One poster per process: each its own forge client and its own Redis connection.
      const posters = Array.from({ length: POSTERS }, () => {
        const forge = new GitHubForge({
          baseUrl: sandbox.url,
          owner: 'acme',
          repo: 'fleet',
          auth: { type: 'token', token },
          log: silentLogger(),
          userAgent: 'rewind-test',
          minWriteGapMs: 0,
        });
        const deps: ForgeDeps = {
          forge,
          texts: pullRequestTexts,
          mergeMethod: 'merge',
          labels: [],
          teamReviewers: [],
          log: silentLogger(),
        };
        return resultPoster(() => deps, redisLock(connect(), prefix, { leaseMs: 10_000 }))!;
      });
      await Promise.all(posters.map((post) => post(record, { outcome: 'converged', warnings: [] })));
      const results = sandbox.state.comments.filter((c) =>
        c.body.includes(`rewind:result incident=${incidentId}`),
      );
      expect(results).toHaveLength(1);
    } finally {
      await sandbox.stop();
      dir.cleanup();
    }
  });
});
