import { ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../../src/activities';
import type { RollbackView } from '../../src/domain/rollback';
import { judgeRecovery, type VerificationPolicy } from '../../src/domain/verification';
import type { WindowStats } from '../../src/domain/verdict';
import type { Notification } from '../../src/ports/notifier';

export interface FakeWorld {
  active: string;
  versions: string[];
  /** What each verification check sees, in order; the last one repeats. */
  checks: Array<Pick<WindowStats, 'requests' | 'errors'>>;
  switches: { to: string; rollback_id: string }[];
  notifications: Array<Omit<Notification, 'links'>>;
  saved: RollbackView[];
  switchFails?: boolean;
}

/** Plain in-memory activities for workflow tests on the time-skipping server. */
export function fakeActivities(world: FakeWorld): Activities {
  let check = 0;
  const stats = (s: Pick<WindowStats, 'requests' | 'errors'>, window_s: number): WindowStats => ({
    ...s,
    error_rate: s.requests === 0 ? null : s.errors / s.requests,
    latency_ms: { p50: 100, p95: 200, p99: 300 },
    quality_mean: null,
    window_s,
  });
  return {
    chooseTarget(input: { prompt: string; target_version?: string }) {
      if (input.target_version !== undefined && !world.versions.includes(input.target_version)) {
        throw ApplicationFailure.nonRetryable(`no version ${input.target_version}`, 'UnknownVersion');
      }
      return Promise.resolve({ from_version: world.active, to_version: input.target_version ?? world.versions[0]!, skipped: [] });
    },
    readWindow(input: { window_s: number }) {
      return Promise.resolve(stats({ requests: 100, errors: 30 }, input.window_s));
    },
    switchActiveVersion(input: { to: string; rollback_id: string }) {
      if (world.switchFails) throw new Error('registry unavailable');
      const from = world.active;
      if (!world.switches.some((s) => s.rollback_id === input.rollback_id)) {
        world.switches.push({ to: input.to, rollback_id: input.rollback_id });
        world.active = input.to;
      }
      return Promise.resolve({ switched: true, from, to: input.to, at: new Date().toISOString() });
    },
    checkRecovery(input: { window_s: number; policy: VerificationPolicy }) {
      const s = world.checks[Math.min(check, world.checks.length - 1)] ?? { requests: 0, errors: 0 };
      check += 1;
      return Promise.resolve(judgeRecovery(stats(s, input.window_s), input.policy));
    },
    notify(n: Omit<Notification, 'links'> & { rollback_id: string }) {
      world.notifications.push(n);
      return Promise.resolve({ id: String(world.notifications.length), channel: n.kind === 'page' ? 'on-call' : '#incidents' });
    },
    saveRollback(view: RollbackView) {
      world.saved.push(structuredClone(view));
      return Promise.resolve();
    },
  };
}
