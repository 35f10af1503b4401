import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/domain/errors.ts';
import { assertRemoteAllowed, type GitRemoteUrl, parseGitRemoteUrl } from '../../src/git/remote-url.ts';

describe('one parser for every Git URL form, with git-fetch(1) rules for scp-like vs local', () => {
  const cases: [string, GitRemoteUrl][] = [
    [
      'https://github.com/org/repo',
      { protocol: 'https', host: 'github.com', path: '/org/repo', syntax: 'url' },
    ],
    [
      'https://git@GitHub.com:8443/org/repo.git',
      {
        protocol: 'https',
        host: 'github.com',
        port: 8443,
        user: 'git',
        path: '/org/repo.git',
        syntax: 'url',
      },
    ],
    ['http://10.0.0.5/r.git', { protocol: 'http', host: '10.0.0.5', path: '/r.git', syntax: 'url' }],
    [
      'ssh://git@github.com/org/repo.git',
      { protocol: 'ssh', host: 'github.com', user: 'git', path: '/org/repo.git', syntax: 'url' },
    ],
    [
      'ssh://git@[::1]:2222/r.git',
      { protocol: 'ssh', host: '::1', port: 2222, user: 'git', path: '/r.git', syntax: 'url' },
    ],
    ['git+ssh://host/r.git', { protocol: 'ssh', host: 'host', path: '/r.git', syntax: 'url' }],
    [
      'git://host.xz:9418/r.git',
      { protocol: 'git', host: 'host.xz', port: 9418, path: '/r.git', syntax: 'url' },
    ],
    [
      'git@github.com:org/repo.git',
      { protocol: 'ssh', host: 'github.com', user: 'git', path: 'org/repo.git', syntax: 'scp' },
    ],
    // The bypasses: scp-like syntax without a user, and a bracketed IPv6 host.
    ['10.0.0.5:org/repo.git', { protocol: 'ssh', host: '10.0.0.5', path: 'org/repo.git', syntax: 'scp' }],
    ['[::1]:/r.git', { protocol: 'ssh', host: '::1', path: '/r.git', syntax: 'scp' }],
    ['git@[fe80::1]:r.git', { protocol: 'ssh', host: 'fe80::1', user: 'git', path: 'r.git', syntax: 'scp' }],
    ['[host.xz:2222]:r.git', { protocol: 'ssh', host: 'host.xz', port: 2222, path: 'r.git', syntax: 'scp' }],
    // scp-like syntax has no port: "22/path" is the path, as git reads it.
    ['host:22/path', { protocol: 'ssh', host: 'host', path: '22/path', syntax: 'scp' }],
    ['host:~user/r.git', { protocol: 'ssh', host: 'host', path: '~user/r.git', syntax: 'scp' }],
    ['file:///tmp/x', { protocol: 'file', host: '', path: '/tmp/x', syntax: 'url' }],
    ['file://localhost/tmp/x', { protocol: 'file', host: '', path: '/tmp/x', syntax: 'url' }],
    ['/tmp/x', { protocol: 'file', host: '', path: '/tmp/x', syntax: 'local' }],
    ['./x', { protocol: 'file', host: '', path: './x', syntax: 'local' }],
    ['../x', { protocol: 'file', host: '', path: '../x', syntax: 'local' }],
    ['x', { protocol: 'file', host: '', path: 'x', syntax: 'local' }],
    // A slash before the first colon makes it a local path.
    ['./foo:bar', { protocol: 'file', host: '', path: './foo:bar', syntax: 'local' }],
    ['/srv/a:b/r.git', { protocol: 'file', host: '', path: '/srv/a:b/r.git', syntax: 'local' }],
  ];
  it.each(cases)('parses %s', (url, expected) => {
    expect(parseGitRemoteUrl(url, { windows: false })).toEqual(expected);
  });

  it('reads a drive letter as a local path on Windows only, as git does', () => {
    expect(parseGitRemoteUrl('C:\\repos\\fleet', { windows: true }).syntax).toBe('local');
    expect(parseGitRemoteUrl('C:/repos/fleet', { windows: true }).syntax).toBe('local');
    expect(parseGitRemoteUrl('C:repos', { windows: false })).toEqual({
      protocol: 'ssh',
      host: 'c',
      path: 'repos',
      syntax: 'scp',
    });
  });

  const refused: [string, RegExp][] = [
    ['ssh://-oProxyCommand=touch${IFS}/tmp/pwned/r.git', /starts with "-"/],
    ['ssh://%2DoProxyCommand=x/r.git', /starts with "-"/],
    ['ssh://-oProxyCommand=x@host/r.git', /user name starts with "-"/],
    ['-oProxyCommand=x:r.git', /git option/],
    ['--upload-pack=touch /tmp/pwned', /whitespace|git option/],
    ['host:-r.git', /path starts with "-"/],
    ['ext::sh -c touch% /tmp/pwned', /whitespace|remote helper/],
    ['ext::sh%20-c%20id', /remote helper/],
    ['fd::17', /remote helper/],
    ['https://github.com/org/repo\n.git', /control characters/],
    ['https://github.com/org/re%0apo', /control characters/],
    ['https://github.com/org/re%00po', /control characters/],
    ['https://github.com/org/re po', /whitespace/],
    ['https://user:ghp_secret@github.com/org/repo', /embeds a password.*git\.credentials\.tokenEnv/],
    ['ssh://git:pw@host/r.git', /embeds a password/],
    ['ftp://host/r.git', /"ftp" protocol is not supported/],
    ['svn://host/r', /"svn" protocol is not supported/],
    ['file://evil.example/r.git', /file:\/\/\/absolute\/path/],
    ['https://github.com', /no repository path/],
    ['https://host:99999/r.git', /not a port number/],
    ['https://ho$t/r.git', /not a host name/],
    ['host:', /no repository path/],
    ['@host:r.git', /empty user name/],
    ['', /empty/],
  ];
  it.each(refused)('refuses %s with a non-retryable error saying why', (url, why) => {
    let caught: unknown;
    try {
      parseGitRemoteUrl(url, { windows: false });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidInputError);
    const error = caught as InvalidInputError;
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(why);
    expect(error.message).not.toContain('ghp_secret');
  });
});

describe('remote policy: transports and trusted hosts, checked before git runs', () => {
  const trusted = { allowedProtocols: ['https', 'ssh'] as const, allowedHosts: ['github.com', '[::1]'] };

  it.each(['10.0.0.5:org/repo.git', 'evil.example:org/repo.git', 'git@evil.example:o/r.git', '[::2]:/r.git'])(
    'refuses the scp-like %s on an untrusted host',
    (url) => {
      expect(() => assertRemoteAllowed(url, trusted)).toThrow(/not a trusted Git host.*git\.allowedHosts/);
    },
  );

  it('accepts the trusted hosts in every syntax, IPv6 brackets or not', () => {
    expect(assertRemoteAllowed('git@github.com:org/repo.git', trusted).host).toBe('github.com');
    expect(assertRemoteAllowed('https://GITHUB.com/org/repo', trusted).host).toBe('github.com');
    expect(assertRemoteAllowed('[::1]:/r.git', trusted).host).toBe('::1');
  });

  it('refuses local paths and file:// URLs unless git.allowFileRemotes is on', () => {
    for (const url of ['/tmp/x', './x', 'file:///tmp/x']) {
      expect(() => assertRemoteAllowed(url, trusted)).toThrow(/set git\.allowFileRemotes: true/);
      expect(assertRemoteAllowed(url, { allowedProtocols: ['file'] }).protocol).toBe('file');
    }
  });

  it('refuses transports git is not allowed to use (http, git://)', () => {
    expect(() => assertRemoteAllowed('http://github.com/org/repo', trusted)).toThrow(
      /does not let git use http/,
    );
    expect(() => assertRemoteAllowed('git://github.com/org/repo', trusted)).toThrow(
      /does not let git use git/,
    );
  });

  it('accepts any host when no list and no credentials are configured', () => {
    expect(assertRemoteAllowed('10.0.0.5:org/repo.git', { allowedProtocols: ['ssh'] }).host).toBe('10.0.0.5');
  });
});
