// List paging on the sandbox API server: limit/continue as kube-apiserver answers them, an expired
// continue token as 410 Expired, and `kubectl get --chunk-size` reading every page.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_MAP } from '../../src/sandbox/resources.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts';

const run = promisify(execFile);
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({ argo: false });
  for (const name of ['a', 'b', 'c', 'd', 'e']) {
    sandbox.store.create(CONFIG_MAP, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `page-${name}`, namespace: 'kube-public', labels: { paged: 'yes' } },
      data: { name },
    });
  }
});

afterAll(async () => {
  await sandbox?.stop();
});

async function list(query: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${sandbox.url}/api/v1/namespaces/kube-public/configmaps?${query}`);
  return { status: response.status, body: await response.json() };
}

const names = (body: any): string[] => body.items.map((item: any) => item.metadata.name);

describe('list paging', () => {
  it('serves pages of `limit` items with a continue token and the count of what remains', async () => {
    const first = await list('limit=2');
    expect(names(first.body)).toEqual(['page-a', 'page-b']);
    expect(first.body.metadata.remainingItemCount).toBe(3);
    expect(first.body.metadata.continue).toEqual(expect.any(String));

    const second = await list(`limit=2&continue=${encodeURIComponent(first.body.metadata.continue)}`);
    expect(names(second.body)).toEqual(['page-c', 'page-d']);
    expect(second.body.metadata.resourceVersion).toBe(first.body.metadata.resourceVersion);
    expect(second.body.metadata.remainingItemCount).toBe(1);

    const last = await list(`limit=2&continue=${encodeURIComponent(second.body.metadata.continue)}`);
    expect(names(last.body)).toEqual(['page-e']);
    expect(last.body.metadata.continue).toBeUndefined();
    expect(last.body.metadata.remainingItemCount).toBeUndefined();
  });

  it('leaves remainingItemCount out when a selector filters the list', async () => {
    const first = await list('limit=1&labelSelector=paged%3Dyes');
    expect(names(first.body)).toEqual(['page-a']);
    expect(first.body.metadata.continue).toEqual(expect.any(String));
    expect(first.body.metadata.remainingItemCount).toBeUndefined();
  });

  it('answers a malformed continue token with 400', async () => {
    const { status, body } = await list('limit=2&continue=not-a-token');
    expect(status).toBe(400);
    expect(body).toMatchObject({ kind: 'Status', reason: 'BadRequest' });
  });

  it('pages a table for `kubectl get --chunk-size` and lists every object', async () => {
    const { stdout, stderr } = await run(
      'kubectl',
      [
        '--kubeconfig',
        sandbox.kubeconfigPath,
        'get',
        'configmaps',
        '-n',
        'kube-public',
        '--chunk-size=2',
        '-v=6',
      ],
      { timeout: 30_000 },
    );
    expect(stdout.match(/^page-[a-e]\s/gm)).toHaveLength(5);
    // kubectl logs each request at -v=6: three pages were asked for.
    expect(stderr.match(/GET .*configmaps\?[^ ]*limit=2/g)).toHaveLength(3);
  });

  it('answers a continue token older than the watch history with 410 Expired', async () => {
    const first = await list('limit=2');
    // A write after the first page, then etcd compacts past the page's revision.
    sandbox.store.create(CONFIG_MAP, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'page-z', namespace: 'kube-public' },
    });
    sandbox.store.compact();
    const { status, body } = await list(
      `limit=2&continue=${encodeURIComponent(first.body.metadata.continue)}`,
    );
    expect(status).toBe(410);
    expect(body).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'Expired',
      code: 410,
    });
  });
});
