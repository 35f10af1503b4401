import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { assessHelmRelease } from '../../src/engines/flux-helmrelease.ts';
import {
  assessKustomization,
  fluxKustomizationEngine,
  sourceOf,
} from '../../src/engines/flux-kustomization.ts';
import { FIXTURES } from '../helpers/fixtures.ts';

/** First non-empty document of a fixture (files have comment headers, some several documents). */
function fixture(name: string): any {
  const docs = parseAllDocuments(readFileSync(`${FIXTURES}/${name}`, 'utf8'))
    .map((d) => (Array.isArray(d) ? undefined : d.toJS()))
    .filter((d) => d !== null && d !== undefined);
  if (docs[0] === undefined) throw new Error(`no document in ${name}`);
  return structuredClone(docs[0]);
}

const GOOD = 'd676e33990dc2865d67c022d26dea93d5e3236ff';
const BAD = '7ca2aaecb20927201120b33c3ad3f181294c5b98';

/** The real Kustomization fixture, turned into the state Flux leaves after a failed health check. */
function healthCheckFailed(): any {
  const ks = fixture('flux-kustomization-history-with-healthcheckfailed.flux-operator-view.yaml');
  ks.metadata.generation = 1;
  ks.status.lastAttemptedRevision = `refs/heads/main@sha1:${BAD}`;
  ks.status.conditions = [
    {
      type: 'Ready',
      status: 'False',
      reason: 'HealthCheckFailed',
      observedGeneration: 1,
      lastTransitionTime: '2025-11-11T14:15:40Z',
      message:
        "health check failed after 6m0.068181246s: timeout waiting for: [Deployment/apps/podinfo status: 'InProgress']",
    },
    { type: 'Healthy', status: 'False', reason: 'HealthCheckFailed', observedGeneration: 1, message: 'x' },
  ];
  return ks;
}

describe('Flux Kustomization assessment', () => {
  it('reads the healthy fixture as healthy with its applied revision as good', () => {
    const verdict = assessKustomization(
      fixture('flux-kustomization-history-with-healthcheckfailed.flux-operator-view.yaml'),
    );
    expect(verdict.state).toBe('healthy');
    expect(verdict.reason).toBe('ReconciliationSucceeded');
    expect(verdict.goodRevision?.sha).toBe(GOOD);
    expect(verdict.goodRevision?.ref).toBe('refs/heads/main');
    expect(verdict.fresh).toBe(true);
  });

  it('fails on HealthCheckFailed: bad = lastAttemptedRevision, good = lastAppliedRevision', () => {
    const verdict = assessKustomization(healthCheckFailed());
    expect(verdict).toMatchObject({
      state: 'failed',
      reason: 'HealthCheckFailed',
      since: '2025-11-11T14:15:40Z',
    });
    expect(verdict.badRevision?.sha).toBe(BAD);
    expect(verdict.goodRevision?.sha).toBe(GOOD);
    expect(verdict.message).toMatch(/Deployment\/apps\/podinfo/);
  });

  it.each(['ReconciliationFailed', 'BuildFailed', 'PruneFailed'])('fails on Ready=False %s', (reason) => {
    const ks = healthCheckFailed();
    ks.status.conditions = [{ type: 'Ready', status: 'False', reason, message: 'm', observedGeneration: 1 }];
    expect(assessKustomization(ks).state).toBe('failed');
  });

  it('fails while Flux retries (Reconciling=True ProgressingWithRetry) if Ready is still False', () => {
    const ks = healthCheckFailed();
    ks.status.conditions.push({
      type: 'Reconciling',
      status: 'True',
      reason: 'ProgressingWithRetry',
      message: 'r',
    });
    expect(assessKustomization(ks).state).toBe('failed');
  });

  it('is progressing while a reconcile runs', () => {
    const ks = healthCheckFailed();
    ks.status.conditions = [
      { type: 'Ready', status: 'Unknown', reason: 'Progressing', message: 'Reconciliation in progress' },
      {
        type: 'Reconciling',
        status: 'True',
        reason: 'Progressing',
        message: `Running health checks for revision main@sha1:${BAD} with a timeout of 6m`,
      },
    ];
    const verdict = assessKustomization(ks);
    expect(verdict.state).toBe('progressing');
    expect(verdict.message).toMatch(/Running health checks/);
  });

  it('treats status of an older generation as unknown', () => {
    const ks = healthCheckFailed();
    ks.metadata.generation = 2;
    const verdict = assessKustomization(ks);
    expect(verdict).toMatchObject({ state: 'unknown', reason: 'StaleStatus', fresh: false });
  });

  it('reports suspended objects as suspended', () => {
    const ks = healthCheckFailed();
    ks.spec.suspend = true;
    expect(assessKustomization(ks).state).toBe('suspended');
  });

  it('does not call a failure at the applied revision a known-good range', () => {
    const ks = healthCheckFailed();
    ks.status.lastAttemptedRevision = ks.status.lastAppliedRevision;
    const verdict = assessKustomization(ks);
    expect(verdict.state).toBe('failed');
    expect(verdict.badRevision?.sha).toBe(GOOD);
    expect(verdict.goodRevision).toBeUndefined();
  });

  it('does not treat DependencyNotReady as a broken revision', () => {
    const ks = healthCheckFailed();
    ks.status.conditions = [{ type: 'Ready', status: 'False', reason: 'DependencyNotReady', message: 'dep' }];
    expect(assessKustomization(ks).state).toBe('unknown');
  });

  it('accepts legacy revisions and rejects non-objects', () => {
    const ks = healthCheckFailed();
    ks.status.lastAttemptedRevision = `main/${BAD}`;
    expect(assessKustomization(ks).badRevision?.sha).toBe(BAD);
    expect(assessKustomization('nope')).toMatchObject({ state: 'unknown', reason: 'InvalidObject' });
  });

  it('tells a revision that failed before it was applied (build, validation, apply errors) from one that failed its health checks', () => {
    const buildFailed = (): any => {
      const ks = healthCheckFailed();
      ks.status.conditions = [
        {
          type: 'Ready',
          status: 'False',
          reason: 'BuildFailed',
          observedGeneration: 1,
          message: "kustomize build failed: accumulating resources: 'apps/missing.yaml' does not exist",
        },
      ];
      return ks;
    };
    const failedBeforeApply = (object: unknown, revision: string): boolean =>
      fluxKustomizationEngine.failedBeforeApply(object as never, revision);
    expect(failedBeforeApply(buildFailed(), BAD)).toBe(true);
    expect(failedBeforeApply(buildFailed(), GOOD)).toBe(false);
    expect(failedBeforeApply(healthCheckFailed(), BAD)).toBe(false);
    // Failing at the revision Flux last applied: that revision did reach the cluster.
    const atApplied = buildFailed();
    atApplied.status.lastAppliedRevision = atApplied.status.lastAttemptedRevision;
    expect(failedBeforeApply(atApplied, BAD)).toBe(false);
  });

  it('gives its source and normalised path', () => {
    const ks = fixture('flux-kustomization-history-with-healthcheckfailed.flux-operator-view.yaml');
    expect(sourceOf(ks)).toEqual({
      sourceRef: { kind: 'GitRepository', name: 'flux-system', namespace: 'flux-system' },
      path: 'infra',
    });
    ks.spec.path = './apps/podinfo/';
    expect(sourceOf(ks)?.path).toBe('apps/podinfo');
  });
});

describe('Flux HelmRelease assessment', () => {
  it('fails after a remediated upgrade (Ready=False RollbackSucceeded) and names the upgrade failure', () => {
    const hr = fixture('flux-helmrelease-upgrade-failed-rollback-remediated.yaml');
    hr.metadata = {
      name: 'podinfo',
      namespace: 'default',
      generation: 14,
      labels: {
        'kustomize.toolkit.fluxcd.io/name': 'apps',
        'kustomize.toolkit.fluxcd.io/namespace': 'flux-system',
      },
    };
    const verdict = assessHelmRelease(hr);
    expect(verdict.state).toBe('failed');
    expect(verdict.reason).toBe('UpgradeFailed');
    expect(verdict.message).toMatch(/context deadline exceeded/);
    expect(verdict.owner).toEqual({ kind: 'Kustomization', namespace: 'flux-system', name: 'apps' });
    expect(verdict.badRevision).toBeUndefined();
  });

  it('reads the healthy fixture as healthy', () => {
    const hr = fixture('flux-helmrelease-history-failed-then-deployed.flux-operator-view.yaml');
    const verdict = assessHelmRelease(hr);
    expect(verdict.state).toBe('healthy');
    expect(verdict.owner).toBeUndefined();
  });

  it.each(['InstallFailed', 'RetriesExceeded', 'UpgradeFailed'])('fails on Ready=False %s', (reason) => {
    const hr = {
      metadata: { name: 'x' },
      status: { conditions: [{ type: 'Ready', status: 'False', reason }] },
    };
    expect(assessHelmRelease(hr).state).toBe('failed');
  });

  it('fails when stalled with RetriesExceeded', () => {
    const hr = {
      metadata: { name: 'x' },
      status: {
        conditions: [
          { type: 'Ready', status: 'False', reason: 'ArtifactFailed', message: 'a' },
          {
            type: 'Stalled',
            status: 'True',
            reason: 'RetriesExceeded',
            message: 'Failed to upgrade after 3 attempt(s)',
          },
        ],
      },
    };
    expect(assessHelmRelease(hr)).toMatchObject({ state: 'failed', reason: 'RetriesExceeded' });
  });

  it('is suspended or stale like a Kustomization', () => {
    expect(assessHelmRelease({ metadata: { name: 'x' }, spec: { suspend: true } }).state).toBe('suspended');
    const stale = {
      metadata: { name: 'x', generation: 3 },
      status: { observedGeneration: 2, conditions: [] },
    };
    expect(assessHelmRelease(stale).state).toBe('unknown');
  });
});
