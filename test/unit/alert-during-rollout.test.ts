// An alert never makes a revision in flight the culprit: alerts arrive late (Prometheus' `for:`,
// Alertmanager's group_wait), and the revision Flux or Argo CD is rolling out when one lands may be
// a person's fix. Only a revision the engine itself reports failed is acted on.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { appRef } from '../../src/domain/app-ref.ts';
import { alertedFailure, LAST_HEALTHY_ANNOTATION } from '../../src/pipeline/detect.ts';
import { FIXTURES } from '../helpers/fixtures.ts';

const GOOD = 'd676e33990dc2865d67c022d26dea93d5e3236ff';
const BROKEN = '7ca2aaecb20927201120b33c3ad3f181294c5b98';
const FIX = '1f2e3d4c5b6a79880f1e2d3c4b5a69788f7e6d5c';
const ALERT = { reason: 'ReconciliationFailure', message: 'alertmanager alert: podinfo failing' };
const NOW = new Date('2026-12-01T10:00:00Z');

function fixture(name: string): any {
  const docs = parseAllDocuments(readFileSync(`${FIXTURES}/${name}`, 'utf8'))
    .map((d) => (Array.isArray(d) ? undefined : d.toJS()))
    .filter((d) => d !== null && d !== undefined);
  return structuredClone(docs[0]);
}

/** The real Kustomization, last healthy at GOOD, with the given revision attempted and Ready as given. */
function kustomization(attempted: string, ready: Record<string, string>): any {
  const ks = fixture('flux-kustomization-history-with-healthcheckfailed.flux-operator-view.yaml');
  ks.metadata.generation = 1;
  ks.metadata.annotations = { [LAST_HEALTHY_ANNOTATION]: `refs/heads/main@sha1:${GOOD}` };
  ks.status.lastAttemptedRevision = `refs/heads/main@sha1:${attempted}`;
  ks.status.lastAppliedRevision = `refs/heads/main@sha1:${GOOD}`;
  ks.status.conditions = [
    { type: 'Ready', observedGeneration: 1, lastTransitionTime: '2026-12-01T09:59:58Z', ...ready },
  ];
  return ks;
}

const app = appRef('flux-kustomization', 'flux-system', 'podinfo');

describe('an alert against the engine verdict', () => {
  it('is not acted on while the engine rolls out a newer revision (a fix forward in flight)', () => {
    const progressing = kustomization(FIX, {
      status: 'Unknown',
      reason: 'Progressing',
      message: 'Running health checks for revision main@sha1:1f2e3d4c with a timeout of 4s',
    });
    const outcome = alertedFailure(app, progressing, ALERT, NOW);
    expect(outcome).toMatchObject({ ignored: 'Progressing', revision: FIX });
    expect('message' in outcome && outcome.message).toContain('1f2e3d4c5b6a');
  });

  it('acts on the revision the engine reports failed, back to the last good one', () => {
    const failed = kustomization(BROKEN, {
      status: 'False',
      reason: 'HealthCheckFailed',
      message:
        "health check failed after 4s: timeout waiting for: [Deployment/default/podinfo status: 'InProgress']",
    });
    expect(alertedFailure(app, failed, ALERT, NOW)).toMatchObject({
      trigger: 'alert',
      badRevision: BROKEN,
      goodRevision: GOOD,
    });
  });

  it('is not acted on while an Argo CD Application is Progressing', () => {
    const application = fixture('argocd-application-degraded.yaml');
    application.status.health = { status: 'Progressing', message: 'Waiting for rollout to finish' };
    const outcome = alertedFailure(
      appRef('argo-application', 'argocd', application.metadata.name),
      application,
      ALERT,
      NOW,
    );
    expect(outcome).toMatchObject({ ignored: 'Progressing' });
  });
});
