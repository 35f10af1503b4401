// The grammar reads text anyone can type: 1000-character worst cases (the length cap) must parse in
// time linear in their length, i.e. far below what a quadratic or backtracking parser would need.
// A timing check, so it lives here with a very generous bound, not among the unit tests.
import { describe, expect, it } from 'vitest';
import { MAX_COMMAND_CHARS, findCommandLine, parseCommand } from '../../src/chatops/grammar.ts';

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
