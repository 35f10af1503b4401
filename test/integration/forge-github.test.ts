// The GitHub forge adapter against the sandbox forge (GitHub's REST subset over a real bare repo),
// through real Octokit: idempotency of every verb, merge guards, and faults (5xx, rate limits,
// writes whose answer was lost).
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { isRewindError } from '../../src/domain/errors.ts';
import { GitHubForge, type GitHubForgeDeps } from '../../src/forge/github.ts';
import type { EnsurePullRequestInput } from '../../src/forge/port.ts';
import { BOT_LOGIN, type SandboxForge, startSandboxForge } from '../../src/sandbox/forge/server.ts';
import { type GitDir, gitdir } from '../helpers/gitdir.ts';
import { recordingLogger } from '../helpers/wait.ts';

const OWNER = 'acme';
const REPO = 'fleet';

interface World {
  dir: GitDir;
  sandbox: SandboxForge;
  token: string;
  logs: string[];
  forge(overrides?: Partial<GitHubForgeDeps>): GitHubForge;
  /** Pushes a branch with one commit on top of main; returns its head sha. */
  branch(name: string): string;
}

const worlds: World[] = [];

afterEach(async () => {
  for (const w of worlds.splice(0)) {
    await w.sandbox.stop();
    w.dir.cleanup();
  }
});

async function world(): Promise<World> {
  const dir = gitdir();
  dir.commit('initial', { 'apps/podinfo/deployment.yaml': 'image: podinfo:6.4.0\n' });
  const token = `ghs_${randomUUID().replace(/-/g, '')}${randomUUID().replace(/-/g, '')}`;
  const sandbox = await startSandboxForge({
    repoDir: dir.remote,
    owner: OWNER,
    repo: REPO,
    token,
    users: [{ login: 'alice', email: 'alice@example.com' }],
  });
  const logs: string[] = [];
  const w: World = {
    dir,
    sandbox,
    token,
    logs,
    forge: (overrides = {}) =>
      new GitHubForge({
        baseUrl: sandbox.url,
        owner: OWNER,
        repo: REPO,
        auth: { type: 'token', token },
        log: recordingLogger(logs),
        userAgent: 'rewind-test',
        minWriteGapMs: 20,
        retry: { baseDelayMs: 5 },
        throttle: { retryAfterBaseMs: 5 },
        ...overrides,
      }),
    branch(name) {
      dir.git('checkout', '--quiet', '-B', name, 'main');
      dir.commit(`Revert "bump" on ${name}`, {
        'apps/podinfo/deployment.yaml': `image: podinfo:6.3.${name.length}\n`,
      });
      // commit() pushes HEAD to main; move main back and publish the branch instead.
      dir.git('push', '--quiet', '--force', 'origin', `HEAD:refs/heads/${name}`, 'HEAD~1:refs/heads/main');
      dir.git('checkout', '--quiet', 'main');
      dir.git('reset', '--quiet', '--hard', 'origin/main');
      return dir.git('rev-parse', `refs/heads/${name}`);
    },
  };
  worlds.push(w);
  return w;
}

function prInput(branch: string, overrides: Partial<EnsurePullRequestInput> = {}): EnsurePullRequestInput {
  return {
    branch,
    base: 'main',
    title: 'Revert "bump podinfo" (rewind: flux-system/podinfo)',
    body: 'What failed: podinfo\n\n<!-- rewind:incident=inc-ks.flux-system.podinfo-0123456789ab culprit=363a6a8fe6a7f13e05d34c163b0ef02a777da20a -->\n',
    labels: ['rewind', 'rollback'],
    reviewers: ['alice', BOT_LOGIN],
    teamReviewers: [],
    ...overrides,
  };
}

/** What a job retry does: call the verb again until it answers (at most `n` times). */
async function untilAnswered<T>(n: number, verb: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await verb();
    } catch (error) {
      if (i >= n || !(isRewindError(error) && error.retryable)) throw error;
    }
  }
}

describe('GitHubForge on the sandbox forge', () => {
  it('opens one pull request when ensured twice, with labels and reviewers, and updates a changed body', async () => {
    const w = await world();
    const branch = 'rewind/flux-system/podinfo/363a6a8fe6a7';
    const head = w.branch(branch);
    const forge = w.forge();

    const first = await forge.ensurePullRequest(prInput(branch));
    const second = await forge.ensurePullRequest(prInput(branch));
    const third = await forge.ensurePullRequest(prInput(branch, { body: 'a second app failed too' }));

    expect(first.outcome).toBe('created');
    expect(second.outcome).toBe('already-existed');
    expect(third.outcome).toBe('updated');
    expect(w.sandbox.state.pulls).toHaveLength(1);
    expect(first.pr).toMatchObject({ headBranch: branch, headSha: head, baseBranch: 'main', state: 'open' });
    expect([...second.pr.labels].sort()).toEqual(['rewind', 'rollback']);
    expect(third.pr.body).toBe('a second app failed too');
    // The bot authored the PR: GitHub refuses it as a reviewer, and the rest of the request stands.
    expect(w.sandbox.state.pulls[0]?.requestedReviewers).toEqual(['alice']);
    expect((await forge.findPullRequest(branch))?.number).toBe(first.pr.number);
    expect(await forge.findPullRequest('rewind/none/none/000000000000')).toBeUndefined();
    expect((await forge.listOpenRewindPullRequests()).map((p) => p.number)).toEqual([first.pr.number]);
  });

  it('posts a marked comment once, and updates it only when asked', async () => {
    const w = await world();
    const branch = 'rewind/ns/app/aaaaaaaaaaaa';
    w.branch(branch);
    const forge = w.forge();
    const { pr } = await forge.ensurePullRequest(prInput(branch, { reviewers: [] }));
    const marker = '<!-- rewind:result incident=inc-ks.ns.app-aaaaaaaaaaaa -->';

    const first = await forge.ensureComment(pr.number, marker, 'converged');
    const second = await forge.ensureComment(pr.number, marker, 'converged');
    const unchanged = await forge.ensureComment(pr.number, marker, 'converged in 40 s');
    const updated = await forge.ensureComment(pr.number, marker, 'converged in 40 s', { update: true });

    expect([first, second, unchanged, updated]).toEqual([
      'created',
      'already-existed',
      'already-existed',
      'updated',
    ]);
    expect(w.sandbox.state.comments).toHaveLength(1);
    expect(w.sandbox.state.comments[0]?.body).toContain(marker);
  });

  it('merges once, answers already-merged the second time, and refuses a stale head', async () => {
    const w = await world();
    const branch = 'rewind/ns/app/bbbbbbbbbbbb';
    const head = w.branch(branch);
    const forge = w.forge();
    const { pr } = await forge.ensurePullRequest(prInput(branch, { reviewers: [] }));

    const stale = await forge.mergePullRequest(pr.number, { sha: '0'.repeat(40), method: 'merge' });
    const merged = await forge.mergePullRequest(pr.number, { sha: head, method: 'merge' });
    const again = await forge.mergePullRequest(pr.number, { sha: head, method: 'merge' });

    expect(stale).toMatchObject({ outcome: 'refused', status: 409 });
    expect(merged.outcome).toBe('merged');
    expect(again).toEqual({ outcome: 'already-merged', sha: merged.outcome === 'merged' ? merged.sha : '' });
    expect(w.sandbox.state.merges).toHaveLength(1);
    expect((await forge.getPullRequest(pr.number)).merged).toBe(true);
  });

  it('a merge whose answer was lost is found merged by one look, not resent into 405s', async () => {
    const w = await world();
    const branch = 'rewind/ns/app/abababababab';
    const head = w.branch(branch);
    const forge = w.forge();
    const { pr } = await forge.ensurePullRequest(prInput(branch, { reviewers: [] }));
    w.sandbox.setFaults({ routes: { 'pulls.merge': { afterEffect: true, times: 1 } } });

    const outcome = await forge.mergePullRequest(pr.number, { sha: head, method: 'merge' });

    expect(outcome).toEqual({ outcome: 'already-merged', sha: w.sandbox.state.merges[0]?.sha });
    const merges = w.sandbox.state.requests.filter((r) => r.route === 'pulls.merge');
    // Before: plugin-retry resent the merge, got 405 "not mergeable" and resent that 3 more times
    // (1 + 4 + 9 s) before the pull request was looked at.
    expect(merges.map((r) => r.status)).toEqual([502]);
  });

  it('retries a 405 a few times while the pull request is not merged, then reports the refusal', async () => {
    const w = await world();
    const branch = 'rewind/ns/app/cdcdcdcdcdcd';
    const head = w.branch(branch);
    const forge = w.forge({ retry: { retries: 2, baseDelayMs: 5 } });
    const { pr } = await forge.ensurePullRequest(prInput(branch, { reviewers: [] }));
    w.sandbox.setProtection({ requiredApprovals: 1 });

    const outcome = await forge.mergePullRequest(pr.number, { sha: head, method: 'merge' });

    expect(outcome).toMatchObject({ outcome: 'refused', status: 405 });
    const merges = w.sandbox.state.requests.filter((r) => r.route === 'pulls.merge');
    expect(merges.map((r) => r.status)).toEqual([405, 405, 405]);
  });

  it('reports branch protection as a refusal with GitHub’s message', async () => {
    const w = await world();
    const branch = 'rewind/ns/app/cccccccccccc';
    const head = w.branch(branch);
    const forge = w.forge();
    const { pr } = await forge.ensurePullRequest(prInput(branch, { reviewers: [] }));
    w.sandbox.setProtection({ requiredApprovals: 1 });

    const outcome = await forge.mergePullRequest(pr.number, { sha: head, method: 'squash' });

    expect(outcome).toMatchObject({ outcome: 'refused', status: 405 });
    expect(outcome.outcome === 'refused' && outcome.message.length).toBeGreaterThan(0);
    expect(w.sandbox.state.merges).toHaveLength(0);
  });

  it('ends with exactly one pull request, comment and merge under 5xx, rate limits and lost answers', async () => {
    const w = await world();
    const branch = 'rewind/ns/app/dddddddddddd';
    const head = w.branch(branch);
    const forge = w.forge({ minWriteGapMs: 5 });
    w.sandbox.setFaults({ errorRate: 0.3, afterEffectRate: 0.4, secondaryRateLimitRate: 0.05, seed: 7 });
    const marker = '<!-- rewind:merge-refused incident=inc-ks.ns.app-dddddddddddd -->';

    const opened = await untilAnswered(6, () => forge.ensurePullRequest(prInput(branch)));
    const commented = await untilAnswered(6, () => forge.ensureComment(opened.pr.number, marker, 'hello'));
    await untilAnswered(6, () => forge.ensureComment(opened.pr.number, marker, 'hello'));
    const merged = await untilAnswered(6, () =>
      forge.mergePullRequest(opened.pr.number, { sha: head, method: 'merge' }),
    );

    w.sandbox.setFaults({});
    expect(['created', 'already-existed']).toContain(opened.outcome);
    expect(['created', 'already-existed']).toContain(commented);
    expect(['merged', 'already-merged']).toContain(merged.outcome);
    expect(w.sandbox.state.pulls).toHaveLength(1);
    expect(w.sandbox.state.comments).toHaveLength(1);
    expect(w.sandbox.state.merges).toHaveLength(1);
    expect(w.sandbox.state.requests.some((r) => r.fault === 'after-effect')).toBe(true);
  });

  it('gives up on a rate limit that does not lift with a TransientError after a few retries', async () => {
    const w = await world();
    const forge = w.forge({ throttle: { retryAfterBaseMs: 5, maxRetries: 2 } });
    w.sandbox.setFaults({ secondaryRateLimitRate: 1, seed: 1 });

    const error = await forge.getPullRequest(1).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'TRANSIENT', retryable: true });
    expect((error as Error).message).toMatch(/rate limit/i);
    expect(w.sandbox.state.requests.length).toBeGreaterThan(1);
    expect(w.sandbox.state.requests.length).toBeLessThan(20);
  });

  it('paces writes: never two writes closer than the configured gap', async () => {
    const w = await world();
    const branch = 'rewind/ns/app/eeeeeeeeeeee';
    w.branch(branch);
    const forge = w.forge({ minWriteGapMs: 150 });
    const { pr } = await forge.ensurePullRequest(prInput(branch));

    await Promise.all([
      forge.ensureComment(pr.number, '<!-- a -->', 'a'),
      forge.ensureComment(pr.number, '<!-- b -->', 'b'),
    ]);

    expect(w.sandbox.state.minGapBetweenWritesMs()).toBeGreaterThanOrEqual(140);
  });

  it('never puts the token in an error message or a log line', async () => {
    const w = await world();
    const wrong = `ghp_${randomUUID().replace(/-/g, '')}`;
    const forge = w.forge();
    const intruder = w.forge({ auth: { type: 'token', token: wrong } });

    const notFound = await forge.getPullRequest(999).catch((e: unknown) => e);
    const badCredentials = await intruder.getPullRequest(1).catch((e: unknown) => e);

    expect(notFound).toMatchObject({ code: 'NOT_FOUND' });
    expect(badCredentials).toMatchObject({ code: 'TERMINAL', retryable: false });
    for (const error of [notFound, badCredentials]) {
      const everything = `${String(error)} ${JSON.stringify(error)} ${JSON.stringify((error as Error).cause)}`;
      expect(everything).not.toContain(w.token);
      expect(everything).not.toContain(wrong);
    }
    const logs = w.logs.join('\n');
    expect(logs).not.toContain(w.token);
    expect(logs).not.toContain(wrong);
  });

  it('fails a broken GitHub App key with an actionable TerminalError that does not contain the key', async () => {
    const w = await world();
    const secret = 'MIIEowIBAAKCAQEA' + randomUUID().replace(/-/g, '');
    const privateKey = `-----BEGIN RSA PRIVATE KEY-----\n${secret}\n-----END RSA PRIVATE KEY-----\n`;
    const forge = w.forge({ auth: { type: 'app', appId: 1, privateKey } });

    const error = await forge.getPullRequest(1).catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'TERMINAL', retryable: false });
    expect((error as Error).message).toContain('private key');
    expect(`${String(error)} ${JSON.stringify(error)}`).not.toContain(secret);
    expect(w.logs.join('\n')).not.toContain(secret);
  });

  it('finds the login of a commit email, and nothing for an unknown one', async () => {
    const w = await world();
    const forge = w.forge();

    expect(await forge.loginForEmail('alice@example.com')).toBe('alice');
    expect(await forge.loginForEmail('1234+octo-cat@users.noreply.github.com')).toBe('octo-cat');
    expect(await forge.loginForEmail('nobody@example.com')).toBeUndefined();
    expect(await forge.loginForEmail('x in:login')).toBeUndefined();
  });

  it('gives up at once on a hostile commit email instead of backtracking over it', async () => {
    const w = await world();
    const forge = w.forge();
    // The address pattern is quadratic on this shape: 64 KB took seconds before addresses were capped.
    const hostile = `a@${'.'.repeat(64 * 1024)}:`;

    const start = performance.now();
    const login = await forge.loginForEmail(hostile);

    expect(login).toBeUndefined();
    expect(performance.now() - start).toBeLessThan(1_000);
  });
});
