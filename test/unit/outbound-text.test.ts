import { describe, expect, it } from 'vitest';
import {
  codeSpan,
  markdownInert,
  plainLine,
  printable,
  redactSecrets,
  slackEscape,
} from '../../src/domain/outbound-text.ts';

const TOKEN = `ghp_${'A1b2C3d4E5'.repeat(4)}`;

describe('outbound text', () => {
  it('redacts GitHub tokens and URL credentials', () => {
    expect(redactSecrets(`kustomize build failed: ${TOKEN} at https://u:p@git.example/r`)).toBe(
      'kustomize build failed: [REDACTED] at https://[REDACTED]@git.example/r',
    );
  });

  it('removes control and format characters, keeps line feeds, replaces lone surrogates', () => {
    const text = `a\u202Eb\u200Bc\u0000d\u0007e\tf\r\ng\u2066h\ud800i\udc00j😀`;
    expect(printable(text)).toBe('abcde f \ngh\uFFFDi\uFFFDj😀');
    expect(() => JSON.parse(JSON.stringify(printable('x\ud800')))).not.toThrow();
    expect(JSON.stringify(printable('x\ud800'))).not.toMatch(/\\ud800/);
  });

  it('keeps one bounded line', () => {
    expect(plainLine('  one\ntwo\u202E  three ', 100)).toBe('one two three');
    expect(plainLine('abcdef', 4)).toBe('abc…');
  });

  it('escapes Slack mrkdwn control characters as Slack documents', () => {
    expect(slackEscape('<!channel> & <https://evil.example/login|Approve rollback>')).toBe(
      '&lt;!channel&gt; &amp; &lt;https://evil.example/login|Approve rollback&gt;',
    );
  });

  it('makes links, images, HTML, references and mentions inert in Markdown', () => {
    expect(markdownInert('[click](https://evil.example) ![x](https://evil.example/i.png)')).toBe(
      '\\[click\\](https://evil.example) !\\[x\\](https://evil.example/i.png)',
    );
    expect(markdownInert('ping @org/admins and @alice, not bob@example.com')).toBe(
      'ping `@org/admins` and `@alice`, not bob@example.com',
    );
    expect(markdownInert('<!-- rewind:incident=x --> &#64;alice')).toBe(
      '&lt;!-- rewind:incident=x --> &amp;#64;alice',
    );
    // The text's own backticks and backslashes cannot pair with the code span of a mention.
    expect(markdownInert('\\` @a `')).toBe('\\\\\\` `@a` \\`');
  });

  it('quotes text in a code span that it cannot leave', () => {
    expect(codeSpan('a`b <!-- x -->\u202E', 50)).toBe("`a'b !-- x --`");
  });
});
