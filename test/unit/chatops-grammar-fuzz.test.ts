// The command grammar reads text anyone can type in a comment. Seeded random inputs built from the
// grammar's own words, separators and hostile characters must never throw, must give a command or
// an error that shows the usage (the time it takes is checked in test/integration/chatops-grammar-time.test.ts).
// A command in a comment is only what GitHub shows as text: never code, quotes or hidden HTML,
// whatever text they hold.
import { describe, expect, it } from 'vitest';
import {
  MAX_COMMAND_CHARS,
  MAX_COMMENT_CHARS,
  findCommandLine,
  parseCommand,
} from '../../src/chatops/grammar.ts';
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
  '~~~',
  '````',
  '    ',
  '<!--',
  '-->',
  '<pre>',
  '<details>',
  '</details>',
  '`',
  '*',
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

const VISIBLE = '/rollback flux-system/visible';

describe('the command line of a comment is text GitHub shows, as CommonMark reads it', () => {
  // Each of these shows `/rollback flux-system/hidden` as code, as a quote, or not at all.
  const HIDDEN: Record<string, string> = {
    'indented code (4 spaces)':
      'For reference only...\n\n    /rollback flux-system/hidden\n\n... do not run it yet',
    'indented code (a tab)': 'Logs:\n\n\t/rollback flux-system/hidden',
    'a ``` fence holding ~~~': '```\n~~~\n/rollback flux-system/hidden\n~~~\n```',
    'a ```` fence holding ```': '````\n```\n/rollback flux-system/hidden\n```\n````',
    'a ~~~ fence holding ```': '~~~\n```\n/rollback flux-system/hidden\n```\n~~~',
    'an HTML comment': '<!--\n/rollback flux-system/hidden\n-->',
    'an HTML comment inside a paragraph': 'Note <!--\n/rollback flux-system/hidden\n-->',
    'a <pre> block': '<pre>\n\n/rollback flux-system/hidden\n\n</pre>',
    'a collapsed <details>':
      '<details><summary>old run</summary>\n\n/rollback flux-system/hidden\n\n</details>',
    'a lazy block quote line': '> they wrote\n/rollback flux-system/hidden',
    'a block quote': '> /rollback flux-system/hidden',
    'a list in a block quote': '> - /rollback flux-system/hidden',
    'a code span over lines': 'Try `x\n/rollback flux-system/hidden` later',
    'strikethrough over lines': '~~x\n/rollback flux-system/hidden~~',
    'a heading': '# /rollback flux-system/hidden',
  };

  for (const [name, hidden] of Object.entries(HIDDEN)) {
    it(`ignores /rollback in ${name}, and finds the visible one after it`, () => {
      expect(findCommandLine(hidden)).toBeUndefined();
      expect(findCommandLine(`${hidden}\n\n${VISIBLE} -- now`)).toBe(`${VISIBLE} -- now`);
    });
  }

  it('finds a command at the start of any paragraph line, in a list item, after indentation', () => {
    expect(findCommandLine(`Latency doubled.\n${VISIBLE}`)).toBe(VISIBLE);
    expect(findCommandLine(`Latency doubled.\n   ${VISIBLE}\r\nthanks`)).toBe(VISIBLE);
    expect(findCommandLine(`- first\n- ${VISIBLE}`)).toBe(VISIBLE);
    expect(findCommandLine(`<details>\n\nold\n\n</details>\n\n${VISIBLE}`)).toBe(VISIBLE);
    // The line as written, tags and marks included (the grammar refuses them before the reason).
    expect(findCommandLine(`${VISIBLE} -- *very* slow, \`p99\` <b>doubled</b>\nmore`)).toBe(
      `${VISIBLE} -- *very* slow, \`p99\` <b>doubled</b>`,
    );
    expect(findCommandLine(`see ${VISIBLE}`)).toBeUndefined();
    expect(findCommandLine(`/rollbackx flux-system/podinfo`)).toBeUndefined();
  });

  it('reads no command from a comment longer than GitHub allows', () => {
    expect(findCommandLine(`${VISIBLE}\n\n${'x'.repeat(MAX_COMMENT_CHARS)}`)).toBeUndefined();
  });

  it('finds nothing in random text held in code, a quote or an HTML comment (1000 inputs)', () => {
    const random = mulberry32(SEED + 1);
    for (let i = 0; i < 1000; i += 1) {
      const text = randomInput(random, 1 + Math.floor(random() * 600));
      const lines = text.split(/\r?\n/);
      const longestTicks = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
      const wrapped = [
        `Output:\n\n${lines.map((line) => `    ${line}`).join('\n')}`,
        `${'`'.repeat(Math.max(3, longestTicks + 1))}\n${text}\n${'`'.repeat(Math.max(3, longestTicks + 1))}`,
        lines.map((line) => `> ${line}`).join('\n'),
        `<!--\n${text.replaceAll('-->', '--')}\n-->`,
      ];
      for (const body of wrapped) {
        expect(
          findCommandLine(body),
          `seed ${SEED + 1}, input ${i}: ${JSON.stringify(body)}`,
        ).toBeUndefined();
        expect(findCommandLine(`${body}\n\n${VISIBLE}`), `seed ${SEED + 1}, input ${i}`).toBe(VISIBLE);
      }
    }
  });
});
