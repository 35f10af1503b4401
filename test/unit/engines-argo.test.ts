import { describe, expect, it } from 'vitest';
import { argoApplicationEngine } from '../../src/engines/argo-application.ts';

const GOOD = 'a'.repeat(40);
const BAD = 'b'.repeat(40);

/** An Application whose last sync, to BAD, ended `phase` with these resource results. */
function syncEnded(phase: string, resources: { status: string }[]): any {
  return {
    metadata: { name: 'web', namespace: 'argocd' },
    spec: { source: { repoURL: 'file:///fleet', path: 'apps/web', targetRevision: 'main' } },
    status: {
      sync: { status: 'OutOfSync', revision: BAD },
      health: { status: 'Healthy' },
      history: [{ id: 1, revision: GOOD }],
      operationState: {
        phase,
        message: 'one or more synchronization tasks are not valid',
        syncResult: { revision: BAD, resources },
      },
    },
  };
}

const failedBeforeApply = (object: unknown, revision: string): boolean =>
  argoApplicationEngine.failedBeforeApply(object as never, revision);

describe('Argo CD Application: a revision that failed before it was applied', () => {
  it('is a sync that ended Failed/Error without writing an object, at a revision never synced', () => {
    expect(failedBeforeApply(syncEnded('Failed', [{ status: 'SyncFailed' }]), BAD)).toBe(true);
    expect(failedBeforeApply(syncEnded('Error', []), BAD)).toBe(true);
    expect(failedBeforeApply(syncEnded('Failed', [{ status: 'SyncFailed' }]), GOOD)).toBe(false);
  });

  it('is not a sync that wrote some objects, one that succeeded, or a revision once synced', () => {
    expect(
      failedBeforeApply(syncEnded('Failed', [{ status: 'Synced' }, { status: 'SyncFailed' }]), BAD),
    ).toBe(false);
    expect(failedBeforeApply(syncEnded('Succeeded', [{ status: 'Synced' }]), BAD)).toBe(false);
    const resynced = syncEnded('Error', []);
    resynced.status.history.push({ id: 2, revision: BAD });
    expect(failedBeforeApply(resynced, BAD)).toBe(false);
  });

  it('is a ComparisonError (manifests could not be generated) at the compared revision', () => {
    const app = syncEnded('Succeeded', []);
    delete app.status.operationState;
    app.status.sync.status = 'Unknown';
    app.status.conditions = [{ type: 'ComparisonError', message: 'kustomize build failed' }];
    expect(failedBeforeApply(app, BAD)).toBe(true);
    expect(failedBeforeApply(app, GOOD)).toBe(false);
    app.status.conditions = [];
    expect(failedBeforeApply(app, BAD)).toBe(false);
  });
});
