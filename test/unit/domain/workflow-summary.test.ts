/** What the Temporal Web UI shows in its list and on a workflow's page, before anyone opens the workflow. */
import { describe, expect, it } from 'vitest';
import { triggerOf, type RollbackInput } from '../../../src/domain/rollback';
import { DEFAULT_CANARY, DEFAULT_GRADUAL } from '../../../src/domain/stages';
import { DEFAULT_VERIFICATION } from '../../../src/domain/verification';
import {
  canaryDetails,
  canarySummary,
  gradualDetails,
  gradualSummary,
  monitorCurrentDetails,
  monitorSummary,
  rollbackDetails,
  rollbackSummary,
} from '../../../src/domain/workflow-summary';
import { judge, win } from '../../support/verdicts';

const HIGH = judge(win({ requests: 400, errors: 12 }));
const base = {
  rollback_id: 'r1',
  prompt: 'customer-support',
  requested_at: '2026-11-26T08:00:00.000Z',
  verification: { ...DEFAULT_VERIFICATION },
};
const operator: RollbackInput = {
  ...base,
  target_version: 'v1.9.0',
  reason: 'answers in one word',
  severity: 'manual',
  mode: 'immediate',
  requested_by: 'alice',
};
const incident: RollbackInput = {
  ...base,
  reason: HIGH.summary,
  severity: 'high',
  mode: 'immediate',
  requested_by: 'monitor',
  trigger: triggerOf(HIGH),
  incident: { verdict: HIGH, version: 'v2.0.0', action: 'page', deadline_s: 300, default_action: 'rollback' },
};

describe('workflow summaries and details', () => {
  it.each([
    ['operator rollback', rollbackSummary(operator), 'customer-support: immediate rollback by alice, → v1.9.0 — answers in one word'],
    ['incident', rollbackSummary(incident), `customer-support: high incident, v2.0.0 → last known-good — ${HIGH.summary}`],
    [
      'gradual child',
      gradualSummary({ prompt: 'customer-support', from_version: 'v2.0.0', to_version: 'v1.9.0', plan: DEFAULT_GRADUAL, reason: 'x' }),
      'customer-support: gradual rollback v2.0.0 → v1.9.0, 75 / 50 / 25 / 0 % left on v2.0.0',
    ],
    [
      'canary',
      canarySummary({ prompt: 'customer-support', version: 'v2.1.0', from_version: 'v2.0.0', plan: DEFAULT_CANARY }),
      'customer-support: canary v2.0.0 → v2.1.0, 1 → 5 → 25 → 100 %',
    ],
    ['monitor', monitorSummary('customer-support', 30), 'customer-support: monitor, a check every 30 s'],
  ])('%s: one line naming the prompt and the versions', (_, summary, expected) => {
    expect(summary).toBe(expected);
    expect(summary).not.toContain('\n');
  });

  it('keeps a summary on one line of at most 200 characters, whatever the reason says', () => {
    const s = rollbackSummary({ ...operator, reason: `first line\nsecond ${'x'.repeat(300)}` });
    expect(s).not.toContain('\n');
    expect(s.length).toBeLessThanOrEqual(200);
    expect(s.endsWith('…')).toBe(true);
  });

  it("an incident's details give the trigger's numbers, who decides by when and how recovery is judged", () => {
    const d = rollbackDetails(incident);
    expect(d).toContain('**Versions** v2.0.0 → last known-good version');
    expect(d).toContain('**Severity** high (rule error_rate_high)');
    expect(d).toContain('**Trigger** error_rate 0.03 vs threshold 0.02 over 400 requests (300 s window)');
    expect(d).toContain('**Decision** on-call decides within 5 min, then roll back');
    expect(d).toContain('**Verification** a check every 5 s for 60 s; recovered below 1 % errors');
  });

  it('gradual and canary details list their stages', () => {
    expect(gradualDetails({ prompt: 'p', from_version: 'a', to_version: 'b', plan: DEFAULT_GRADUAL, reason: 'r' })).toContain(
      '**Stages** 75 % for 600 s, 50 % for 600 s, 25 % for 600 s, 0 % for 0 s',
    );
    expect(canaryDetails({ prompt: 'p', version: 'b', from_version: 'a', plan: DEFAULT_CANARY, actor: 'alice' })).toContain(
      '**Versions** a keeps the rest; b gets 1 → 5 → 25 → 100 %',
    );
  });

  it("a monitor's current details carry its last verdict and what it did", () => {
    const d = monitorCurrentDetails({ checks: 3, active_version: 'v2.0.0', last_verdict: HIGH, last_action: 'open_incident' });
    expect(d).toContain('**breached** · active v2.0.0 · 3 check(s) by this run');
    expect(d).toContain(HIGH.summary);
    expect(d).toContain('last action: open_incident');
  });
});
