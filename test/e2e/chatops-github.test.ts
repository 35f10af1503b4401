// ChatOps on GitHub, end to end: people comment `/rollback` on an issue of the sandbox forge with
// their own tokens; the whole bot (real Redis, sandbox cluster, signed webhooks) reacts, authorizes
// by repository role, rolls back through one pull request and reports, and never acts twice; a
// `/rollback` that GitHub shows as code or hides is not a command.
import { randomUUID } from 'node:crypto';
import { sign } from '@octokit/webhooks-methods';
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readyFor, waitForKustomization } from '../../src/sandbox/scenario.ts';
import { GITHUB_TEST_TOKEN, type Loop, startLoop } from '../helpers/loop.ts';
import { until } from '../helpers/wait.ts';

const WRITE_TOKEN = 'ghp_writer_token_0123456789';
const READ_TOKEN = 'ghp_reader_token_0123456789';
const HEALTHY_BUMP = 'ghcr.io/stefanprodan/podinfo:6.5.1';

describe('ChatOps: /rollback in GitHub comments', () => {
  let loop: Loop;
  let asWriter: Octokit;
  let asReader: Octokit;
  let asBot: Octokit;
  let issue: number;
  let change: string;
  const repo = { owner: 'fleet-org', repo: 'fleet' };

  beforeAll(async () => {
    loop = await startLoop({
      forge: {
        users: [
          { login: 'wanda', permission: 'write', token: WRITE_TOKEN },
          { login: 'rita', permission: 'read', token: READ_TOKEN },
        ],
      },
    });
    const baseUrl = loop.forge!.url;
    asWriter = new Octokit({ auth: WRITE_TOKEN, baseUrl });
    asReader = new Octokit({ auth: READ_TOKEN, baseUrl });
    asBot = new Octokit({ auth: GITHUB_TEST_TOKEN, baseUrl });
    // A change that deploys fine: nobody but a person would roll it back.
    change = await loop.fleet.setPodinfoImage(HEALTHY_BUMP);
    loop.fleet.notifyPush();
    await waitForKustomization(loop.sandbox, loop.fleet.namespace, 'podinfo', readyFor(change));
    issue = (await asWriter.rest.issues.create({ ...repo, title: 'podinfo 6.5.1 is slow' })).data.number;
  }, 120_000);

  afterAll(async () => {
    await loop?.stop();
  });

  const commentsOn = (number: number) => loop.forge!.state.comments.filter((c) => c.issueNumber === number);
  const replyTo = (id: number) =>
    commentsOn(issue).filter((c) => c.body.includes(`rewind:chatops reply=${id} `));
  const resultOf = (id: number) =>
    commentsOn(issue).filter((c) => c.body.includes(`rewind:chatops result=${id} `));
  const commentAs = async (as: Octokit, body: string) =>
    (await as.rest.issues.createComment({ ...repo, issue_number: issue, body })).data;
  /** Once the forge's webhooks are delivered and a little time has passed: no reaction, no reply. */
  const expectIgnored = async (commentId: number) => {
    await loop.forge!.webhooksIdle();
    await new Promise((r) => setTimeout(r, 2000));
    expect(replyTo(commentId)).toHaveLength(0);
    expect(loop.forge!.state.reactions.filter((r) => r.commentId === commentId)).toHaveLength(0);
  };
  const branches = async () =>
    (await loop.fleet.work.raw(['ls-remote', '--heads', 'origin'])).split('\n').filter(Boolean).length;

  it('refuses a read user with a reply that says why, and changes nothing (no branch, no PR, no push)', async () => {
    const head = await loop.fleet.work.raw(['ls-remote', 'origin', 'refs/heads/main']);
    const before = await branches();
    const comment = await commentAs(asReader, '/rollback flux-system/podinfo');
    await until(() => replyTo(comment.id).length === 1, 'the refusal reply', 30_000);
    const reply = replyTo(comment.id)[0]!;
    expect(reply.user).toBe('rewind[bot]');
    expect(reply.body).toContain('needs at least **write** permission');
    expect(reply.body).toContain('(you have **read**)');
    expect(reply.body).toContain('Nothing was changed');
    expect(loop.forge!.state.reactions.filter((r) => r.commentId === comment.id)).toEqual([
      expect.objectContaining({ content: 'eyes', user: 'rewind[bot]' }),
    ]);
    expect(loop.forge!.state.pulls).toHaveLength(0);
    expect(await branches()).toBe(before);
    expect(await loop.fleet.work.raw(['ls-remote', 'origin', 'refs/heads/main'])).toBe(head);
    expect(await loop.runtime.incidents.list(50)).toHaveLength(0);
  });

  it('runs nothing for /rollback that GitHub shows as code or hides (indented code, an HTML comment)', async () => {
    const comment = await commentAs(
      asWriter,
      'For reference only, this is how it would go:\n\n    /rollback flux-system/podinfo\n\n<!--\n/rollback flux-system/podinfo\n-->\n\n... do not run it yet',
    );
    await expectIgnored(comment.id);
    expect(loop.forge!.state.pulls).toHaveLength(0);
    expect(await loop.runtime.incidents.list(50)).toHaveLength(0);
    // The next case's visible `/rollback` from the same person runs.
  });

  it('rolls back for a write user: one PR merged, a reply with the incident, the outcome Converged; a redelivery does nothing twice', async () => {
    const comment = await commentAs(
      asWriter,
      'Latency doubled since the bump.\n\n/rollback flux-system/podinfo -- @everyone latency <b>doubled</b>\n',
    );
    await until(() => replyTo(comment.id).length === 1, 'the reply', 30_000);
    const reply = replyTo(comment.id)[0]!.body;
    const incidentId = /incident `(inc-[a-z0-9.-]+)`/.exec(reply)?.[1];
    expect(incidentId, reply).toMatch(
      /^inc-ks\.flux-system\.podinfo\.chatops\.gh-fleet-org-fleet-\d+-[0-9a-f]{12}$/,
    );

    await until(() => resultOf(comment.id).length === 1, 'the outcome comment', 90_000);
    const incident = (await loop.runtime.incidents.get(incidentId!))!;
    expect(incident.conditions.at(-1)?.type).toBe('Converged');
    expect(incident.details.trigger).toBe('chatops');
    const pulls = loop.forge!.state.pulls;
    expect(pulls).toHaveLength(1);
    expect(pulls[0]!.merged).toBe(true);
    const result = resultOf(comment.id)[0]!.body;
    expect(result).toContain('converged');
    expect(result).toContain(`[#${pulls[0]!.number}](`);
    // The PR body and the revert commit say who asked, where and why; inert (no ping, no HTML).
    expect(pulls[0]!.body).toContain('## Requested by');
    expect(pulls[0]!.body).toContain('wanda on GitHub');
    expect(pulls[0]!.body).toContain(`#issuecomment-${comment.id}`);
    // The reason is inert: the mention sits in a code span (no notification), the HTML is escaped.
    expect(pulls[0]!.body).not.toMatch(/(^|[^`])@everyone|<b>/);
    expect(pulls[0]!.body).toContain('`@everyone`');
    await loop.fleet.work.fetch('origin');
    const message = await loop.fleet.work.raw(['log', '-1', '--no-merges', '--format=%B', 'origin/main']);
    expect(message).toContain('Requested by wanda on GitHub');
    expect(message).toContain('`@everyone` latency &lt;b>doubled&lt;/b>');
    expect(
      await loop.fleet.work.raw(['show', 'origin/main:apps/base/podinfo/deployment.yaml']),
    ).not.toContain('6.5.1');

    // The same comment delivered again (a new delivery id, so the webhook's own dedupe lets it through).
    const delivery = loop.forge!.state.deliveries.find(
      (d) => d.event === 'issue_comment' && (d.payload['comment'] as { id: number }).id === comment.id,
    )!;
    const body = JSON.stringify(delivery.payload);
    const response = await fetch(loop.webhookUrl!, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'issue_comment',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': await sign(loop.env['TEST_WEBHOOK_SECRET']!, body),
      },
    });
    expect(response.status).toBe(202);
    // An edit is not a new command either.
    await asWriter.rest.issues.updateComment({
      ...repo,
      comment_id: comment.id,
      body: `${comment.body}\n(edited)`,
    });
    await loop.forge!.webhooksIdle();
    await new Promise((r) => setTimeout(r, 3000));
    expect(replyTo(comment.id)).toHaveLength(1);
    expect(resultOf(comment.id)).toHaveLength(1);
    expect(loop.forge!.state.reactions.filter((r) => r.commentId === comment.id)).toHaveLength(1);
    expect(loop.forge!.state.pulls).toHaveLength(1);
    expect(
      (await loop.runtime.incidents.list(50)).filter((r) => r.details.trigger === 'chatops'),
    ).toHaveLength(1);
  });

  it('ignores comments of bots (Rewind itself included)', async () => {
    const comment = await commentAs(asBot, '/rollback flux-system/podinfo');
    await expectIgnored(comment.id);
  });
});
