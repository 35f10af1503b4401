// The detector on an engine failure that names a ref, not a commit (Argo CD cannot render the
// branch): the incident's bad revision is the ref's head the detector read from Git.
import { describe, expect, it } from 'vitest';
import { type AppSnapshot, LAST_HEALTHY_ANNOTATION, failureSignal } from '../../src/pipeline/detect.ts';
import type { CommitSha } from '../../src/domain/commit-sha.ts';

const GOOD = 'a'.repeat(40) as CommitSha;
const HEAD = 'c'.repeat(40) as CommitSha;
const options = { restartThreshold: 3, now: new Date('2026-01-01T00:02:00Z') };

function snapshot(refHead?: CommitSha): AppSnapshot {
  return {
    app: { engine: 'argo-application', namespace: 'argocd', name: 'web' },
    object: {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: 'web', namespace: 'argocd', annotations: { [LAST_HEALTHY_ANNOTATION]: GOOD } },
      spec: { source: { repoURL: 'file:///fleet', path: 'apps/web', targetRevision: 'main' } },
      status: {
        sync: { status: 'Unknown', revision: 'main' },
        health: { status: 'Healthy' },
        history: [{ id: 1, revision: GOOD }],
        conditions: [
          {
            type: 'ComparisonError',
            message:
              'Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = accumulating resources: missing.yaml: no such file or directory',
            lastTransitionTime: '2026-01-01T00:01:00Z',
          },
        ],
      },
    },
    workloads: [],
    ...(refHead ? { refHead } : {}),
  };
}

describe('detection of a failure at a ref the engine did not resolve', () => {
  it('takes the head the detector read as the bad revision, the last healthy one as good', () => {
    expect(failureSignal(snapshot(HEAD), options)).toMatchObject({
      trigger: 'engine',
      badRevision: HEAD,
      goodRevision: GOOD,
      reason: 'ComparisonError',
      since: '2026-01-01T00:01:00Z',
    });
  });

  it('opens nothing without the head, or when the head is the revision last seen healthy', () => {
    expect(failureSignal(snapshot(), options)).toBeUndefined();
    expect(failureSignal(snapshot(GOOD), options)).toBeUndefined();
  });
});
