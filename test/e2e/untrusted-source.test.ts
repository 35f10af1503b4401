import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Loop, startLoop } from '../helpers/loop.ts';

const BROKEN = 'ghcr.io/stefanprodan/podinfo:6.6.0-broken';

describe('a GitOps source Rewind must not use ends the incident at once', () => {
  let loop: Loop | undefined;
  afterEach(async () => {
    await loop?.stop();
    loop = undefined;
  });

  it('ends NeedsHuman with the key to set, without retrying or running git, when file remotes are off', async () => {
    loop = await startLoop({ git: { allowFileRemotes: false } });
    const { fleet } = loop;
    const bad = await fleet.setPodinfoImage(BROKEN);
    fleet.notifyPush();
    // Retried git failures would take minutes (8 attempts with backoff) and end Failed.
    const incident = await loop.finalIncident(bad, 30_000);

    expect(incident.conditions.at(-1)).toMatchObject({ type: 'NeedsHuman', reason: 'UntrustedSource' });
    expect(incident.conditions.at(-1)?.message).toContain('set git.allowFileRemotes: true');
    expect(await fleet.head()).toBe(bad);
    expect(existsSync(path.join(loop.config.git.workdir, 'mirrors'))).toBe(false);
  });
});
