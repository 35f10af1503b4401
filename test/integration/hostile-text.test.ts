// Text from webhooks, pull requests and commits is written by anyone who can open a PR or push a
// commit. Every parser that reads it must take time linear in its length: a regex that backtracks
// from every start position turns one signed 1 MB delivery into a frozen process. The
// bounds are generous wall-clock limits for a busy 2-core machine; the quadratic versions took
// seconds to minutes on the same inputs.
import { execFileSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  MAX_MARKED_TEXT_LENGTH,
  isValidBranchName,
  parseRollbackMarkers,
  sanitizeRefComponent,
} from '../../src/domain/branch.ts';
import { redact } from '../../src/domain/errors.ts';
import { createLogger } from '../../src/logging.ts';

const BOUND_MS = 200;
const SHA = 'a'.repeat(40);

function fill(unit: string, length: number): string {
  return unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
}

function elapsedMs(run: () => unknown): number {
  const start = performance.now();
  run();
  return performance.now() - start;
}

/** Bodies shaped to make a backtracking marker regex rescan the rest of the text from every start. */
function hostileMarkerBodies(length: number): Record<string, string> {
  return {
    'repeated marker prefix without spaces': fill('<!--rewind:incident=', length),
    'repeated marker prefix': fill('<!-- rewind:incident=', length),
    'repeated comment openers': fill('<!--', length),
    'one prefix then a long token': `<!-- rewind:incident=${'a'.repeat(length)}`,
    'one prefix then a long run of id characters and spaces': `<!-- rewind:incident=inc-a${' '.repeat(length)}`,
    'prefixes sharing one long whitespace run': `${fill('<!--rewind:incident=x', length / 2)}${' '.repeat(length / 2)}`,
    'almost-markers without a closing': fill(
      `<!-- rewind:incident=inc-a-000000000000 culprit=${SHA} `,
      length,
    ),
    'a comment opener then whitespace': `<!--${'\t'.repeat(length)}`,
  };
}

describe('parsing rollback markers out of hostile bodies', () => {
  it('takes milliseconds for every hostile shape at the longest body GitHub can store', () => {
    for (const [shape, body] of Object.entries(hostileMarkerBodies(MAX_MARKED_TEXT_LENGTH))) {
      let markers: unknown[] = [];
      const ms = elapsedMs(() => (markers = parseRollbackMarkers(body)));

      expect({ shape, markers, fast: ms < BOUND_MS }).toEqual({ shape, markers: [], fast: true });
    }
  });

  it('refuses a 1 MB hostile body at once instead of scanning it', () => {
    const body = fill('<!--rewind:incident=', 1024 * 1024);
    let markers: unknown[] = [];

    const ms = elapsedMs(() => (markers = parseRollbackMarkers(body)));

    expect(markers).toEqual([]);
    expect(ms).toBeLessThan(BOUND_MS);
  });

  it('still finds the marker at the end of a hostile body', () => {
    const marker = `<!-- rewind:incident=inc-ks.flux-system.podinfo-0123456789ab culprit=${SHA} -->`;
    const body = fill('<!--rewind:incident=', MAX_MARKED_TEXT_LENGTH - marker.length - 1) + `\n${marker}`;

    expect(parseRollbackMarkers(body)).toEqual([
      { incident: 'inc-ks.flux-system.podinfo-0123456789ab', culprit: SHA },
    ]);
  });
});

describe('other parsers of untrusted text', () => {
  const length = 64 * 1024;

  it('redacts credentials from a hostile commit message in milliseconds', () => {
    const hostile = {
      'repeated x-access-token prefixes': fill('x-access-token:', length),
      'a long dotted word before no scheme': fill('a.', length),
      'repeated schemes': fill('a://b:', length),
    };
    for (const [shape, text] of Object.entries(hostile)) {
      const ms = elapsedMs(() => redact(text));

      expect({ shape, fast: ms < BOUND_MS }).toEqual({ shape, fast: true });
    }
    expect(redact(`${fill('a.', 1000)}https://user:secret@example.com`)).not.toContain('secret');
    expect(redact(`${fill('x-access-token:', 1000)}ghs_abc@github.com`)).not.toContain('ghs_abc');
  });

  it('sanitises a hostile ref component in milliseconds', () => {
    for (const text of [`${fill('.-', length)}a`, `${fill('.lock', length)}a`, fill('.lock', length)]) {
      let cleaned = '';
      const ms = elapsedMs(() => (cleaned = sanitizeRefComponent(text)));

      expect(ms).toBeLessThan(BOUND_MS);
      expect(isValidBranchName(`rewind/${cleaned}/x`)).toBe(true);
    }
  });
});

describe('log lines of hostile text', () => {
  it('are JSON that jq reads: no lone surrogate, no bidi or control character', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const log = createLogger({ destination: out });
    const hostile = `app${'x'.repeat(60)}\ud800 \u202Eevil\u0007 \udc00`;
    log.warn({ app: hostile, nested: { deeper: [hostile] }, err: new Error(hostile) }, hostile);
    await new Promise((resolve) => setImmediate(resolve));
    const line = Buffer.concat(chunks).toString('utf8');

    expect(line).not.toMatch(/\\ud[89a-f][0-9a-f]{2}/i);
    expect(line).not.toContain('\u202E');
    expect(line).not.toContain('\\u0007');
    const parsed = JSON.parse(execFileSync('jq', ['-c', '.'], { input: line }).toString()) as { msg: string };
    expect(parsed.msg).toContain('\uFFFD evil \uFFFD');
  });
});
