// Steps the Argo CD end-to-end tests share: ask the sandbox's application-controller to refresh an
// Application now, and wait for the incident of a bad revision to end.
import { isTerminal } from '../../src/domain/incident.ts';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import { APPLICATION } from '../../src/sandbox/resources.ts';
import type { Sandbox } from '../../src/sandbox/sandbox.ts';
import { until } from './wait.ts';

/** The `argocd.argoproj.io/refresh` annotation, as `argocd app get --refresh` sets it. */
export function refresh(sandbox: Sandbox, name: string): void {
  sandbox.store.mutate(APPLICATION, 'argocd', name, (app) => {
    app.metadata.annotations = { ...app.metadata.annotations, 'argocd.argoproj.io/refresh': 'normal' };
  });
}

/** The incident of `bad` once it has ended. */
export async function finalIncident(
  loop: { readonly runtime: { readonly incidents: { list(limit?: number): Promise<IncidentRecord[]> } } },
  bad: string,
  timeoutMs: number,
): Promise<IncidentRecord> {
  let found: IncidentRecord | undefined;
  await until(
    async () => {
      found = (await loop.runtime.incidents.list(50)).find(
        (r) => r.badRevision === bad && isTerminal(r.conditions.at(-1)!.type),
      );
      return found !== undefined;
    },
    `a final incident for ${bad.slice(0, 7)}`,
    timeoutMs,
    50,
  );
  return found!;
}
