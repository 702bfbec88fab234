import { describe, expect, it } from 'vitest';
import type { RollbackView } from '../../src/cli/api';
import { metricValue, ms, percent, timelineLine } from '../../src/cli/format';
import { progressOf } from '../../src/cli/progress';
import { suggest } from '../../src/cli/suggest';

describe('numbers for people', () => {
  it.each([
    [0.03333333333333333, '3.3 %'],
    [0.05, '5 %'],
    [0.125, '12.5 %'],
    [0, '0 %'],
    [0.0004, '0.04 %'],
    [1, '100 %'],
    [null, '-'],
  ])('percent(%j) = %s', (v, expected) => expect(percent(v)).toBe(expected));

  it.each([
    [120.4, '120 ms'],
    [1234.5, '1.2 s'],
    [59_999, '60 s'],
    [125_000, '2m 5s'],
    [null, '-'],
  ])('ms(%j) = %s', (v, expected) => expect(ms(v)).toBe(expected));

  it('a metric value in its unit', () => {
    expect(metricValue('error_rate', 0.07)).toBe('7 %');
    expect(metricValue('latency_p99_ms', 2400)).toBe('2.4 s');
    expect(metricValue('quality_mean', 0.8123)).toBe('0.81');
  });

  it('a timeline line rounds a verdict to its metric, compactly', () => {
    const line = timelineLine({
      at: '2025-11-25T21:54:03.000Z',
      event: 'verification_check',
      detail: { check: 3, of: 12, metric: 'error_rate', threshold: 0.01, observed: 0.03333333333333333, window_s: 300, samples: 30 },
    });
    expect(line).toBe('21:54:03 verification_check check=3 of=12 metric=error_rate threshold=1% observed=3.3% window_s=300 samples=30');
  });
});

describe('did you mean', () => {
  const prompts = ['customer-support', 'billing', 'faq', 'search'];
  it.each([
    ['custmer-suport', ['customer-support']],
    ['Customer-Support', ['customer-support']],
    ['biling', ['billing']],
    ['fqa', ['faq']],
    ['zzzzzz', []],
  ])('%s → %j', (typed, expected) => expect(suggest(typed, prompts)).toEqual(expected));
});

describe('rollback --wait progress', () => {
  const base = {
    rollback_id: 'r1',
    workflow_id: 'rollback/p/r1',
    prompt: 'p',
    from_version: 'v2',
    to_version: 'v1',
    reason: 'x',
    severity: 'manual',
    mode: 'immediate',
    requested_by: 'ops',
    requested_at: '2025-11-25T21:54:00.000Z',
    updated_at: '2025-11-25T21:54:00.000Z',
  } as const;
  const at = (s: number): string => new Date(Date.parse('2025-11-25T21:54:00.000Z') + s * 1000).toISOString();

  it('verifying: check i of n and the time the remaining checks take', () => {
    const r: RollbackView = {
      ...base,
      status: 'verifying',
      timeline: [
        { at: at(0), event: 'switched', detail: {} },
        { at: at(5), event: 'verification_check', detail: { check: 1, of: 12 } },
        { at: at(10), event: 'verification_check', detail: { check: 2, of: 12 } },
      ],
    };
    expect(progressOf(r, Date.parse(at(11)))).toEqual({ step: 'verifying: check 2/12', left: 49 });
  });

  it('awaiting approval: the deadline and what happens then', () => {
    const r: RollbackView = { ...base, status: 'awaiting_approval', deadline: at(300), default_action: 'roll back to v1', timeline: [] };
    expect(progressOf(r, Date.parse(at(60)))).toEqual({ step: 'awaiting_approval (at the deadline: roll back to v1)', left: 240 });
  });

  it('gradual: the stage and the share left', () => {
    const r: RollbackView = {
      ...base,
      mode: 'gradual',
      status: 'rolling_back',
      timeline: [],
      gradual: { stage: 1, of: 4, percent: 50, paused: false, next_step: 'stage 3', next_at: at(600), checks: [] },
    };
    expect(progressOf(r, Date.parse(at(0)))).toEqual({ step: 'rolling_back: stage 2/4, 50% left on v2', left: 600 });
  });
});
