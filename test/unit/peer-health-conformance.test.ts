// Rewind's verdicts against the health test cases of its peers: gitops-engine's (Argo CD's health of
// Deployments, Pods, Applications and the other kinds), argo-cd's Flux health checks (Kustomization,
// HelmRelease), and for Deployments also kstatus (the sandbox's Flux health check) and kubectl
// rollout status (rolloutStatus). Every case agrees, or is in the table of deliberate differences
// with the reason, and that difference is asserted. A peer case added later fails the test until
// someone decides which it is.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { rolloutStatus } from '../../src/cluster/rollout-verdict.ts';
import { assessApplication } from '../../src/engines/argo-application.ts';
import { assessHelmRelease } from '../../src/engines/flux-helmrelease.ts';
import { assessKustomization } from '../../src/engines/flux-kustomization.ts';
import type { HealthState } from '../../src/engines/types.ts';
import { podFailure } from '../../src/pipeline/pod-signals.ts';
import { pausedOutcome } from '../../src/pipeline/verify.ts';
import { objectStatus } from '../../src/sandbox/flux-health.ts';
import { FIXTURES } from '../helpers/fixtures.ts';

const PEERS = `${FIXTURES}/peers`;
const GITOPS_ENGINE = path.join(PEERS, 'gitops-engine-health');
const FLUX_CHECKS = path.join(PEERS, 'argo-cd-flux-health');
/** detection.restartThreshold's default. */
const RESTART_THRESHOLD = 3;

type ArgoHealth = 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended' | 'Missing' | 'Unknown';
interface PeerCase {
  readonly file: string;
  /** What the peer expects; `none` when it computes no health for the object. */
  readonly expected: ArgoHealth | 'none';
}

/** The expectations in gitops-engine's health_test.go, by fixture file. */
function gitopsEngineCases(): PeerCase[] {
  const source = readFileSync(path.join(GITOPS_ENGINE, 'health_test.go'), 'utf8');
  const cases: PeerCase[] = [];
  for (const match of source.matchAll(/assertAppHealth\(t, "[^"]*\/([^/"]+\.yaml)", HealthStatus(\w+)\)/g))
    cases.push({ file: match[1]!, expected: match[2] as ArgoHealth });
  for (const match of source.matchAll(/assert\.Nil\(t, getHealthStatus\(t, "[^"]*\/([^/"]+\.yaml)"\)\)/g))
    cases.push({ file: match[1]!, expected: 'none' });
  return cases;
}

function load(file: string): any {
  return parseAllDocuments(readFileSync(path.join(GITOPS_ENGINE, file), 'utf8'))[0]!.toJS();
}

/** Rewind's state as the Argo health word it corresponds to. */
const AS_ARGO: Record<HealthState, ArgoHealth> = {
  healthy: 'Healthy',
  progressing: 'Progressing',
  failed: 'Degraded',
  suspended: 'Suspended',
  unknown: 'Unknown',
};

/** Rewind on a Deployment: the verifier stops for a paused one, else kubectl rollout status. */
function rewindDeployment(deployment: any): ArgoHealth | 'NeedsHuman' {
  if (pausedOutcome([deployment])) return 'NeedsHuman';
  const status = rolloutStatus(deployment);
  return status.state === 'done' ? 'Healthy' : status.state === 'error' ? 'Degraded' : 'Progressing';
}

/** kstatus on a Deployment, as Argo's words (Current is healthy, InProgress progressing). */
const KSTATUS_AS_ARGO = {
  Current: 'Healthy',
  InProgress: 'Progressing',
  Failed: 'Degraded',
  NotFound: 'Missing',
};

/** Rewind on a Pod: failing (Degraded) or not; it does not tell starting from running. */
function rewindPod(pod: any, threshold = RESTART_THRESHOLD): 'Degraded' | 'not failing' {
  return podFailure(pod, threshold) ? 'Degraded' : 'not failing';
}

/** An Application whose own health (Argo's verdict over its resources) is `health`, synced. */
function applicationWithHealth(health: ArgoHealth): unknown {
  return {
    metadata: { name: 'web', namespace: 'argocd' },
    status: { sync: { status: 'Synced', revision: 'a'.repeat(40) }, health: { status: health } },
  };
}

/**
 * Kinds Rewind does not judge one by one: it rolls back and verifies Deployments (their ReplicaSet
 * history) and watches their Pods. Argo CD folds the health of every other kind into the
 * Application's health, which Rewind reads: a Degraded Job, HPA or Service makes the app failed.
 */
const THROUGH_THE_APPLICATION = new Set([
  'StatefulSet',
  'DaemonSet',
  'PersistentVolumeClaim',
  'Service',
  'Ingress',
  'Job',
  'HorizontalPodAutoscaler',
  'APIService',
]);

interface Difference {
  readonly why: string;
  readonly assert: () => void;
}

/** Where Rewind's verdict differs from the peer's on purpose. */
const DIFFERENCES: Record<string, Difference> = {
  'deployment-suspended.yaml': {
    why: 'A paused Deployment rolls nothing out, the revert included, until a person resumes it. Argo calls it Suspended (healthy enough for the app), kstatus InProgress (Flux health checks wait, then fail), kubectl rollout status waits. Rewind does not resume a pause it did not make: verification ends NeedsHuman/DeploymentPaused at once.',
    assert: () => {
      const deployment = load('deployment-suspended.yaml');
      expect(pausedOutcome([deployment])).toMatchObject({ state: 'needs-human', reason: 'DeploymentPaused' });
      expect(objectStatus(deployment)).toBe('InProgress');
      expect(rolloutStatus(deployment).state).toBe('waiting');
    },
  },
  'pod-error.yaml': {
    why: 'A container that exited with an error twice is not yet failing for Rewind: one restart at start (a dependency not up yet) heals by itself; at detection.restartThreshold restarts (3 by default) or in CrashLoopBackOff it is.',
    assert: () => {
      const pod = load('pod-error.yaml');
      expect(rewindPod(pod)).toBe('not failing');
      expect(rewindPod(pod, 2)).toBe('Degraded');
    },
  },
  'pod-failed.yaml': {
    why: 'A Pod that ended Failed with restartPolicy Never is a one-off (a Job) or an eviction; Deployment Pods restart (Always), so a new revision that fails shows as restarts or a back-off, which Rewind reads.',
    assert: () => {
      const pod = load('pod-failed.yaml');
      expect(pod.spec.restartPolicy).toBe('Never');
      expect(rewindPod(pod)).toBe('not failing');
    },
  },
  'pod-running-restart-onfailure.yaml': {
    why: "A container in CrashLoopBackOff is failing whatever its Pod's restart policy; Argo reports a running OnFailure Pod Progressing because a Job's Pod may still finish. For Deployment Pods (Always) Argo agrees: pod-crashloop.yaml is Degraded for both.",
    assert: () => {
      expect(load('pod-running-restart-onfailure.yaml').spec.restartPolicy).toBe('OnFailure');
      expect(rewindPod(load('pod-running-restart-onfailure.yaml'))).toBe('Degraded');
      expect(rewindPod(load('pod-crashloop.yaml'))).toBe('Degraded');
    },
  },
  'application-healthy.yaml': {
    why: "gitops-engine computes no health for an Application (argo-cd's controller does, into status.health). Rewind reads that status.health, and calls an app healthy only when it is also Synced (Argo's own on-deployed rule): this fixture has no sync status.",
    assert: () => {
      const app = { metadata: { name: 'web' }, ...load('application-healthy.yaml') };
      expect(assessApplication(app)).toMatchObject({ state: 'progressing', reason: 'Healthy' });
      app.status.sync = { status: 'Synced' };
      expect(assessApplication(app).state).toBe('healthy');
    },
  },
  'application-degraded.yaml': {
    why: "gitops-engine computes no health for an Application; Rewind reads the Application's own status.health, and Degraded there is a failed app.",
    assert: () => {
      const app = { metadata: { name: 'web' }, ...load('application-degraded.yaml') };
      expect(assessApplication(app).state).toBe('failed');
    },
  },
};

/** argo-cd's Flux health checks where Rewind differs, by `<Kind>/<file>`. */
const FLUX_DIFFERENCES: Record<string, Difference> = {
  'Kustomization/degraded.yaml': {
    why: "ArtifactFailed means Flux could not get the source's artifact (fetch, missing path): Argo's check calls it Degraded, but reverting a commit cannot fix it, so Rewind does not judge the revision (unknown) and opens no incident.",
    assert: () => {
      const verdict = assessKustomization(loadFlux('Kustomization', 'degraded.yaml'));
      expect(verdict).toMatchObject({ state: 'unknown', reason: 'ArtifactFailed' });
    },
  },
};

function loadFlux(kind: string, file: string): unknown {
  return parse(readFileSync(path.join(FLUX_CHECKS, kind, file), 'utf8'));
}

describe("Rewind's verdicts against gitops-engine's health test cases", () => {
  const cases = gitopsEngineCases();

  it('covers every test case and fixture of the peer', () => {
    const fixtures = readdirSync(GITOPS_ENGINE).filter((file) => file.endsWith('.yaml'));
    expect(cases.map((c) => c.file).sort()).toEqual(fixtures.sort());
  });

  for (const { file, expected } of cases) {
    const object = load(file);
    const difference = DIFFERENCES[file];
    if (difference) {
      it(`${file}: differs on purpose (expected ${expected}): ${difference.why}`, () => {
        difference.assert();
      });
      continue;
    }
    it(`${file} (${object.kind}): ${expected}`, () => {
      if (object.kind === 'Deployment') {
        expect(rewindDeployment(object)).toBe(expected);
        expect(KSTATUS_AS_ARGO[objectStatus(object)]).toBe(expected);
      } else if (object.kind === 'Pod') {
        expect(rewindPod(object)).toBe(expected === 'Degraded' ? 'Degraded' : 'not failing');
      } else if (expected === 'none') {
        // A custom resource (a domain-qualified group) without a health rule: neither Argo nor
        // Rewind judges it.
        expect(object.apiVersion.split('/')[0]).toContain('.');
      } else {
        expect(
          THROUGH_THE_APPLICATION.has(object.kind),
          `${object.kind} is not a kind Rewind decided on`,
        ).toBe(true);
        const verdict = assessApplication(applicationWithHealth(expected));
        // Suspended, like Missing, is not yet a verdict: the app waits (the verifier says why).
        expect(
          verdict.state === 'progressing' && expected === 'Suspended' ? 'Suspended' : AS_ARGO[verdict.state],
        ).toBe(expected);
      }
    });
  }
});

describe("Rewind's verdicts against argo-cd's Flux health checks", () => {
  for (const kind of ['Kustomization', 'HelmRelease'] as const) {
    const tests = (
      parse(readFileSync(path.join(FLUX_CHECKS, kind, 'health_test.yaml'), 'utf8')) as {
        tests: { healthStatus: { status: ArgoHealth; message: string }; inputPath: string }[];
      }
    ).tests;
    for (const test of tests) {
      const file = path.basename(test.inputPath);
      const difference = FLUX_DIFFERENCES[`${kind}/${file}`];
      if (difference) {
        it(`${kind} ${file}: differs on purpose (expected ${test.healthStatus.status}): ${difference.why}`, () => {
          difference.assert();
        });
        continue;
      }
      it(`${kind} ${file}: ${test.healthStatus.status} (${test.healthStatus.message})`, () => {
        const object = loadFlux(kind, file);
        const verdict = kind === 'Kustomization' ? assessKustomization(object) : assessHelmRelease(object);
        expect(AS_ARGO[verdict.state]).toBe(test.healthStatus.status);
      });
    }
  }
});
