// `npm run demo -- --engine argo`, in process: the Argo CD scenario must end with Rewind's scoped
// revert, Argo reporting Synced + Healthy at it, web on its original ReplicaSet, and exit code 0.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../src/demo/demo.ts';

function collect(): { out: Writable; text: () => string } {
  const chunks: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { out, text: () => chunks.join('') };
}

describe('the Argo CD demo', () => {
  it('converges web back with one scoped revert, Argo Synced + Healthy at it, and exits 0', async () => {
    const { out, text } = collect();
    const code = await runDemo({ out, engine: 'argo', timeoutMs: 45_000 });
    const output = text();
    expect(output, output).toContain('demo finished: OK');
    expect(code).toBe(0);
    expect(output).toMatch(/Detected\s+\d+ Pod\(s\) of the new revision are failing/);
    expect(output).toContain('(scoped: apps/web/deployment.yaml)');
    expect(output).toMatch(/argo\s+argocd\/web Synced \+ Healthy at [0-9a-f]{7} \(main, with the revert\)/);
    expect(output).toContain('again (the ReplicaSet of the good deploy)');
  });
});
