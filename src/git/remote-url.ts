// The one parser for Git remote URLs. Every GitOps source URL goes through it before Rewind
// decides whether to trust it and before any git process sees it, so the trust check and git
// agree on what the URL means (host, transport) and hostile URLs never reach `git fetch`.
//
// Forms, after git-fetch(1) "GIT URLS":
//   ssh://[user@]host[:port]/path   git://host[:port]/path   http[s]://host[:port]/path
//   file:///path   [user@]host:path (scp-like)   /abs/path, ./rel, rel (local paths)
// How git tells them apart (git's transport.c transport_get, url.c is_url/url_is_local_not_ssh,
// connect.c parse_connect_url/host_end):
//   1. `<transport>::<address>` (scheme characters, then "::") runs the remote helper
//      git-remote-<transport>: `ext::` runs any command, so every helper is refused.
//   2. `<scheme>://` is a URL (scheme: an alphanumeric, then alphanumerics and "+.-"); git
//      percent-decodes it before connecting, so checks apply to the decoded parts. Schemes other
//      than ssh, git, file, http(s) go to a helper too and are refused.
//   3. Otherwise a colon before the first slash makes it scp-like ssh: "foo:bar" is a host, while
//      "./foo:bar" and "/x:y" are local paths. On Windows only, a drive letter ("C:\x", "C:/x") is
//      local. A leading "[...]" (after an optional "user@") is one host, so "[::1]:/r.git" is ssh
//      to ::1 (and "[host:port]" carries a port).
//   4. Anything else is a local path.
// Security rules on top (git itself refuses some of them only late, inside `git fetch`): no
// option-looking host, user or path ("-oProxyCommand=..."), no control characters or whitespace,
// no password in a URL (credentials come from git.credentials.tokenEnv, askpass), hosts limited
// to letters, digits, "._-" or a bracketed IPv6 address.
import { InvalidInputError } from '../domain/errors.ts';

export type GitTransport = 'https' | 'http' | 'ssh' | 'git' | 'file';

export interface GitRemoteUrl {
  /** The transport git will use; local paths are `file` (git's protocol.file.allow covers both). */
  readonly protocol: GitTransport;
  /** Lower-case host without brackets (`::1`); '' for local repositories. */
  readonly host: string;
  readonly port?: number;
  readonly user?: string;
  /** Repository path as git receives it (decoded for URLs). */
  readonly path: string;
  /** How it was written: `scheme://` URL, scp-like `[user@]host:path`, or a local path. */
  readonly syntax: 'url' | 'scp' | 'local';
}

export interface ParseRemoteOptions {
  /**
   * Windows drive letters (`C:\repo`) are local paths; elsewhere `C:repo` is scp-like, as in git.
   * Default: the platform git runs on, this one.
   */
  readonly windows?: boolean;
}

const SCHEME_CHAR = /[A-Za-z0-9+.-]/;
const URL_SCHEMES: Readonly<Record<string, GitTransport>> = {
  https: 'https',
  http: 'http',
  ssh: 'ssh',
  'git+ssh': 'ssh', // deprecated spellings git still accepts
  'ssh+git': 'ssh',
  git: 'git',
  file: 'file',
};
const HOST_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;
// C0 controls, DEL, and any Unicode whitespace: git, ssh and curl read these differently.
// eslint-disable-next-line no-control-regex
const CONTROL_OR_SPACE = /[\u0000-\u001f\u007f\s]/u;

const FIX_URL = 'correct spec.url of the GitRepository';

function refuse(url: string, why: string, todo = FIX_URL): never {
  throw new InvalidInputError(`Refusing the Git remote "${printable(url)}": ${why}; ${todo}.`);
}

/** The URL as it may be shown: control characters escaped, long values cut. */
function printable(url: string): string {
  const shown = url.replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
  return shown.length > 200 ? `${shown.slice(0, 200)}...` : shown;
}

/** Parses any Git remote URL form; throws InvalidInputError (never retried) for what Rewind refuses. */
export function parseGitRemoteUrl(url: string, options: ParseRemoteOptions = {}): GitRemoteUrl {
  if (url === '') refuse(url, 'it is empty');
  if (CONTROL_OR_SPACE.test(url)) refuse(url, 'it contains whitespace or control characters');
  if (url.startsWith('-')) refuse(url, 'it starts with "-" and would be read as a git option');

  let schemeEnd = 0;
  while (schemeEnd < url.length && SCHEME_CHAR.test(url[schemeEnd]!)) schemeEnd++;
  const schemeOk = schemeEnd > 0 && /[A-Za-z0-9]/.test(url[0]!);
  if (url.startsWith('::', schemeEnd)) {
    refuse(
      url,
      `"${url.slice(0, schemeEnd)}::" runs a git remote helper (ext:: runs any command)`,
      'use an https:// or ssh URL in spec.url of the GitRepository',
    );
  }
  if (schemeOk && url.startsWith('://', schemeEnd)) {
    return parseSchemeUrl(url, url.slice(0, schemeEnd).toLowerCase(), url.slice(schemeEnd + 3));
  }

  const colon = url.indexOf(':');
  const slash = url.indexOf('/');
  const driveLetter = (options.windows ?? process.platform === 'win32') && /^[A-Za-z]:/.test(url);
  if (colon === -1 || (slash !== -1 && slash < colon) || driveLetter) {
    return { protocol: 'file', host: '', path: url, syntax: 'local' };
  }
  return parseScpLike(url);
}

function parseScpLike(url: string): GitRemoteUrl {
  // connect.c host_end: a "[...]" right at the start or after "user@" is one host, colons and all.
  const bracket = /^(?:([^@[\]/]*)@)?\[([^\]]*)\]:(.*)$/.exec(url);
  let user: string | undefined;
  let host: string;
  let port: number | undefined;
  let path: string;
  if (bracket) {
    user = bracket[1];
    const inside = bracket[2]!;
    path = bracket[3]!;
    // "[host:port]:path" carries a port; more than one colon is an IPv6 address.
    const hostPort = /^([^:]*):(\d+)$/.exec(inside);
    if (hostPort) {
      host = hostPort[1]!;
      port = parsePort(url, hostPort[2]!);
    } else {
      host = inside;
    }
  } else {
    const colon = url.indexOf(':');
    const authority = url.slice(0, colon);
    path = url.slice(colon + 1);
    const at = authority.lastIndexOf('@');
    user = at === -1 ? undefined : authority.slice(0, at);
    host = authority.slice(at + 1);
  }
  checkUser(url, user);
  checkHost(url, host);
  checkRemotePath(url, path);
  return {
    protocol: 'ssh',
    host: host.toLowerCase(),
    ...(port === undefined ? {} : { port }),
    ...(user === undefined ? {} : { user }),
    path,
    syntax: 'scp',
  };
}

function parseSchemeUrl(url: string, scheme: string, rest: string): GitRemoteUrl {
  const protocol = URL_SCHEMES[scheme];
  if (protocol === undefined) {
    refuse(
      url,
      `the "${scheme}" protocol is not supported (git would hand it to a remote helper)`,
      'use https://, ssh:// or scp-like user@host:path in spec.url of the GitRepository',
    );
  }
  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const path = decode(url, slash === -1 ? '' : rest.slice(slash));
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? undefined : decode(url, authority.slice(0, at));
  const hostPort = authority.slice(at + 1);

  if (protocol === 'file') {
    // git ignores the host of a file:// URL; accept only the forms that name this machine.
    if (userinfo !== undefined || (hostPort !== '' && hostPort.toLowerCase() !== 'localhost')) {
      refuse(url, 'a file:// URL names a local path, not a host', 'write file:///absolute/path');
    }
    if (!path.startsWith('/'))
      refuse(url, 'a file:// URL needs an absolute path', 'write file:///absolute/path');
    checkDecoded(url, path);
    return { protocol, host: '', path, syntax: 'url' };
  }

  if (userinfo?.includes(':') === true) {
    refuse(
      url,
      'it embeds a password (it would be logged and sent to any host)',
      'remove it from spec.url and name the token in git.credentials.tokenEnv',
    );
  }
  const user = userinfo;
  const ipv6 = /^\[([^\]]*)\](?::(.*))?$/.exec(hostPort);
  let host: string;
  let portText: string | undefined;
  if (ipv6) {
    host = decode(url, ipv6[1]!);
    portText = ipv6[2];
  } else {
    const colon = hostPort.indexOf(':');
    host = decode(url, colon === -1 ? hostPort : hostPort.slice(0, colon));
    portText = colon === -1 ? undefined : hostPort.slice(colon + 1);
  }
  checkUser(url, user);
  checkHost(url, host);
  const port = portText === undefined || portText === '' ? undefined : parsePort(url, portText);
  if (path === '' || path === '/') refuse(url, 'it names no repository path');
  checkDecoded(url, path);
  return {
    protocol,
    host: host.toLowerCase(),
    ...(port === undefined ? {} : { port }),
    ...(user === undefined ? {} : { user }),
    path,
    syntax: 'url',
  };
}

function decode(url: string, part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return refuse(url, 'it has a malformed %-escape');
  }
}

/** What git receives after %-decoding must be as clean as the raw URL. */
function checkDecoded(url: string, part: string): void {
  if (CONTROL_OR_SPACE.test(part)) refuse(url, 'it contains whitespace or control characters');
}

function checkUser(url: string, user: string | undefined): void {
  if (user === undefined) return;
  checkDecoded(url, user);
  if (user === '') refuse(url, 'it has an empty user name before "@"');
  // ssh gets "user@host" as one argument: a leading "-" would make it an ssh option.
  if (user.startsWith('-')) refuse(url, 'its user name starts with "-" and would be read as an ssh option');
}

function checkHost(url: string, host: string): void {
  if (host === '') refuse(url, 'it names no host');
  if (host.startsWith('-')) {
    refuse(url, `its host "${printable(host)}" starts with "-" and would be read as an ssh option`);
  }
  if (!HOST_NAME.test(host) && !(host.includes(':') && IPV6.test(host))) {
    refuse(
      url,
      `"${printable(host)}" is not a host name (letters, digits, ".", "-", "_") or a bracketed IPv6 address`,
    );
  }
}

function checkRemotePath(url: string, path: string): void {
  if (path === '') refuse(url, 'it names no repository path');
  if (path.startsWith('-')) refuse(url, 'its path starts with "-" and would be read as an option');
}

function parsePort(url: string, text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65_535)) refuse(url, `"${printable(text)}" is not a port number`);
  return port;
}

export interface RemotePolicy {
  /** Transports Rewind lets git use; `file` (local paths too) only with git.allowFileRemotes. */
  readonly allowedProtocols: readonly GitTransport[];
  /** Hosts Rewind may fetch from and push to; undefined accepts any host (no credentials, no list). */
  readonly allowedHosts?: readonly string[];
}

/** A host as written in git.allowedHosts, compared the way parsed hosts are: lower-case, no brackets. */
export function normaliseHost(host: string): string {
  return host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

/**
 * Parses `url` and checks it against Rewind's remote policy; throws InvalidInputError with what to
 * change. Called before any git process sees the URL.
 */
export function assertRemoteAllowed(
  url: string,
  policy: RemotePolicy,
  options: ParseRemoteOptions = {},
): GitRemoteUrl {
  const remote = parseGitRemoteUrl(url, options);
  if (!policy.allowedProtocols.includes(remote.protocol)) {
    if (remote.protocol === 'file') {
      refuse(
        url,
        'local repositories and file:// URLs are off',
        'set git.allowFileRemotes: true in rewind.yaml (sandbox and tests only)',
      );
    }
    refuse(
      url,
      `Rewind does not let git use ${remote.protocol}:// (allowed: ${policy.allowedProtocols.join(', ')})`,
      'use an https:// or ssh URL in spec.url of the GitRepository',
    );
  }
  if (remote.protocol !== 'file' && policy.allowedHosts !== undefined) {
    const hosts = policy.allowedHosts.map(normaliseHost);
    if (!hosts.includes(remote.host)) {
      refuse(
        url,
        `its host ${remote.host} is not a trusted Git host (git.allowedHosts: ${hosts.join(', ') || 'none'}) and Rewind does not send credentials there`,
        'add the host to git.allowedHosts in rewind.yaml if it is yours',
      );
    }
  }
  return remote;
}
