// The grammar reads text anyone can type: 1000-character worst cases (the length cap) must parse in
// time linear in their length, i.e. far below what a quadratic or backtracking parser would need.
// Comments are read as CommonMark: the longest comment read, built from the constructs that make
// Markdown parsers quadratic (nesting, unclosed brackets, emphasis and code delimiters), must parse
// in time linear in its length too. Timing checks, so they live here with very generous bounds,
// not among the unit tests.
import { describe, expect, it } from 'vitest';
import {
  MAX_COMMAND_CHARS,
  MAX_COMMENT_CHARS,
  findCommandLine,
  parseCommand,
} from '../../src/chatops/grammar.ts';

describe('the ChatOps grammar on 1000-character inputs', () => {
  it('takes time linear in the input: 1000-character worst cases parse about as fast as short ones', () => {
    const hostile = [
      '/rollback ' + ' '.repeat(MAX_COMMAND_CHARS - 10),
      '/rollback ' + '-'.repeat(MAX_COMMAND_CHARS - 10),
      '/rollback ' + 'a/'.repeat((MAX_COMMAND_CHARS - 10) / 2),
      '/rollback a/b ' + ' -- '.repeat((MAX_COMMAND_CHARS - 14) / 4),
      '```\n'.repeat(250) + '/rollback a/b',
    ];
    // Each input parsed many times; the bound is far above linear and far below quadratic
    // (1000^2 character steps would be a million per parse).
    const started = process.hrtime.bigint();
    for (let round = 0; round < 200; round += 1)
      for (const input of hostile) {
        parseCommand(input);
        findCommandLine(input);
      }
    const perParseUs = Number(process.hrtime.bigint() - started) / 1000 / (200 * hostile.length);
    // Linear: a few microseconds per parse; quadratic would be around a million character steps.
    expect(perParseUs).toBeLessThan(2_000);
  });
});

describe('finding the command in the longest comment read', () => {
  it('takes time linear in the comment: hostile Markdown of the maximum length is read in well under seconds', () => {
    const fill = (unit: string) =>
      unit.repeat(Math.ceil(MAX_COMMENT_CHARS / unit.length)).slice(0, MAX_COMMENT_CHARS);
    const hostile = {
      quotes: fill('>'),
      'quotes with spaces': fill('> '),
      lists: fill('- '),
      'quote and list': fill('> - '),
      brackets: fill('['),
      'unclosed links': fill('[a]('),
      'links without ends': fill('[a](b'),
      emphasis: fill('*a _'),
      'nested emphasis': `${'**'.repeat(MAX_COMMENT_CHARS / 4 - 1)}a${'**'.repeat(MAX_COMMENT_CHARS / 4 - 1)}`,
      backticks: Array.from({ length: 500 }, (_, i) => `${'`'.repeat(i + 1)}a`)
        .join('')
        .slice(0, MAX_COMMENT_CHARS),
      'html comments': fill('<!--'),
      tags: fill('<a '),
      'setext headings': fill('a\n=\n'),
      'lazy lines': fill('> a\nb\n'),
      fences: fill('```\n'),
      'indented lines': fill('    /rollback a/b\n'),
    };
    for (const [name, body] of Object.entries(hostile)) {
      const started = process.hrtime.bigint();
      findCommandLine(body);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // Linear: well under a second even on a busy machine; a quadratic parser needs a minute or more.
      expect(ms, name).toBeLessThan(5_000);
    }
  }, 120_000);
});
