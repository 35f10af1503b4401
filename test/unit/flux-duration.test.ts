import { describe, expect, it } from 'vitest';
import { durationOr, formatGoDuration, parseGoDuration } from '../../src/sandbox/flux-duration.ts';

describe('parseGoDuration', () => {
  it.each([
    ['0', 0],
    ['0s', 0],
    ['1m', 60_000],
    ['30s', 30_000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['1.5h', 5_400_000],
    ['2h45m', 9_900_000],
    ['-1.5s', -1500],
    ['+10s', 10_000],
    ['100us', 0.1],
    ['100µs', 0.1],
    ['1000000ns', 1],
    ['.5s', 500],
    ['1.s', 1000],
  ])('parses %s', (text, ms) => {
    expect(parseGoDuration(text)).toBeCloseTo(ms, 9);
  });

  it.each(['', '1', '10x', 's', '1m 30s', '-', '1d', 'abc'])('rejects %j', (text) => {
    expect(() => parseGoDuration(text)).toThrow(/time: /);
  });

  it('falls back on absent or malformed values', () => {
    expect(durationOr(undefined, 42)).toBe(42);
    expect(durationOr('nope', 42)).toBe(42);
    expect(durationOr('2s', 42)).toBe(2000);
  });
});

describe('formatGoDuration', () => {
  it.each([
    [0, '0s'],
    [2000, '2s'],
    [300_000, '5m0s'],
    [570_000, '9m30s'],
    [90_500, '1m30.5s'],
    [3_600_000, '1h0m0s'],
    [12.565167, '12.565167ms'],
    [2818.583, '2.818583s'],
    [0.0015, '1.5µs'],
    [0.000001, '1ns'],
    [360_068.181246, '6m0.068181246s'],
    [-1500, '-1.5s'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
  });

  it('round-trips what it formats', () => {
    for (const text of ['1m30s', '2h0m0s', '500ms', '2.5s']) {
      expect(formatGoDuration(parseGoDuration(text))).toBe(text);
    }
  });
});
