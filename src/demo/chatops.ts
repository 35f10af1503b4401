// `npm run demo -- --chatops`: ChatOps on the sandbox forge. After a healthy deploy, a `read` user
// and then a `write` user comment `/rollback flux-system/podinfo` on an issue, each with their own
// token through the REST API, as on GitHub. The first gets a refusal and nothing changes; the second
// gets a reply, one revert pull request merged under auto-merge, and the verified outcome.
import type { Writable } from 'node:stream';
import { Octokit } from '@octokit/rest';
import { readyFor, waitForKustomization } from '../sandbox/scenario.ts';
import { startLoop } from '../sandbox/loop.ts';
import { ensureRedis } from './redis.ts';

const WRITER = { login: 'wanda', permission: 'write' as const, token: 'ghp_demo_writer_0123456789' };
const READER = { login: 'rita', permission: 'read' as const, token: 'ghp_demo_reader_0123456789' };

async function waitFor<T>(what: string, get: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function runChatOpsDemo({
  out,
  timeoutMs = 90_000,
}: {
  out: Writable;
  timeoutMs?: number;
}): Promise<number> {
  const log = (line: string): void => void out.write(`${line}\n`);
  const redis = await ensureRedis(process.env['REDIS_URL']);
  const loop = await startLoop({ redisUrl: redis.url, forge: { users: [WRITER, READER] } }).catch(
    async (e: unknown) => {
      await redis.stop();
      throw e;
    },
  );
  try {
    const forge = loop.forge!;
    const repo = { owner: 'fleet-org', repo: 'fleet' };
    const as = (token: string) => new Octokit({ auth: token, baseUrl: forge.url });
    const change = await loop.fleet.setPodinfoImage('ghcr.io/stefanprodan/podinfo:6.5.1');
    loop.fleet.notifyPush();
    await waitForKustomization(loop.sandbox, loop.fleet.namespace, 'podinfo', readyFor(change));
    log(`podinfo runs ${change.slice(0, 7)} (podinfo 6.5.1), healthy; forge ${forge.url}`);
    const { data: issue } = await as(WRITER.token).rest.issues.create({
      ...repo,
      title: 'podinfo 6.5.1 is slow',
    });
    log(`issue #${issue.number} "${issue.title}"`);

    const replyTo = (id: number) =>
      forge.state.comments.find((c) => c.body.includes(`rewind:chatops reply=${id} `))?.body;
    const resultOf = (id: number) =>
      forge.state.comments.find((c) => c.body.includes(`rewind:chatops result=${id} `))?.body;
    const show = (who: string, body: string) =>
      log(`\n--- Rewind to ${who} ---\n${body.replace(/<!--[^>]*-->/g, '').trim()}\n`);

    for (const person of [READER, WRITER]) {
      const body = `/rollback flux-system/podinfo -- latency doubled since 6.5.1`;
      const { data: comment } = await as(person.token).rest.issues.createComment({
        ...repo,
        issue_number: issue.number,
        body,
      });
      log(`\n${person.login} (${person.permission}) comments: ${body}`);
      show(person.login, await waitFor('the reply', () => replyTo(comment.id), timeoutMs));
      if (person === READER) {
        log(
          `pull requests: ${forge.state.pulls.length}, branches other than main: ${
            (await loop.fleet.work.raw(['ls-remote', '--heads', 'origin']))
              .split('\n')
              .filter((l) => l && !l.endsWith('refs/heads/main')).length
          }`,
        );
        continue;
      }
      show(`${person.login} (outcome)`, await waitFor('the outcome', () => resultOf(comment.id), timeoutMs));
      const pr = forge.state.pulls[0];
      log(`pull requests: ${forge.state.pulls.length}; #${pr?.number} merged: ${pr?.merged}`);
    }
    const converged = (await loop.runtime.incidents.list(20)).some(
      (r) => r.details.trigger === 'chatops' && r.conditions.at(-1)?.type === 'Converged',
    );
    log(converged ? '\nChatOps demo: OK' : '\nChatOps demo: the rollback did not converge');
    return converged && forge.state.pulls.length === 1 ? 0 : 1;
  } finally {
    await loop.stop();
    await redis.stop();
  }
}
