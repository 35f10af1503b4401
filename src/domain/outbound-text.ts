// The one place untrusted text (commit subjects, cluster and alert messages, what people type in
// ChatOps) is made safe before Rewind stores it or sends it anywhere. Pure functions, each for one
// concern, composed at every boundary:
//
// - redactSecrets: credentials out, by pattern (before a record is written, a log line, any send);
// - printable: no control or format characters (bidi overrides, zero-width characters, NUL, BEL),
//   no lone surrogates (which strict JSON readers such as jq reject);
// - cleanText, plainLine: the stored form: redacted and printable; plainLine also one bounded line;
// - slackEscape: Slack mrkdwn's escaping (`&`, `<`, `>`), so no `<!channel>` or `<url|label>`;
// - markdownInert: GitHub Markdown that renders as the text it was: no links, images, HTML or mentions.
//
// Stored text is plain (plainLine); each medium escapes it when it is written out, so nothing is
// escaped twice.

const REDACTED = '[REDACTED]';

// Ordered: PEM blocks first (multi-line), then URL credentials, then bare token shapes.
const SECRET_PATTERNS: readonly [RegExp, string][] = [
  [
    /-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY)-----[\s\S]*?(?:-----END \1-----|$)/g,
    `-----BEGIN $1-----${REDACTED}-----END $1-----`,
  ],
  // x-access-token:<token>@host and any user:password@ in a URL authority. Linear on any text (these
  // run on commit messages and cluster events): a token stops at `:` (no GitHub token has one, and
  // one inside a URL is caught by the next pattern), so `x-access-token:` repeated cannot make each
  // start rescan the rest; a scheme is at most 32 characters, so `a.a.a.a...` cannot either.
  [/\bx-access-token:[^@\s/:]+@/gi, `x-access-token:${REDACTED}@`],
  [/\b([a-z][a-z0-9+.-]{0,31}:\/\/)[^/\s:@]+:[^/\s@]+@/gi, `$1${REDACTED}@`],
  [/\b(Bearer|token|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, `$1 ${REDACTED}`],
  [/\bgithub_pat_[A-Za-z0-9_]{20,}/g, REDACTED],
  // GitHub tokens: classic fixed-length ones and the variable-length stateless installation tokens
  // (`ghs_<app id>_<JWT>`, dots, dashes and underscores included).
  [/\bgh[pousr]_[A-Za-z0-9][A-Za-z0-9._-]{19,}/g, REDACTED],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/g, REDACTED],
  [/\bxapp-[A-Za-z0-9-]{10,}/g, REDACTED],
  // Slack incoming-webhook and response URLs carry their credential in the path.
  [/\b(hooks\.slack\.com\/[a-z]{1,20}\/)[A-Za-z0-9/_-]+/gi, `$1${REDACTED}`],
];

/** Removes credentials from free text (error messages, git stderr, commit subjects) by pattern. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

// Control (Cc), format (Cf: bidi overrides and isolates, zero-width characters, soft hyphen, BOM,
// tags), line and paragraph separators, and lone surrogates (Cs: a paired one is one code point).
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;

/**
 * Text without control or format characters and with well-formed UTF-16: a line feed stays, tab,
 * carriage return and the line/paragraph separators become spaces, a lone surrogate becomes U+FFFD,
 * everything else of those classes is removed.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    if (c === '\n') return c;
    if (c === '\t' || c === '\r' || c === '\u2028' || c === '\u2029') return ' ';
    return /\p{Cs}/u.test(c) ? '\uFFFD' : '';
  });
}

/** Untrusted text as Rewind keeps, logs and sends it: redacted and printable (line feeds kept). */
export function cleanText(text: string): string {
  return printable(redactSecrets(text));
}

/** Untrusted text as one line: cleanText, whitespace collapsed, at most `maxChars` (`…` when cut). */
export function plainLine(text: string, maxChars: number): string {
  const line = cleanText(text).replace(/\s+/g, ' ').trim();
  return line.length > maxChars ? `${line.slice(0, Math.max(0, maxChars - 1))}…` : line;
}

/** Slack mrkdwn escaping, as Slack documents it: `&` -> `&amp;`, `<` -> `&lt;`, `>` -> `&gt;`. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Untrusted text embedded in a Slack message: plainLine, then slackEscape. */
export function slackLine(text: string, maxChars: number): string {
  return slackEscape(plainLine(text, maxChars));
}

// A GitHub @mention (`@alice`, `@org/team`) not inside a word (an e-mail address is no mention).
const MENTION = /(?<![\p{L}\p{N}_.+-])@[A-Za-z0-9][A-Za-z0-9_-]*(?:\/[A-Za-z0-9][A-Za-z0-9_.-]*)?/gu;

function escapeMarkdown(text: string): string {
  return (
    text
      // Backslashes first, so an escape below cannot be undone by one in the text.
      .replace(/\\/g, '\\\\')
      // No character reference that renders as a character escaped below (`&#64;`, `&#91;`).
      .replace(/&(?=#?[A-Za-z0-9]+;)/g, '&amp;')
      // No code spans of the text's own (they could pair with the backticks around a mention).
      .replace(/`/g, '\\`')
      // No link or image: `[label](url)`, `![alt](url)`, `[label][ref]`.
      .replace(/\[/g, '\\[')
      .replace(/\]/g, '\\]')
      // No HTML (tags, comments, a fake `<!-- rewind:... -->` marker) and no `<https://...>` autolink.
      .replace(/</g, '&lt;')
  );
}

/**
 * Text embedded in GitHub Markdown (PR bodies, comments; also commit messages, which GitHub shows
 * and may copy into a PR) rendered as itself: Markdown and HTML characters escaped with a
 * backslash or as entities, and each @mention wrapped in a code span (GitHub notifies nobody and
 * links nothing inside code). A bare URL stays visible as the URL it is.
 */
export function markdownInert(text: string): string {
  let out = '';
  let last = 0;
  for (const match of text.matchAll(MENTION)) {
    out += `${escapeMarkdown(text.slice(last, match.index))}\`${match[0]}\``;
    last = match.index + match[0].length;
  }
  return out + escapeMarkdown(text.slice(last));
}

/** Untrusted text embedded in Markdown (or a commit message): plainLine, then markdownInert. */
export function markdownLine(text: string, maxChars: number): string {
  return markdownInert(plainLine(text, maxChars));
}

/**
 * A code span (Markdown and Slack alike) holding `text` as one printable line: its backticks become
 * `'` and `<`/`>` are dropped, so it can neither end the span nor carry a tag or a marker.
 */
export function codeSpan(text: string, maxChars: number): string {
  return `\`${plainLine(text, maxChars).replace(/`/g, "'").replace(/[<>]/g, '')}\``;
}
