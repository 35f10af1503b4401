import { readFileSync } from 'node:fs';
import type { V1Deployment, V1ReplicaSet } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  activeReplicaSet,
  lastGoodTemplateCandidates,
  rolledBackFrom,
  rolloutHistory,
  type DeploymentLike,
  type ReplicaSetLike,
} from '../../src/cluster/rollout-history.ts';
import { convergenceVerdict, rolloutStatus } from '../../src/cluster/rollout-verdict.ts';
import { templateDiff, templatesEqual, type PodTemplate } from '../../src/cluster/template.ts';
import { FIXTURES } from '../helpers/fixtures.ts';

function fixture(name: string): any[] {
  return parseAllDocuments(readFileSync(`${FIXTURES}/${name}`, 'utf8'))
    .map((doc) => doc.toJS())
    .filter((doc) => doc !== null);
}

const helloWorld = fixture('k8s-replicasets-rollout-hello-world.yaml');
// kubectl-driven set: RS 6b9d85fbd6 (trimmed upstream), RS 7ff854f459 (revision 3, history "1"), Deployment.
const [kubectlOldRs, kubectlReusedRs, kubectlDeploy] = helloWorld.slice(0, 3);
// Flux-driven set: nginx 1.19.2 (revision 1, scaled to 0) -> 1.19.3 (revision 2), Deployment complete.
const [fluxRs1, fluxRs2, fluxDeploy] = helloWorld.slice(3, 6);
const [deadlineExceeded] = fixture('k8s-deployment-progress-deadline-exceeded.yaml');
const [progressing] = fixture('k8s-deployment-progressing.yaml');

// --- synthetic objects -------------------------------------------------------------------------------

const DEPLOY_UID = 'deploy-uid';

function template(image: string, hash?: string, extra: Record<string, string> = {}): PodTemplate {
  return {
    metadata: { labels: { app: 'web', ...(hash ? { 'pod-template-hash': hash } : {}), ...extra } },
    spec: {
      containers: [{ name: 'app', image, ports: [{ containerPort: 8080, protocol: 'TCP' }] }],
      restartPolicy: 'Always',
    },
  };
}

interface RsOptions {
  revision: number;
  history?: string;
  created: string;
  replicas?: number;
  available?: number;
}

function rs(hash: string, image: string, o: RsOptions): ReplicaSetLike {
  const annotations: Record<string, string> = { 'deployment.kubernetes.io/revision': String(o.revision) };
  if (o.history) annotations['deployment.kubernetes.io/revision-history'] = o.history;
  const replicas = o.replicas ?? 0;
  return {
    metadata: {
      name: `web-${hash}`,
      uid: `uid-${hash}`,
      creationTimestamp: o.created,
      annotations,
      ownerReferences: [{ kind: 'Deployment', name: 'web', uid: DEPLOY_UID, controller: true }],
    },
    spec: { replicas, template: template(image, hash) },
    status: { replicas, readyReplicas: o.available ?? replicas, availableReplicas: o.available ?? replicas },
  };
}

interface DeployOptions {
  revision: number;
  replicas?: number;
  generation?: number;
  observedGeneration?: number;
  updated?: number;
  available?: number;
  total?: number;
  progressing?: { status: string; reason: string; message: string };
}

function deploy(image: string, o: DeployOptions): DeploymentLike {
  const replicas = o.replicas ?? 3;
  return {
    metadata: {
      name: 'web',
      uid: DEPLOY_UID,
      generation: o.generation ?? 5,
      annotations: { 'deployment.kubernetes.io/revision': String(o.revision) },
    },
    spec: { replicas, template: template(image) },
    status: {
      observedGeneration: o.observedGeneration ?? o.generation ?? 5,
      replicas: o.total ?? replicas,
      updatedReplicas: o.updated ?? replicas,
      readyReplicas: o.available ?? replicas,
      availableReplicas: o.available ?? replicas,
      conditions: [
        { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', ...o.progressing },
      ],
    },
  };
}

const GOOD = 'ghcr.io/acme/web:1.4.0';
const BAD = 'ghcr.io/acme/web:1.5.0';
const INCIDENT = '2024-05-01T12:00:00Z';

// ------------------------------------------------------------------------------------------------------

describe('templatesEqual', () => {
  it('ignores pod-template-hash, key order, null creationTimestamp and a Date from client-node', () => {
    const a = template(GOOD, 'abc123');
    const b: PodTemplate = {
      spec: {
        restartPolicy: 'Always',
        containers: [{ ports: [{ protocol: 'TCP', containerPort: 8080 }], image: GOOD, name: 'app' }],
      },
      metadata: { creationTimestamp: new Date(0), labels: { app: 'web' } },
    };
    expect(templatesEqual(a, b)).toBe(true);
    expect(
      templatesEqual(a, { ...template(GOOD), metadata: { labels: { app: 'web' }, creationTimestamp: null } }),
    ).toBe(true);
  });

  it('does not ignore any other label, annotation or field', () => {
    expect(templatesEqual(template(GOOD), template(BAD))).toBe(false);
    expect(templatesEqual(template(GOOD), template(GOOD, undefined, { team: 'a' }))).toBe(false);
    const restarted = template(GOOD);
    restarted.metadata = {
      ...restarted.metadata,
      annotations: { 'kubectl.kubernetes.io/restartedAt': 'now' },
    };
    expect(templatesEqual(template(GOOD), restarted)).toBe(false);
  });

  it('matches the real fixtures once the image is the same', () => {
    expect(templatesEqual(kubectlReusedRs.spec.template, kubectlDeploy.spec.template)).toBe(false);
    const sameImage = structuredClone(kubectlReusedRs.spec.template);
    sameImage.spec.containers[0].image = 'nginx:1.19.2-alpine';
    expect(templatesEqual(sameImage, kubectlDeploy.spec.template)).toBe(true);
  });
});

describe('templateDiff', () => {
  it('names the image change and offers the new reference and tag as search terms', () => {
    const diff = templateDiff(kubectlReusedRs.spec.template, kubectlDeploy.spec.template);
    expect(diff.changes).toEqual(['hello-world: nginx:1.19.3-alpine -> nginx:1.19.2-alpine']);
    expect(diff.changedValues).toEqual(['nginx:1.19.2-alpine', '1.19.2-alpine']);
  });

  it('reports env, args, resources, labels and annotations, ignoring pod-template-hash', () => {
    const good: any = template(GOOD, 'aaa');
    good.spec.containers[0].env = [
      { name: 'MODE', value: 'safe' },
      { name: 'KEEP', value: '1' },
    ];
    good.spec.containers[0].args = ['--port=8080'];
    good.spec.containers[0].resources = { limits: { memory: '256Mi' } };
    const bad: any = template('ghcr.io/acme/web@sha256:beef', 'bbb', { tier: 'edge' });
    bad.metadata.annotations = { 'checksum/config': 'c0ffee' };
    bad.spec.containers[0].env = [
      { name: 'KEEP', value: '1' },
      { name: 'MODE', value: 'fast' },
    ];
    bad.spec.containers[0].args = ['--port=8080', '--unsafe'];
    bad.spec.containers[0].resources = { limits: { memory: '128Mi' } };
    bad.spec.containers.push({ name: 'proxy', image: 'envoy:v1' });
    const diff = templateDiff(good, bad);
    expect(diff.changes).toEqual([
      'app: ghcr.io/acme/web:1.4.0 -> ghcr.io/acme/web@sha256:beef',
      'app args: ["--port=8080"] -> ["--port=8080","--unsafe"]',
      'app env[MODE].value: safe -> fast',
      'app resources.limits.memory: 256Mi -> 128Mi',
      'container proxy added (envoy:v1)',
      'label tier: (none) -> edge',
      'annotation checksum/config: (none) -> c0ffee',
    ]);
    expect(diff.changedValues).toEqual([
      'ghcr.io/acme/web@sha256:beef',
      'sha256:beef',
      '--unsafe',
      'fast',
      '128Mi',
      'envoy:v1',
      'edge',
      'c0ffee',
    ]);
    expect(templateDiff(good, good)).toEqual({ changes: [], changedValues: [], restoredValues: [] });
  });
});

describe('rolloutHistory and activeReplicaSet on real ReplicaSets', () => {
  it('lists a reused ReplicaSet with its old revision numbers', () => {
    const history = rolloutHistory(kubectlDeploy, [kubectlReusedRs, kubectlOldRs]);
    expect(history.map((e) => [e.revision, e.rsName])).toEqual([
      [0, 'hello-world-6b9d85fbd6'], // upstream trimmed its annotations
      [3, 'hello-world-7ff854f459'],
    ]);
    expect(history[1]).toMatchObject({
      revisionHistory: [1],
      uid: 'a031073d-040f-4800-aeb7-cc198183b479',
      images: ['nginx:1.19.3-alpine'],
      replicas: { desired: 0, current: 1, ready: 1, available: 1 },
      createdAt: new Date('2020-11-24T18:06:07Z'),
    });
  });

  it('finds the ReplicaSet serving the current template, ignoring other Deployments’ ReplicaSets', () => {
    const all = [fluxRs1, fluxRs2, kubectlReusedRs];
    expect(activeReplicaSet(fluxDeploy, all)?.metadata.name).toBe('hello-world-f77b4f6c8');
    expect(rolloutHistory(fluxDeploy, all).map((e) => e.revision)).toEqual([1, 2]);
    // The kubectl export caught the Deployment before the controller reused a ReplicaSet.
    expect(activeReplicaSet(kubectlDeploy, [kubectlOldRs, kubectlReusedRs])).toBeUndefined();
  });

  it('picks the oldest ReplicaSet when several carry the template, as the controller does', () => {
    const older = rs('old1', GOOD, { revision: 1, created: '2024-01-01T00:00:00Z' });
    const newer = rs('new1', GOOD, { revision: 3, created: '2024-03-01T00:00:00Z' });
    expect(activeReplicaSet(deploy(GOOD, { revision: 3 }), [newer, older])).toBe(older);
  });

  it('offers last-good candidates newest first, excluding the bad template and later ReplicaSets', () => {
    const replicaSets = [
      rs('v1', 'web:1', { revision: 1, created: '2024-01-01T00:00:00Z' }),
      rs('v2', 'web:2', { revision: 4, history: '2', created: '2024-02-01T00:00:00Z', replicas: 3 }),
      rs('v3', BAD, { revision: 3, created: '2024-03-01T00:00:00Z' }),
      rs('v4', 'web:4', { revision: 5, created: '2024-06-01T00:00:00Z' }),
    ];
    const candidates = lastGoodTemplateCandidates(deploy(BAD, { revision: 5 }), replicaSets, {
      before: INCIDENT,
    });
    expect(candidates.map((c) => c.rsName)).toEqual(['web-v2', 'web-v1']);
  });

  it('survives a trimmed history (revisionHistoryLimit) with gaps in the numbers', () => {
    const replicaSets = [
      rs('c', BAD, { revision: 9, created: '2024-04-30T00:00:00Z', replicas: 3 }),
      rs('b', GOOD, { revision: 7, history: '2,5', created: '2024-01-01T00:00:00Z' }),
    ];
    const history = rolloutHistory(deploy(BAD, { revision: 9 }), replicaSets);
    expect(history.map((e) => [e.revision, e.revisionHistory])).toEqual([
      [7, [2, 5]],
      [9, []],
    ]);
    expect(lastGoodTemplateCandidates(deploy(BAD, { revision: 9 }), replicaSets)[0]?.rsName).toBe('web-b');
  });

  it('accepts @kubernetes/client-node objects as they are', () => {
    const typed: V1Deployment = {
      metadata: { name: 'web', creationTimestamp: new Date() },
      spec: fluxDeploy.spec,
    };
    const typedRs: V1ReplicaSet = {
      metadata: { name: 'rs', creationTimestamp: new Date() },
      spec: fluxRs2.spec,
    };
    expect(activeReplicaSet(typed, [typedRs])).toBe(typedRs);
  });
});

describe('rolledBackFrom', () => {
  const good = (revision: number, replicas = 0) =>
    rs('g', GOOD, {
      revision,
      created: '2024-04-01T00:00:00Z',
      replicas,
      ...(revision > 1 ? { history: '1' } : {}),
    });
  const bad = (replicas: number) => rs('b', BAD, { revision: 2, created: '2024-05-01T11:58:00Z', replicas });

  it('is the ReplicaSet a revert moved the Deployment away from, the old one reused', () => {
    expect(
      rolledBackFrom(deploy(GOOD, { revision: 3 }), [good(3, 3), bad(0)], INCIDENT)?.metadata?.name,
    ).toBe('web-b');
  });

  it('is nothing on an ordinary roll-forward, nor for ReplicaSets created after the incident started', () => {
    expect(rolledBackFrom(deploy(BAD, { revision: 2 }), [good(1), bad(3)], INCIDENT)).toBeUndefined();
    expect(
      rolledBackFrom(deploy(GOOD, { revision: 3 }), [good(3, 3), bad(0)], '2024-05-01T11:00:00Z'),
    ).toBeUndefined();
  });
});

describe('rolloutStatus (kubectl rollout status messages)', () => {
  it('reads the real fixtures like kubectl', () => {
    expect(rolloutStatus(fluxDeploy)).toEqual({
      state: 'done',
      message: 'deployment "hello-world" successfully rolled out',
    });
    expect(rolloutStatus(kubectlDeploy)).toEqual({
      state: 'waiting',
      message: 'Waiting for deployment spec update to be observed...',
    });
    expect(rolloutStatus(deadlineExceeded)).toEqual({
      state: 'error',
      message: 'deployment "guestbook-ui" exceeded its progress deadline',
    });
    expect(rolloutStatus(progressing)).toEqual({
      state: 'waiting',
      message:
        'Waiting for deployment "guestbook-ui" rollout to finish: 1 old replicas are pending termination...',
    });
  });

  it('reports updated, available and revision mismatches', () => {
    expect(rolloutStatus(deploy(GOOD, { revision: 2, updated: 1 })).message).toBe(
      'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
    );
    expect(rolloutStatus(deploy(GOOD, { revision: 2, available: 2 })).message).toBe(
      'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...',
    );
    expect(rolloutStatus(deploy(GOOD, { revision: 2 }), 3)).toEqual({
      state: 'error',
      message: 'desired revision (3) is different from the running revision (2)',
    });
  });
});

describe('convergenceVerdict', () => {
  const good = template(GOOD);
  const bad = template(BAD);
  // v1 (good) revision 1 -> v2 (bad) 2 -> undo: v1 3 -> v2 again 4 -> revert in Git: v1 reused as 5.
  const reusedGood = rs('good', GOOD, {
    revision: 5,
    history: '1,3',
    created: '2024-04-01T00:00:00Z',
    replicas: 3,
  });
  const badRs = rs('bad', BAD, { revision: 4, history: '2', created: '2024-04-02T00:00:00Z' });

  it('converges when the controller reused and renumbered the last-good ReplicaSet (revision-history 1,3)', () => {
    const verdict = convergenceVerdict({
      deployment: deploy(GOOD, { revision: 5 }),
      replicaSets: [badRs, reusedGood],
      lastGoodTemplate: good,
      badTemplate: bad,
      incidentStartedAt: INCIDENT,
    });
    expect(verdict.state).toBe('converged');
    expect(verdict.warnings).toEqual([]);
    expect(verdict.replicaSet).toBe('web-good');
    expect(verdict.reasons.join('\n')).toContain(
      'reused the last-good ReplicaSet "web-good" (revision 5, previously 1,3)',
    );
    expect(verdict.reasons.join('\n')).toContain('bad ReplicaSet "web-bad" scaled to 0');
  });

  it('converges on the real Flux rollout when its current ReplicaSet predates the incident', () => {
    const input = { deployment: fluxDeploy, replicaSets: [fluxRs1, fluxRs2] };
    const verdict = convergenceVerdict({
      ...input,
      lastGoodTemplate: fluxRs2.spec.template,
      badTemplate: fluxRs1.spec.template,
      incidentStartedAt: '2020-12-03T18:00:00Z',
    });
    expect(verdict.state).toBe('converged');
    const stillBad = convergenceVerdict({
      ...input,
      lastGoodTemplate: fluxRs1.spec.template,
      badTemplate: fluxRs2.spec.template,
      incidentStartedAt: '2020-12-03T18:00:00Z',
    });
    expect(stillBad.state).toBe('progressing');
    expect(stillBad.reasons[0]).toContain('still runs the bad template');
  });

  it('accepts a recorded uid as proof of reuse even when clocks disagree', () => {
    const verdict = convergenceVerdict({
      deployment: deploy(GOOD, { revision: 5 }),
      replicaSets: [
        badRs,
        { ...reusedGood, metadata: { ...reusedGood.metadata, creationTimestamp: '2030-01-01T00:00:00Z' } },
      ],
      lastGoodTemplate: good,
      lastGoodRsUid: 'uid-good',
      incidentStartedAt: INCIDENT,
    });
    expect(verdict.state).toBe('converged');
    expect(verdict.warnings).toEqual([]);
  });

  it('converges with a warning when the last-good ReplicaSet was garbage-collected and recreated', () => {
    const recreated = rs('fresh', GOOD, { revision: 5, created: '2024-05-01T12:03:00Z', replicas: 3 });
    const verdict = convergenceVerdict({
      deployment: deploy(GOOD, { revision: 5 }),
      replicaSets: [badRs, recreated],
      lastGoodTemplate: good,
      lastGoodRsUid: 'uid-collected',
      badTemplate: bad,
      incidentStartedAt: INCIDENT,
    });
    expect(verdict.state).toBe('converged');
    expect(verdict.warnings).toHaveLength(1);
    expect(verdict.warnings[0]).toContain('recreated');
    expect(verdict.reasons).toContain(`warning: ${verdict.warnings[0]}`);
  });

  it('reports a different but healthy template as converged-different, naming the change', () => {
    const other = rs('other', 'ghcr.io/acme/web:1.4.1', {
      revision: 5,
      created: '2024-05-01T12:05:00Z',
      replicas: 3,
    });
    const verdict = convergenceVerdict({
      deployment: deploy('ghcr.io/acme/web:1.4.1', { revision: 5 }),
      replicaSets: [badRs, other],
      lastGoodTemplate: good,
      badTemplate: bad,
      incidentStartedAt: INCIDENT,
    });
    expect(verdict.state).toBe('converged-different');
    expect(verdict.warnings[0]).toContain('app: ghcr.io/acme/web:1.4.0 -> ghcr.io/acme/web:1.4.1');
  });

  it('keeps progressing while the generation is unobserved, pods are unavailable or the bad ReplicaSet has pods', () => {
    const base = { lastGoodTemplate: good, badTemplate: bad, incidentStartedAt: INCIDENT };
    const unobserved = convergenceVerdict({
      ...base,
      deployment: deploy(GOOD, { revision: 5, generation: 6, observedGeneration: 5 }),
      replicaSets: [badRs, reusedGood],
    });
    expect(unobserved.state).toBe('progressing');
    expect(unobserved.reasons[0]).toContain('observe generation 6');

    const unavailable = convergenceVerdict({
      ...base,
      deployment: deploy(GOOD, { revision: 5, available: 2 }),
      replicaSets: [badRs, reusedGood],
    });
    expect(unavailable).toMatchObject({
      state: 'progressing',
      reasons: [expect.stringContaining('2 of 3 updated replicas')],
    });

    const badStillUp = { ...badRs, spec: { ...badRs.spec, replicas: 1 }, status: { replicas: 1 } };
    const leftover = convergenceVerdict({
      ...base,
      deployment: deploy(GOOD, { revision: 5 }),
      replicaSets: [badStillUp, reusedGood],
    });
    expect(leftover.state).toBe('progressing');
    expect(leftover.reasons[0]).toContain('bad ReplicaSet "web-bad" is not scaled to 0');
  });

  it('fails on a progress deadline exceeded by the current rollout (real fixture)', () => {
    const owner = [{ uid: deadlineExceeded.metadata.uid, controller: true }];
    const guestbook = (hash: string, image: string, o: RsOptions): ReplicaSetLike => {
      const replicaSet = rs(hash, image, o);
      const tpl = structuredClone(deadlineExceeded.spec.template);
      tpl.metadata.labels['pod-template-hash'] = hash;
      tpl.spec.containers[0].image = image;
      return {
        ...replicaSet,
        metadata: { ...replicaSet.metadata, name: `guestbook-ui-${hash}`, ownerReferences: owner },
        spec: { ...replicaSet.spec, template: tpl },
      };
    };
    const current = guestbook('75dd4d49d5', 'gcr.io/heptio-images/ks-guestbook-demo:0.3', {
      revision: 4,
      created: '2018-07-18T06:19:00Z',
      replicas: 1,
      available: 0,
    });
    const previous = guestbook('5d6f7d4b86', 'gcr.io/heptio-images/ks-guestbook-demo:0.2', {
      revision: 3,
      created: '2018-07-18T04:40:44Z',
      replicas: 1,
    });
    const verdict = convergenceVerdict({
      deployment: deadlineExceeded,
      replicaSets: [current, previous],
      lastGoodTemplate: previous.spec!.template!,
      incidentStartedAt: '2018-07-18T06:20:00Z',
    });
    expect(verdict.state).toBe('failed');
    expect(verdict.replicaSet).toBe('guestbook-ui-75dd4d49d5');
    expect(verdict.reasons[0]).toBe(
      'deployment "guestbook-ui" exceeded its progress deadline on generation 4: ReplicaSet "guestbook-ui-75dd4d49d5" has timed out progressing.',
    );
  });

  it('tolerates a stale ProgressDeadlineExceeded once the counts show the rollout complete', () => {
    const stale = {
      status: 'False',
      reason: 'ProgressDeadlineExceeded',
      message: 'ReplicaSet "web-bad" has timed out progressing.',
    };
    const verdict = convergenceVerdict({
      deployment: deploy(GOOD, { revision: 5, progressing: stale }),
      replicaSets: [badRs, reusedGood],
      lastGoodTemplate: good,
      badTemplate: bad,
      incidentStartedAt: INCIDENT,
    });
    expect(verdict.state).toBe('converged');
    expect(verdict.warnings[0]).toContain('stale ProgressDeadlineExceeded ignored');
    // kubectl would still call it an error (kubernaut#199): the verdict must not rely on the condition.
    expect(rolloutStatus(deploy(GOOD, { revision: 5, progressing: stale })).state).toBe('error');

    const midway = convergenceVerdict({
      deployment: deploy(GOOD, { revision: 5, progressing: stale, available: 1, updated: 1 }),
      replicaSets: [badRs, reusedGood],
      lastGoodTemplate: good,
      badTemplate: bad,
      incidentStartedAt: INCIDENT,
    });
    expect(midway.state).toBe('progressing');
    expect(midway.reasons[0]).toContain('names ReplicaSet "web-bad", not the current "web-good"');
  });
});
