// A person pausing a Deployment's rollout (`kubectl rollout pause`) while Rewind waits out the grace
// period of the incident of `bad`: the step the paused-Deployment tests share, on Flux and Argo CD.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import { until } from './wait.ts';

export async function pauseOnceDetected(
  incidents: { list(limit?: number): Promise<IncidentRecord[]> },
  kubeconfig: string,
  bad: string,
  deployment: { readonly namespace: string; readonly name: string },
): Promise<void> {
  await until(
    async () => (await incidents.list(50)).some((r) => r.badRevision === bad),
    'the incident detected',
    30_000,
    50,
  );
  await promisify(execFile)(
    'kubectl',
    [
      '--kubeconfig',
      kubeconfig,
      'rollout',
      'pause',
      `deployment/${deployment.name}`,
      '-n',
      deployment.namespace,
    ],
    { timeout: 30_000 },
  );
}
