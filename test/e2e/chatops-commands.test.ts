// ChatOps commands beyond `/rollback <app>`, through GitHub comments on the sandbox forge and the
// whole bot: the kill switches (per app on the Kustomization, global on a ConfigMap, both surviving
// Redis loss and a restart), cancel, status, short SHAs, per-app people, and the admin's --force.
// One loop for all of them; the tests run in order and share the fleet's history.
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTerminal } from '../../src/domain/incident.ts';
import type { IncidentRecord } from '../../src/pipeline/incident-record.ts';
import { CONFIG_MAP, KUSTOMIZATION } from '../../src/sandbox/resources.ts';
import { frontendDeployment, readyFor, waitForKustomization } from '../../src/sandbox/scenario.ts';
import { collidingCommits } from '../helpers/colliding-commits.ts';
import { type Loop, startLoop } from '../helpers/loop.ts';
import { until } from '../helpers/wait.ts';

const repo = { owner: 'fleet-org', repo: 'fleet' };
const PEOPLE = {
  wanda: 'ghp_wanda_writer_0123456789', // write, listed for frontend
  nora: 'ghp_nora_writer_0123456789', // write, not listed for frontend
  adam: 'ghp_adam_admin_0123456789', // admin, listed for frontend
};
type Person = keyof typeof PEOPLE;

describe('ChatOps commands on GitHub: pause, resume, cancel, status, short SHAs, per-app people, --force', () => {
  let loop: Loop;
  let issue: number;
  const as = {} as Record<Person, Octokit>;

  beforeAll(async () => {
    loop = await startLoop({
      forge: {
        users: [
          { login: 'wanda', permission: 'write', token: PEOPLE.wanda },
          { login: 'nora', permission: 'write', token: PEOPLE.nora },
          { login: 'adam', permission: 'admin', token: PEOPLE.adam },
        ],
      },
      chatops: { github: { apps: [{ app: 'flux-system/frontend', logins: ['wanda', 'adam'] }] } },
      policy: { budgets: { perHour: 20, perDay: 50, cooldown: '0s' } },
      // frontend: an incident waits at Detected (long grace period), Rewind only proposes, and its
      // automatic budget is zero (so only an admin's --force rolls it back).
      apps: [
        {
          name: 'frontend',
          namespace: 'flux-system',
          gracePeriod: '10m',
          mode: 'propose',
          budgets: { perHour: 0, perDay: 0 },
        },
      ],
      detector: { resyncMs: 300, reofferMs: 300 },
    });
    for (const person of Object.keys(PEOPLE) as Person[])
      as[person] = new Octokit({ auth: PEOPLE[person], baseUrl: loop.forge!.url });
    issue = (await as.wanda.rest.issues.create({ ...repo, title: 'ChatOps commands' })).data.number;
  }, 120_000);

  afterAll(async () => {
    await loop?.stop();
  });

  /** Posts a comment as the person and returns Rewind's reply to it. */
  async function command(person: Person, body: string): Promise<string> {
    const { data } = await as[person].rest.issues.createComment({ ...repo, issue_number: issue, body });
    const reply = () =>
      loop.forge!.state.comments.find(
        (c) => c.issueNumber === issue && c.body.includes(`rewind:chatops reply=${data.id} `),
      );
    await until(() => reply() !== undefined, `the reply to "${body}"`, 30_000, 50);
    return reply()!.body;
  }

  const incidentIn = (reply: string) => /incident `(inc-[a-z0-9.-]+)`/.exec(reply)?.[1];
  const remoteHead = async () =>
    (await loop.fleet.work.raw(['ls-remote', 'origin', 'refs/heads/main'])).split('\t')[0];
  const annotationsOf = (name: string) =>
    loop.sandbox.store.get(KUSTOMIZATION, loop.fleet.namespace, name)?.metadata.annotations ?? {};
  const switches = () =>
    loop.sandbox.store.get(CONFIG_MAP, 'rewind-system', 'rewind-switches')?.metadata.annotations ?? {};
  const pull = () => loop.fleet.work.raw(['pull', '--quiet', '--ff-only', 'origin', 'main']);
  async function healPodinfo(tag: string): Promise<void> {
    await pull();
    const fixed = await loop.fleet.setPodinfoImage(`ghcr.io/stefanprodan/podinfo:${tag}`);
    loop.fleet.notifyPush();
    await waitForKustomization(loop.sandbox, loop.fleet.namespace, 'podinfo', readyFor(fixed));
  }
  async function breakPodinfo(tag: string): Promise<string> {
    await pull();
    const bad = await loop.fleet.setPodinfoImage(`ghcr.io/stefanprodan/podinfo:${tag}-broken`);
    loop.fleet.notifyPush();
    return bad;
  }

  it('a paused app is left alone on failure (Ignored/Paused, nothing pushed); after resume its next failure is rolled back', async () => {
    expect(await command('wanda', '/rollback pause flux-system/podinfo -- deploy freeze')).toContain(
      'Automatic rollbacks of **flux-system/podinfo** are paused',
    );
    expect(annotationsOf('podinfo')['rewind.dev/paused']).toBe('true');
    expect(annotationsOf('podinfo')['rewind.dev/paused-by']).toContain('wanda');

    const bad1 = await breakPodinfo('6.6.0');
    const ignored = await loop.finalIncident(bad1);
    expect(ignored.conditions.at(-1)).toMatchObject({ type: 'Ignored', reason: 'Paused' });
    expect(ignored.conditions.at(-1)?.message).toContain('paused for flux-system/podinfo');
    expect(await remoteHead()).toBe(bad1);
    expect(loop.forge!.state.pulls).toHaveLength(0);

    // A person fixes it forward while Rewind stays out of the way; then resumes Rewind.
    await healPodinfo('6.6.1');
    expect(await command('wanda', '/rollback resume flux-system/podinfo')).toContain('are on again');
    expect(annotationsOf('podinfo')['rewind.dev/paused']).toBeUndefined();
    const bad2 = await breakPodinfo('6.7.0');
    const rolledBack = await loop.finalIncident(bad2);
    expect(rolledBack.conditions.at(-1)?.type).toBe('Converged');
    expect(loop.forge!.state.pulls).toHaveLength(1);
    expect(await remoteHead()).not.toBe(bad2);
  }, 150_000);

  it('the global pause stops every automatic rollback, survives Redis loss and a restart, lets a person roll back by short SHA, and resume clears it', async () => {
    expect(await command('wanda', '/rollback pause -- maintenance window')).toContain(
      'Automatic rollbacks of **every app** are paused',
    );
    expect(switches()['rewind.dev/paused']).toBe('true');

    const bad3 = await breakPodinfo('6.8.0');
    const first = await loop.finalIncident(bad3);
    expect(first.conditions.at(-1)).toMatchObject({ type: 'Ignored', reason: 'Paused' });
    expect(first.conditions.at(-1)?.message).toContain('paused for every app');

    // A person fixes it forward (Rewind stays out of the way); then Redis loses everything and the
    // runtime restarts: the switch lives on the ConfigMap, so the next failure is left alone too.
    await healPodinfo('6.8.1');
    await loop.flushPrefix();
    await loop.restartRuntime();
    const bad4 = await breakPodinfo('6.9.0');
    const second = await loop.finalIncident(bad4);
    expect(second.conditions.at(-1)).toMatchObject({ type: 'Ignored', reason: 'Paused' });
    expect(await remoteHead()).toBe(bad4);
    const status = await command('wanda', '/rollback status');
    expect(status).toContain('**Paused for every app** by wanda');
    expect(status).toContain('maintenance window');

    // A person still rolls back while paused (README: the switches stop automatic rollbacks only),
    // naming the bad commit by its short SHA: back to just before it.
    const reply = await command('wanda', `/rollback flux-system/podinfo ${bad4.slice(0, 7)}`);
    expect(reply).toContain(`(back to just before \`${bad4.slice(0, 7)}\`)`);
    const id = incidentIn(reply)!;
    await until(
      async () => isTerminal((await loop.runtime.incidents.get(id))?.conditions.at(-1)?.type ?? 'Detected'),
      'the manual rollback to end',
      90_000,
      50,
    );
    const manual = (await loop.runtime.incidents.get(id))!;
    expect(manual.conditions.at(-1)).toMatchObject({ type: 'Converged' });
    expect(manual.details.trigger).toBe('chatops');
    await loop.fleet.work.fetch('origin');
    const deployed = await loop.fleet.work.raw(['show', 'origin/main:apps/base/podinfo/deployment.yaml']);
    expect(deployed).not.toContain('-broken');

    expect(await command('wanda', '/rollback resume')).toContain('every app are on again');
    expect(switches()['rewind.dev/paused']).toBeUndefined();
    const bad5 = await breakPodinfo('7.0.0');
    expect((await loop.finalIncident(bad5)).conditions.at(-1)?.type).toBe('Converged');
  }, 240_000);

  it('refuses an unknown or ambiguous short SHA, naming the candidates, and changes nothing', async () => {
    await pull();
    const { prefix, shas } = collidingCommits(loop.fleet.workDir, (await remoteHead())!);
    await loop.fleet.work.raw([
      'push',
      '--quiet',
      'origin',
      `${shas[0]}:refs/heads/near-miss-a`,
      `${shas[1]}:refs/heads/near-miss-b`,
    ]);
    const before = (await loop.runtime.incidents.list(100)).length;

    const ambiguous = await command('wanda', `/rollback flux-system/podinfo ${prefix}`);
    expect(ambiguous).toContain(`\`${prefix}\` is ambiguous`);
    expect(ambiguous).toContain(shas[0]);
    expect(ambiguous).toContain(shas[1]);
    expect(ambiguous).toContain('Nothing was changed');

    const unknownPrefix = prefix === 'deadbee' ? 'deadbef' : 'deadbee';
    const unknown = await command('wanda', `/rollback flux-system/podinfo ${unknownPrefix}`);
    expect(unknown).toContain(`No commit \`${unknownPrefix}\``);
    expect((await loop.runtime.incidents.list(100)).length).toBe(before);
  }, 60_000);

  let frontendIncident: string;
  let frontendBad: string;

  it('status lists open incidents (all, and of one app); cancel ends a waiting incident with who cancelled, and nothing is pushed', async () => {
    await pull();
    frontendBad = await loop.fleet.commit('Bump frontend to 2.0.0-broken', {
      'apps/frontend/deployment.yaml': frontendDeployment('ghcr.io/example/frontend:2.0.0-broken', 2),
    });
    loop.fleet.notifyPush();
    let waiting: IncidentRecord | undefined;
    await until(
      async () => {
        waiting = (await loop.runtime.incidents.list(100)).find(
          (r) => r.badRevision === frontendBad && r.app.name === 'frontend',
        );
        return waiting !== undefined;
      },
      'the frontend incident',
      60_000,
      50,
    );
    frontendIncident = waiting!.id;
    expect(waiting!.conditions.at(-1)?.type).toBe('Detected');

    const all = await command('wanda', '/rollback status');
    const openOf = (text: string) =>
      text.slice(text.indexOf('**Open incidents**'), text.indexOf('**Last ended**'));
    expect(openOf(all)).toContain(frontendIncident);
    expect(openOf(await command('wanda', '/rollback status flux-system/frontend'))).toContain(
      frontendIncident,
    );
    const podinfo = await command('wanda', '/rollback status flux-system/podinfo');
    expect(openOf(podinfo)).toContain('- none');
    expect(podinfo).not.toContain(frontendIncident);

    const pulls = loop.forge!.state.pulls.length;
    expect(await command('wanda', `/rollback cancel ${frontendIncident}`)).toContain('is cancelled');
    const cancelled = (await loop.runtime.incidents.get(frontendIncident))!;
    expect(cancelled.conditions.at(-1)).toMatchObject({ type: 'Ignored', reason: 'Cancelled' });
    expect(cancelled.details.cancelledBy).toContain('wanda');
    // A cancel is an outcome like any other: counted once, by the process that recorded it.
    const metrics = await (await fetch(`${new URL(loop.webhookUrl!).origin}/metrics`)).text();
    expect(metrics).toMatch(
      /^rewind_incident_outcomes_total\{engine="flux-kustomization",outcome="Ignored",reason="Cancelled"\} 1$/m,
    );
    expect(await remoteHead()).toBe(frontendBad);
    expect(loop.forge!.state.pulls).toHaveLength(pulls);
  }, 90_000);

  it('narrows an app to its listed people: a write user not listed is refused there and allowed elsewhere', async () => {
    const refused = await command('nora', '/rollback pause flux-system/frontend');
    expect(refused).toContain('only the people configured for flux-system/frontend');
    expect(annotationsOf('frontend')['rewind.dev/paused']).toBeUndefined();
    expect(await command('nora', '/rollback pause flux-system/podinfo')).toContain('are paused');
    expect(annotationsOf('podinfo')['rewind.dev/paused']).toBe('true');
    expect(await command('nora', '/rollback resume flux-system/podinfo')).toContain('are on again');
  }, 60_000);

  it('--force: refused for a non-admin; an admin overrides an exhausted budget; a cancel after the push is refused with advice', async () => {
    const pulls = loop.forge!.state.pulls.length;
    expect(await command('wanda', '/rollback flux-system/frontend --force')).toContain('for admins only');

    const plain = incidentIn(await command('wanda', '/rollback flux-system/frontend'))!;
    await until(
      async () =>
        isTerminal((await loop.runtime.incidents.get(plain))?.conditions.at(-1)?.type ?? 'Detected'),
      'the over-budget rollback to end',
      60_000,
      50,
    );
    expect((await loop.runtime.incidents.get(plain))!.conditions.at(-1)).toMatchObject({
      type: 'NeedsHuman',
      reason: 'BudgetExhausted',
    });
    expect(loop.forge!.state.pulls).toHaveLength(pulls);

    const forced = await command('adam', '/rollback flux-system/frontend --force');
    expect(forced).toContain('budget overridden by an admin');
    const id = incidentIn(forced)!;
    await until(
      async () => (await loop.runtime.incidents.get(id))?.details.pr !== undefined,
      'the forced rollback to open its pull request',
      60_000,
      50,
    );
    expect(loop.forge!.state.pulls).toHaveLength(pulls + 1);

    const late = await command('adam', `/rollback cancel ${id}`);
    expect(late).toContain('cannot be cancelled');
    expect(late).toContain('Close the pull request');
    expect(isTerminal((await loop.runtime.incidents.get(id))!.conditions.at(-1)!.type)).toBe(false);
  }, 120_000);
});
