import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { GitError, InvalidInputError } from '../../src/domain/errors.ts';
import { type GitProcessEvent, GitRepo, gitEnvironment } from '../../src/git/repo.ts';
import { gitWorkspaceFor, sourceTrust } from '../../workers/runtime.ts';
import { gitdir, type GitDir } from '../helpers/gitdir.ts';

// The issue-7 bypasses: URLs that must be refused by Rewind itself, before any git process runs,
// with an error that ends the incident at once instead of being retried.

let repo: GitDir;
beforeEach(() => {
  repo = gitdir();
  repo.commit('initial', { 'README.md': 'fleet\n' });
});
afterEach(() => repo.cleanup());

function configWith(git: Record<string, unknown>) {
  return parseConfig({ git: { workdir: path.join(repo.root, 'rewind'), ...git } }, { env: ENV });
}

async function refusal(fn: () => Promise<unknown>): Promise<InvalidInputError> {
  const error: unknown = await fn().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as InvalidInputError).retryable).toBe(false);
  return error as InvalidInputError;
}

const ENV = { GIT_TOKEN: 'token-for-tests' };
const TRUSTED = { allowedHosts: ['github.com'], credentials: { tokenEnv: 'GIT_TOKEN' } };

describe('the trust check reads scp-like URLs as remote hosts, not local paths', () => {
  it.each(['10.0.0.5:org/repo.git', '[::1]:/r.git', 'deploy@10.0.0.5:org/repo.git'])(
    'refuses %s when git.allowedHosts is set and credentials are configured',
    (url) => {
      expect(sourceTrust(configWith(TRUSTED))(url)).toMatch(
        /not a trusted Git host.*add the host to git\.allowedHosts/,
      );
    },
  );

  it('accepts the trusted host in scp-like and https form', () => {
    const trust = sourceTrust(configWith(TRUSTED));
    expect(trust('git@github.com:org/repo.git')).toBeUndefined();
    expect(trust('https://github.com/org/repo')).toBeUndefined();
  });

  it('refuses a local repository while git.allowFileRemotes is off, saying which key to set', () => {
    expect(sourceTrust(configWith({}))(repo.remote)).toMatch(/set git\.allowFileRemotes: true/);
    expect(sourceTrust(configWith({ allowFileRemotes: true }))(repo.remote)).toBeUndefined();
  });
});

describe('the git workspace refuses hostile URLs before running git', () => {
  it.each([
    'ssh://-oProxyCommand=touch${IFS}/tmp/rewind-pwned/r.git',
    'ssh://%2DoProxyCommand=x/r.git',
    'ext::sh%20-c%20id',
    'https://user:secret@github.com/org/repo',
  ])('never creates a mirror for %s', async (url) => {
    const config = configWith({});
    const workspace = gitWorkspaceFor(config, {});
    await refusal(() => workspace.syncMirror(url));
    expect(existsSync(path.join(config.git.workdir, 'mirrors'))).toBe(false);
  });

  it('refuses an untrusted scp-like host when credentials are configured, without connecting', async () => {
    const config = configWith(TRUSTED);
    const workspace = gitWorkspaceFor(config, ENV);
    const error = await refusal(() => workspace.syncMirror('[::1]:/r.git'));
    expect(error.message).toContain('not a trusted Git host');
    expect(existsSync(path.join(config.git.workdir, 'mirrors'))).toBe(false);
  });

  it('refuses a local repository while git.allowFileRemotes is off, and fetches it once on', async () => {
    const off = configWith({});
    const error = await refusal(() => gitWorkspaceFor(off, {}).syncMirror(repo.remote));
    expect(error.message).toContain('set git.allowFileRemotes: true');
    expect(existsSync(path.join(off.git.workdir, 'mirrors'))).toBe(false);

    const on = configWith({ allowFileRemotes: true });
    const mirror = await gitWorkspaceFor(on, {}).syncMirror(repo.remote);
    expect(await mirror.repo.resolveCommit('refs/heads/main')).toBe(repo.head());
  });
});

describe('commands that contact the remote run through simple-git', () => {
  const env = gitEnvironment({
    author: { name: 'Rewind', email: 'rewind@example.com' },
    allowedProtocols: ['file'],
  });

  it("refuses an option that runs a command on the remote's side (simple-git's guard)", async () => {
    const marker = path.join(repo.root, 'pwned');
    const error: unknown = await new GitRepo(repo.root, env)
      .run(['clone', '--bare', `--upload-pack=touch ${marker}; git-upload-pack`, '--', repo.remote, 'c.git'])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GitError);
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses --quiet: a silent process would be held 50 ms by simple-git', async () => {
    const mirror = new GitRepo(repo.root, env);
    await mirror.run(['clone', '--bare', '--', repo.remote, 'm.git']);
    await expect(
      mirror.at(path.join(repo.root, 'm.git')).run(['fetch', '--quiet', 'origin']),
    ).rejects.toThrow(InvalidInputError);
  });

  it('reports each process to the observer, exit codes and okExitCodes as for plumbing', async () => {
    const events: GitProcessEvent[] = [];
    await new GitRepo(repo.root, env).run(['clone', '--bare', '--', repo.remote, 'm.git']);
    const mirror = new GitRepo(path.join(repo.root, 'm.git'), env, (e) => events.push(e));
    await mirror.run(['fetch', '--verbose', 'origin']);
    const first = repo.head();
    repo.commit('second', { 'README.md': 'fleet, second\n' });
    const rejected = await mirror.run(['push', '--porcelain', 'origin', `${first}:refs/heads/main`], {
      okExitCodes: [1],
    });
    expect(rejected.exitCode).toBe(1);
    await expect(mirror.run(['push', '--porcelain', 'origin', `${first}:refs/heads/main`])).rejects.toThrow(
      /git push failed .*exit code 1/s,
    );
    expect(events.map(({ command, exitCode, ok }) => ({ command, exitCode, ok }))).toEqual([
      { command: 'fetch', exitCode: 0, ok: true },
      { command: 'push', exitCode: 1, ok: true },
      { command: 'push', exitCode: 1, ok: false },
    ]);
  });
});
