// `/rollback pause` and `resume` for every app write the ConfigMap chatops.pauseConfigMap through the
// real Kubernetes client against the sandbox API server. When the cluster refuses (here: the namespace
// is missing), the person gets a reply that says what to fix, instead of a command retried in
// silence; once the namespace exists, the switch turns on and off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatOpsService } from '../../src/chatops/service.ts';
import { KubeCluster, loadKubeConfig } from '../../src/cluster/kube.ts';
import { parseConfig } from '../../src/config/index.ts';
import { silentLogger } from '../../src/logging.ts';
import { readGlobalPause } from '../../src/pipeline/pause-switch.ts';
import { CONFIG_MAP, NAMESPACE } from '../../src/sandbox/resources.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/sandbox.ts';

const notUsed = (): never => {
  throw new Error('pause and resume do not touch git, incidents or the queue');
};

describe('the global pause switch written from ChatOps', () => {
  let sandbox: Sandbox;
  let cluster: KubeCluster;
  let service: ChatOpsService;
  const config = parseConfig(
    { chatops: { pauseConfigMap: { namespace: 'ops-switches', name: 'rewind-switches' } } },
    { env: {} },
  );
  const actor = { name: 'wanda', admin: false };
  const channel = { kind: 'github' as const, where: 'https://example.test/c/1', requestId: 'gh-test-1' };

  beforeAll(async () => {
    sandbox = await startSandbox({});
    cluster = new KubeCluster(loadKubeConfig(sandbox.kubeconfigPath));
    service = new ChatOpsService({
      config,
      cluster,
      git: {
        commitsWithPrefix: notUsed,
        parentOf: notUsed,
        latestChangeOf: notUsed,
        validateRange: notUsed,
      },
      incidents: { get: notUsed, list: notUsed, put: notUsed } as never,
      requests: { incidentFor: notUsed, claimIncident: notUsed },
      enqueueRollback: notUsed,
      clock: { now: () => new Date() },
      log: silentLogger(),
    });
  }, 60_000);

  afterAll(async () => {
    await sandbox?.stop();
  });

  it("answers with what to fix when the switch's namespace does not exist, and changes nothing", async () => {
    const reply = await service.execute({ kind: 'pause', reason: 'freeze' }, actor, channel);
    expect(reply.text).toContain('ConfigMap ops-switches/rewind-switches');
    expect(reply.text).toContain('namespaces "ops-switches" not found');
    expect(reply.text).toContain('deploy/namespace.yaml');
    expect(sandbox.store.get(CONFIG_MAP, 'ops-switches', 'rewind-switches')).toBeUndefined();
    expect((await readGlobalPause(cluster, config)).paused).toBe(false);
  });

  it('turns the switch on (creating the ConfigMap) and off once the namespace exists', async () => {
    sandbox.store.create(NAMESPACE, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'ops-switches' },
    });
    // Resuming when nothing was ever paused is a no-op, not an error.
    expect((await service.execute({ kind: 'resume' }, actor, channel)).text).toContain('on again');
    expect(sandbox.store.get(CONFIG_MAP, 'ops-switches', 'rewind-switches')).toBeUndefined();

    expect((await service.execute({ kind: 'pause', reason: 'freeze' }, actor, channel)).text).toContain(
      'are paused',
    );
    const paused = await readGlobalPause(cluster, config);
    expect(paused.paused).toBe(true);
    expect(paused.by).toContain('wanda');
    expect(paused.by).toContain('freeze');

    expect((await service.execute({ kind: 'resume' }, actor, channel)).text).toContain('on again');
    expect(await readGlobalPause(cluster, config)).toEqual({ paused: false });
  });
});
