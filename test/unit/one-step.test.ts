/**
 * The one step of an immediate rollback (src/activities/one-step.ts) over scripted parts: the switch waits for the
 * target and the group plan, never for the operator's metrics-before read, which still reaches the timeline.
 */
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { switchInOneStep, type OneStepParts } from '../../src/activities/one-step';

function parts(opts: { refuseSwitch?: boolean; made?: { switched: false; from: string | null; to: string; at: string } } = {}) {
  const calls: string[] = [];
  const p: OneStepParts = {
    assessNow: () => Promise.reject(new Error('not an incident')),
    readTargetState: () => {
      calls.push('readTargetState');
      return Promise.resolve({ prompt: { name: 'customer-support', active_version: 'v2' } as never, versions: [] });
    },
    chooseTarget: (_input, state) => {
      calls.push(state ? 'chooseTarget(from the state read)' : 'chooseTarget(reads)');
      return Promise.resolve({ from_version: 'v2', to_version: 'v1', skipped: [] });
    },
    readTraffic: async () => {
      calls.push('readTraffic:start');
      await new Promise((r) => setTimeout(r, 50)); // a slow metrics provider
      calls.push('readTraffic:end');
      return {
        kind: 'read',
        window: {
          requests: 120,
          errors: 30,
          error_rate: 0.25,
          latency_ms: { p50: 100, p95: 120, p99: 130 },
          quality_mean: null,
          quality_samples: 0,
          window_s: 300,
        },
      } as never;
    },
    planGroup: () => {
      calls.push('planGroup');
      return Promise.resolve({ members: [], not_joining: [] });
    },
    switchMade: () => Promise.resolve(opts.made),
    switchActiveVersion: () => {
      calls.push('switch');
      if (opts.refuseSwitch)
        return Promise.reject(ApplicationFailure.nonRetryable('v1 is not a version of customer-support', 'UnknownVersion'));
      return Promise.resolve({ prompt: 'customer-support', from: 'v2', to: 'v1', audit_id: 1 } as never);
    },
  };
  return { p, calls };
}

const operator = { prompt: 'customer-support', rollback_id: 'r-1', actor: 'alice', reason: 'drill', read_before: true } as const;

/** An operator's step: the reads together, the choice from the state read, the switch, then the metrics before. */
const SWITCH_THEN_METRICS_BEFORE = [
  'readTargetState',
  'planGroup',
  'chooseTarget(from the state read)',
  'switch',
  'readTraffic:start',
  'readTraffic:end',
];

describe('switchInOneStep', () => {
  it("an operator's rollback switches before its metrics-before read starts; the reading is in the result", async () => {
    const { p, calls } = parts();
    const r = await switchInOneStep(p, operator);
    expect(calls).toEqual(SWITCH_THEN_METRICS_BEFORE);
    expect(r).toMatchObject({ kind: 'switched', target: { to_version: 'v1' }, before: { kind: 'read', window: { requests: 120 } } });
  });

  it('a refused switch still carries the metrics before, read after the refusal', async () => {
    const { p, calls } = parts({ refuseSwitch: true });
    const r = await switchInOneStep(p, operator);
    expect(calls).toEqual(SWITCH_THEN_METRICS_BEFORE);
    expect(r).toMatchObject({ kind: 'switch_failed', type: 'UnknownVersion', before: { kind: 'read' } });
  });

  it('run again after it switched (its workflow task was lost), the switch made is the result: no re-judging, no new target, no second switch', async () => {
    const made = { switched: false as const, from: 'v2', to: 'v1', at: '2026-01-01T00:00:01.000Z' };
    const { p, calls } = parts({ made });
    // What a re-check and a new choice would answer now, after the switch: neither may reach the result.
    p.assessNow = () => Promise.resolve({ kind: 'healthy', rule: 'error_rate', summary: 'the rolled-back version reads healthy' } as never);
    p.chooseTarget = () =>
      Promise.reject(ApplicationFailure.nonRetryable('v1 is active: no other known-good version', 'NoKnownGoodVersion'));
    const r = await switchInOneStep(p, {
      ...operator,
      read_before: undefined,
      reconfirm: { critical: false },
      incident: { version: 'v2' },
    });
    // Read, and not used: no choice (with an evaluator it tests and marks versions), no switch.
    expect(calls).toEqual(['readTargetState', 'planGroup']);
    expect(r).toEqual({
      kind: 'switched',
      switched: made,
      target: { from_version: 'v2', to_version: 'v1', skipped: [] },
      group: { members: [], not_joining: [] },
      mark_from: true,
    });
  });

  it('a step that does not switch never chooses a target (with a baseline evaluator, choosing tests and marks versions)', async () => {
    const made = { switched: false as const, from: 'v2', to: 'v1', at: '2026-01-01T00:00:01.000Z' };
    const input = { ...operator, read_before: undefined, incident: { version: 'v2' } };
    // Run again after its switch.
    const again = parts({ made });
    expect(await switchInOneStep(again.p, { ...input, reconfirm: { critical: false } })).toMatchObject({
      kind: 'switched',
      switched: made,
    });
    expect(again.calls.filter((c) => c.startsWith('chooseTarget'))).toEqual([]);
    // A re-check that no longer holds.
    const recovered = parts();
    recovered.p.assessNow = () => Promise.resolve({ kind: 'healthy', rule: 'error_rate', summary: 'recovered' } as never);
    expect(await switchInOneStep(recovered.p, { ...input, reconfirm: { critical: true } })).toMatchObject({ kind: 'cleared' });
    expect(recovered.calls.filter((c) => c.startsWith('chooseTarget'))).toEqual([]);
    // A step that switches chooses once it knows it does.
    const switching = parts();
    expect(await switchInOneStep(switching.p, input)).toMatchObject({ kind: 'switched' });
    expect(switching.calls).toEqual(['readTargetState', 'planGroup', 'chooseTarget(from the state read)', 'switch']);
  });

  it('asks whether it already switched together with the re-check, what the target is chosen from and the group plan: one wait, not four in turn', async () => {
    const { p, calls } = parts();
    let releaseMade!: () => void;
    p.switchMade = async () => {
      calls.push('switchMade:start');
      await new Promise<void>((r) => (releaseMade = r));
      return undefined;
    };
    p.assessNow = () => {
      calls.push('assessNow');
      return Promise.resolve({ kind: 'breached', severity: 'critical', rule: 'error_rate', summary: 'still breached' } as never);
    };
    const step = switchInOneStep(p, { ...operator, read_before: undefined, reconfirm: { critical: true }, incident: { version: 'v2' } });
    await new Promise((r) => setTimeout(r, 20));
    // Nothing is switched before the answer on a switch already made; every read is already asked for.
    expect(calls).toEqual(['switchMade:start', 'assessNow', 'readTargetState', 'planGroup']);
    releaseMade();
    expect(await step).toMatchObject({ kind: 'switched', reconfirmed: { kind: 'breached' } });
    expect(calls).toEqual(['switchMade:start', 'assessNow', 'readTargetState', 'planGroup', 'chooseTarget(from the state read)', 'switch']);
  });

  it('a re-check that no longer holds switches nothing, whatever the target read said', async () => {
    const { p, calls } = parts();
    p.assessNow = () => Promise.resolve({ kind: 'healthy', rule: 'error_rate', summary: 'recovered' } as never);
    const input = { ...operator, read_before: undefined, incident: { version: 'v2' } };
    expect(await switchInOneStep(p, { ...input, reconfirm: { critical: false } })).toMatchObject({ kind: 'unconfirmed' });
    expect(await switchInOneStep(p, { ...input, reconfirm: { critical: true } })).toMatchObject({ kind: 'cleared' });
    expect(calls).not.toContain('switch');
  });

  it('when the look-up of a switch already made fails, the step fails (and is retried) once its other reads are done', async () => {
    const { p, calls } = parts();
    p.switchMade = () => Promise.reject(new Error('connection reset'));
    p.readTargetState = async () => {
      await new Promise((r) => setTimeout(r, 30));
      calls.push('readTargetState:end');
      throw new Error('also failed');
    };
    await expect(switchInOneStep(p, { ...operator, read_before: undefined })).rejects.toThrow('connection reset');
    expect(calls).toEqual(['planGroup', 'readTargetState:end']);
  });

  it('an incident reads no metrics before', async () => {
    const { p, calls } = parts();
    const r = await switchInOneStep(p, { ...operator, read_before: undefined, incident: { version: 'v2' } });
    expect(calls).toEqual(['readTargetState', 'planGroup', 'chooseTarget(from the state read)', 'switch']);
    expect(r).not.toHaveProperty('before');
  });

  it('reads what the target is chosen from and the group plan together: the switch waits for the slower read, not for both in turn', async () => {
    const { p, calls } = parts();
    let releaseTarget!: () => void;
    const read = p.readTargetState.bind(p);
    p.readTargetState = async (input) => {
      calls.push('readTargetState:start');
      await new Promise<void>((r) => (releaseTarget = r));
      return read(input);
    };
    const step = switchInOneStep(p, { ...operator, read_before: undefined });
    await new Promise((r) => setTimeout(r, 20));
    // The target is not chosen yet, and the group plan is already asked for.
    expect(calls).toEqual(['readTargetState:start', 'planGroup']);
    releaseTarget();
    expect(await step).toMatchObject({ kind: 'switched' });
    expect(calls).toEqual(['readTargetState:start', 'planGroup', 'readTargetState', 'chooseTarget(from the state read)', 'switch']);
  });

  it('a group plan that fails does not hold up the switch, and says why; no target still wins over it', async () => {
    const { p } = parts();
    p.planGroup = () => Promise.reject(new Error('related prompt unreadable'));
    expect(await switchInOneStep(p, { ...operator, read_before: undefined })).toMatchObject({
      kind: 'switched',
      group_error: 'related prompt unreadable',
    });
    p.chooseTarget = () => Promise.reject(ApplicationFailure.nonRetryable('no known-good version', 'NoKnownGoodVersion'));
    expect(await switchInOneStep(p, { ...operator, read_before: undefined })).toMatchObject({
      kind: 'no_target',
      type: 'NoKnownGoodVersion',
    });
  });
});
