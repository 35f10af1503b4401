// The command grammar reads text anyone can type in a comment. Seeded random inputs built from the
// grammar's own words, separators and hostile characters must never throw, must give a command or
// an error that shows the usage (the time it takes is checked in test/integration/chatops-grammar-time.test.ts).
import { describe, expect, it } from 'vitest';
import { MAX_COMMAND_CHARS, findCommandLine, parseCommand } from '../../src/chatops/grammar.ts';
import { mulberry32 } from '../../src/sandbox/forge/faults.ts';

const SEED = 90_210;
const WORDS = [
  '/rollback',
  'status',
  'pause',
  'resume',
  'cancel',
  'help',
  '--',
  '--force',
  'flux-system/podinfo',
  'app/argocd/podinfo',
  'ks/a/b',
  'x/y/z/w',
  'deadbee',
  'DEADBEEF12',
  'a'.repeat(40),
  'inc-ks.flux-system.podinfo-0123456789ab',
  '@everyone',
  '<!-- rewind:chatops reply=1 -->',
  '```',
  '> /rollback a/b',
  '\u0000',
  '\u202e',
  '😀',
  '',
];
const SEPARATORS = [' ', '  ', '\t', '\n', '\r\n', ' -- ', '-'];

function randomInput(random: () => number, maxLength: number): string {
  let text = '';
  while (text.length < maxLength && random() > 0.05) {
    text +=
      WORDS[Math.floor(random() * WORDS.length)]! + SEPARATORS[Math.floor(random() * SEPARATORS.length)]!;
  }
  return text.slice(0, maxLength);
}

describe('the ChatOps grammar under random input', () => {
  it('never throws and always answers a command or an error with the usage (5000 inputs)', () => {
    const random = mulberry32(SEED);
    for (let i = 0; i < 5000; i += 1) {
      const input = randomInput(random, 1 + Math.floor(random() * 1200));
      const result = parseCommand(input);
      if (result.ok) {
        expect(input.trim().startsWith('/rollback')).toBe(true);
        if (result.command.kind === 'rollback' && result.command.commit !== undefined)
          expect(result.command.commit).toMatch(/^[0-9a-f]{7,40}$/);
      } else {
        expect(result.error, `seed ${SEED}, input ${i}`).toContain('Usage:');
      }
      const line = findCommandLine(input);
      if (line !== undefined) {
        expect(line.startsWith('/rollback')).toBe(true);
        expect(() => parseCommand(line)).not.toThrow();
      }
    }
  });

  it('refuses input over the length cap without looking at it', () => {
    const result = parseCommand(`/rollback a/b -- ${'x'.repeat(MAX_COMMAND_CHARS)}`);
    expect(result.ok).toBe(false);
  });

  it('reads --force on a rollback, anywhere before the reason', () => {
    const parsed = parseCommand('/rollback flux-system/podinfo --force deadbee -- hotfix');
    expect(parsed).toEqual({
      ok: true,
      command: {
        kind: 'rollback',
        app: expect.objectContaining({ namespace: 'flux-system', name: 'podinfo' }),
        commit: 'deadbee',
        reason: 'hotfix',
        force: true,
      },
    });
  });
});
