import { describe, expect, it } from 'vitest';
import { pausedOutcome } from '../../src/pipeline/verify.ts';

const deployment = (paused: boolean | undefined, managedFields?: unknown[]): any => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop', ...(managedFields ? { managedFields } : {}) },
  spec: { replicas: 2, ...(paused === undefined ? {} : { paused }) },
});

describe('verification of a paused Deployment', () => {
  it('needs a person: names the Deployment, the field manager that paused it and how to resume', () => {
    const outcome = pausedOutcome([
      deployment(true, [
        { manager: 'argocd-controller', operation: 'Update', fieldsV1: { 'f:spec': { 'f:replicas': {} } } },
        { manager: 'kubectl-rollout', operation: 'Update', fieldsV1: { 'f:spec': { 'f:paused': {} } } },
      ]),
    ]);
    expect(outcome).toMatchObject({ state: 'needs-human', reason: 'DeploymentPaused' });
    expect(outcome!.message).toBe(
      'Deployment shop/web is paused (spec.paused: true, set by field manager "kubectl-rollout"), so it will not roll out the revert; resume it with "kubectl rollout resume deployment/web -n shop".',
    );
  });

  it('says the manager is unknown without managedFields', () => {
    expect(pausedOutcome([deployment(true)])!.message).toContain('set by an unknown manager');
  });

  it('is nothing when no Deployment is paused', () => {
    expect(pausedOutcome([deployment(false), deployment(undefined)])).toBeUndefined();
  });
});
