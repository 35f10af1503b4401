import { describe, expect, it } from 'vitest';
import { argoApplicationEngine, assessApplication } from '../../src/engines/argo-application.ts';

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
    app.status.conditions = [{ type: 'ComparisonError', message: RENDER_ERROR }];
    expect(failedBeforeApply(app, BAD)).toBe(true);
    expect(failedBeforeApply(app, GOOD)).toBe(false);
    app.status.conditions = [];
    expect(failedBeforeApply(app, BAD)).toBe(false);
  });

  it('is a render error at the branch (Argo names no commit), for any revision it never synced', () => {
    const app = renderFailed();
    expect(failedBeforeApply(app, BAD)).toBe(true);
    expect(failedBeforeApply(app, GOOD)).toBe(false);
  });
});

/** Argo CD's message for a kustomization naming a file that does not exist (state.go, repo-server). */
const RENDER_ERROR =
  "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = `kustomize build <path to cached source>/apps/web` failed exit status 1: Error: accumulating resources: accumulation err='accumulating resources from 'missing.yaml': open <path to cached source>/apps/web/missing.yaml: no such file or directory'";

/**
 * An Application at GOOD (synced and healthy) whose branch moved to a commit Argo cannot render:
 * what the controller writes (controller/state.go CompareAppState with failedToLoadObjs).
 */
function renderFailed(message = RENDER_ERROR, type = 'ComparisonError'): any {
  return {
    metadata: { name: 'web', namespace: 'argocd' },
    spec: { source: { repoURL: 'file:///fleet', path: 'apps/web', targetRevision: 'main' } },
    status: {
      sync: { status: 'Unknown', revision: 'main', comparedTo: { source: { targetRevision: 'main' } } },
      health: { status: 'Healthy' },
      history: [{ id: 1, revision: GOOD }],
      reconciledAt: '2026-01-01T00:01:00Z',
      conditions: [{ type, message, lastTransitionTime: '2026-01-01T00:00:30Z' }],
      operationState: {
        phase: 'Succeeded',
        startedAt: '2026-01-01T00:00:00Z',
        finishedAt: '2026-01-01T00:00:01Z',
        syncResult: { revision: GOOD, resources: [{ status: 'Synced' }] },
      },
    },
  };
}

describe('Argo CD Application conditions', () => {
  it('a render error is a failure at the branch Argo was asked for, since the condition appeared', () => {
    const verdict = assessApplication(renderFailed());
    expect(verdict).toMatchObject({
      state: 'failed',
      reason: 'ComparisonError',
      unresolvedRevision: 'main',
      since: '2026-01-01T00:00:30Z',
      message: RENDER_ERROR,
    });
    expect(verdict.badRevision).toBeUndefined();
    // The last sync's revision is not the one that failed.
    expect(argoApplicationEngine.attemptedRevision(renderFailed() as never)).toBeUndefined();
    expect(argoApplicationEngine.appliedRevision(renderFailed() as never)?.sha).toBe(GOOD);
  });

  it('a render error at a commit (a comparison with the recent revision) names it', () => {
    const app = renderFailed();
    app.status.sync.revision = BAD;
    expect(assessApplication(app)).toMatchObject({ state: 'failed', badRevision: { sha: BAD } });
    // A commit that rendered before: the repository or repo-server is what fails now.
    app.status.sync.revision = GOOD;
    expect(assessApplication(app).state).not.toBe('failed');
  });

  it('comparison errors that are not the revision, and InvalidSpecError, are not failures', () => {
    for (const message of [
      'Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = failed to initialize repository resources: rpc error: code = Internal desc = Failed to fetch default: `git fetch origin --tags --force --prune` failed exit status 128: fatal: could not read Username',
      'Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unavailable desc = connection error',
      'Failed to load live state: failed to get cluster info',
      'Failed to compare desired state to live state: failed to calculate diff',
    ]) {
      expect(assessApplication(renderFailed(message)), message).toMatchObject({
        state: 'unknown',
        reason: 'ComparisonError',
      });
    }
    expect(
      assessApplication(
        renderFailed('application destination {https://x shop} is not permitted', 'InvalidSpecError'),
      ),
    ).toMatchObject({ state: 'unknown', reason: 'InvalidSpecError' });
  });

  it('warnings leave the verdict to health and sync', () => {
    for (const type of [
      'SharedResourceWarning',
      'RepeatedResourceWarning',
      'ExcludedResourceWarning',
      'OrphanedResourceWarning',
    ]) {
      const app = renderFailed('Deployment/web is part of applications argocd/web and other', type);
      app.status.sync = { status: 'Synced', revision: GOOD };
      expect(assessApplication(app), type).toMatchObject({ state: 'healthy' });
    }
  });

  it('a SyncError of a failed automated sync attempt is a failure of that commit', () => {
    const app = renderFailed(
      `Failed sync attempt to ${BAD}: one or more objects failed to apply (dry run)`,
      'SyncError',
    );
    app.status.sync = { status: 'OutOfSync', revision: BAD };
    expect(assessApplication(app)).toMatchObject({
      state: 'failed',
      reason: 'SyncError',
      badRevision: { sha: BAD },
    });
    const guard = renderFailed(
      `Skipping sync attempt to ${BAD}: auto-sync will wipe out all resources`,
      'SyncError',
    );
    guard.status.sync = { status: 'OutOfSync', revision: BAD };
    expect(assessApplication(guard).state).not.toBe('failed');
  });
});
