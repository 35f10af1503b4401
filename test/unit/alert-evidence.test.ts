// Alert evidence comes from outside (label values, summaries, Flux messages): what is kept on the
// incident is bounded and sanitised whatever the sender put in it.
import { describe, expect, it } from 'vitest';
import {
  MAX_ALERTS_PER_INCIDENT,
  type AlertEvidence,
  boundedEvidence,
  withAlertEvidence,
} from '../../src/pipeline/alert-evidence.ts';

const base: AlertEvidence = {
  source: 'alertmanager',
  name: 'ReconciliationFailure',
  status: 'firing',
  receivedAt: '2026-11-24T10:00:00.000Z',
};

describe('alert evidence', () => {
  it('keeps one line per value, redacts secrets and bounds every field', () => {
    const labels = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`l${i}`, 'v'.repeat(1_000)]));
    const kept = boundedEvidence({
      ...base,
      summary: `line one\nline two\u0000\u202e token ghp_${'a'.repeat(36)} ${'x'.repeat(5_000)}`,
      labels,
      fingerprint: 'f'.repeat(500),
    });
    expect(kept.summary).not.toContain('\n');
    expect(kept.summary).not.toContain('\u0000');
    expect(kept.summary).not.toContain(`ghp_${'a'.repeat(36)}`);
    expect(kept.summary!.length).toBeLessThanOrEqual(500);
    expect(Object.keys(kept.labels!)).toHaveLength(20);
    expect(Object.values(kept.labels!).every((v) => v.length <= 200)).toBe(true);
    expect(kept.fingerprint!.length).toBeLessThanOrEqual(64);
  });

  it('keeps the newest entries per incident', () => {
    let kept: readonly AlertEvidence[] | undefined;
    for (let i = 0; i < MAX_ALERTS_PER_INCIDENT + 5; i++)
      kept = withAlertEvidence(kept, { ...base, name: `a${i}` });
    expect(kept).toHaveLength(MAX_ALERTS_PER_INCIDENT);
    expect(kept!.at(-1)?.name).toBe(`a${MAX_ALERTS_PER_INCIDENT + 4}`);
  });
});
