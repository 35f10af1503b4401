// A Slack request names the URL its outcome is posted to (`response_url`). The request is signed,
// but Rewind still follows that URL only to the configured hosts (Slack's own by default), over
// https, with no credentials in it and no other port: a leaked signing secret or a bug in Slack
// cannot turn Rewind into a client for anything else on its network.

export interface ResponseUrlPolicy {
  /** `host` or `host:port`, lowercase; `hooks.slack.com` by default. */
  readonly hosts: readonly string[];
  /** Tests only: http:// is accepted too (still only on the hosts above). */
  readonly allowInsecure: boolean;
}

export type ResponseUrlCheck =
  { readonly ok: true; readonly url: URL } | { readonly ok: false; readonly reason: string };

const MAX_URL_CHARS = 2048;

export function checkResponseUrl(text: string | undefined, policy: ResponseUrlPolicy): ResponseUrlCheck {
  if (text === undefined || text === '') return { ok: false, reason: 'no response_url' };
  if (text.length > MAX_URL_CHARS) return { ok: false, reason: 'response_url too long' };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: 'response_url is not a URL' };
  }
  const schemeOk = url.protocol === 'https:' || (policy.allowInsecure && url.protocol === 'http:');
  if (!schemeOk) return { ok: false, reason: `response_url scheme ${url.protocol} not allowed` };
  if (url.username !== '' || url.password !== '')
    return { ok: false, reason: 'response_url has credentials' };
  // URL drops the scheme's default port, so `host` is `name` or `name:non-default-port`.
  const host = url.host.toLowerCase();
  const allowed = policy.hosts.some((h) => h.toLowerCase() === host);
  return allowed ? { ok: true, url } : { ok: false, reason: `response_url host ${host} not allowed` };
}
