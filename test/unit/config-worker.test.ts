import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/domain/errors.ts';

function problemsOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('worker.lockDuration', () => {
  it('defaults to 30s, as rewind.example.yaml documents', async () => {
    expect(parseConfig({}, { env: {} }).worker).toEqual({ lockDurationMs: 30_000, concurrency: 32 });
    expect((await loadConfig({ file: 'rewind.example.yaml', env: {} })).worker.lockDurationMs).toBe(30_000);
  });

  it('reads a duration from the file or from REWIND_WORKER_LOCKDURATION', () => {
    expect(parseConfig({ worker: { lockDuration: '2s' } }, { env: {} }).worker.lockDurationMs).toBe(2000);
    expect(
      parseConfig({ worker: { lockDuration: '2s' } }, { env: { REWIND_WORKER_LOCKDURATION: '1m' } }).worker
        .lockDurationMs,
    ).toBe(60_000);
  });

  it('rejects what is not a duration, a lock under a second, and unknown keys', () => {
    expect(problemsOf(() => parseConfig({ worker: { lockDuration: '30' } }, { env: {} }))).toEqual([
      { path: 'worker.lockDuration', message: expect.stringContaining('is not a duration') },
    ]);
    expect(problemsOf(() => parseConfig({ worker: { lockDuration: '500ms' } }, { env: {} }))).toEqual([
      { path: 'worker.lockDuration', message: expect.stringContaining('use 1s or more') },
    ]);
    expect(problemsOf(() => parseConfig({ worker: { lockDurations: '5s' } }, { env: {} }))).toEqual([
      { path: 'worker.lockDurations', message: expect.stringContaining('did you mean "lockDuration"') },
    ]);
  });
});
