/**
 * `rollback --wait`: follows a rollback until it ends. Each new timeline entry is printed once; below them, a
 * progress line says where it is (stage, verification check i of n, time left). On a terminal that line is
 * redrawn in place every poll; otherwise it is printed once per change, so a log shows each step once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TERMINAL_STATUSES } from '../domain/rollback';
import { ApiError, ConnectionError, unreachable, type RollbackView } from './api';
import type { Ctx } from './context';
import { cell, duration, timelineLine } from './format';

const POLL_MS = 1_000;
/** Tolerates this many consecutive failed polls (API restarting, network blip). */
const MAX_POLL_FAILURES = 10;

/** Where a running rollback is, in words; `left` is seconds to the next deadline when one is known. */
export interface Progress {
  step: string;
  left?: number;
}

/** Reads the view: the gradual stage, the verification check of n (and the time the remaining checks take), a deadline. */
export function progressOf(r: RollbackView, now: number): Progress {
  const until = (iso: string | undefined): number | undefined => {
    const t = iso ? Date.parse(iso) : NaN;
    return Number.isNaN(t) ? undefined : Math.max(0, Math.round((t - now) / 1000));
  };
  if (r.gradual && (r.status === 'rolling_back' || r.status === 'paused')) {
    const g = r.gradual;
    const step = `stage ${g.stage + 1}/${g.of}, ${g.percent}% left on ${cell(r.from_version)}${g.paused ? ', paused' : ''}`;
    return { step: `${r.status}: ${step}`, left: g.paused ? undefined : until(g.next_at) };
  }
  if (r.status === 'verifying') {
    const checks = r.timeline.filter((e) => e.event === 'verification_check' && typeof e.detail.check === 'number');
    const last = checks.at(-1);
    const switched = r.timeline.find((e) => e.event === 'switched');
    const of = typeof last?.detail.of === 'number' ? last.detail.of : undefined;
    const i = typeof last?.detail.check === 'number' ? last.detail.check : 0;
    if (last === undefined || of === undefined) return { step: 'verifying: waiting for the first check' };
    // The checks come at a steady interval since the switch: the remaining ones take as long again each.
    let left: number | undefined;
    if (switched && i > 0) {
      const interval = (Date.parse(last.at) - Date.parse(switched.at)) / 1000 / i;
      const end = Date.parse(last.at) + (of - i) * interval * 1000;
      if (Number.isFinite(end)) left = Math.max(0, Math.round((end - now) / 1000));
    }
    return { step: `verifying: check ${i}/${of}`, ...(left !== undefined ? { left } : {}) };
  }
  if (r.status === 'awaiting_approval' || r.status === 'observing') {
    const left = until(r.deadline);
    return {
      step: `${r.status}${r.default_action ? ` (at the deadline: ${r.default_action})` : ''}`,
      ...(left !== undefined ? { left } : {}),
    };
  }
  return { step: r.status };
}

const progressLine = (p: Progress): string => `… ${p.step}${p.left !== undefined ? `, ${duration(p.left)} left` : ''}`;

/** Polls a rollback until it ends; 0 only if it completed and recovery was verified, else 1. */
export async function follow(c: Ctx, id: string): Promise<number> {
  let seen = 0;
  let failures = 0;
  let lastStep: string | undefined;
  const tty = c.io.tty === true && !c.json;
  let drawn = false;
  const clear = (): void => {
    if (drawn) c.write('\r\x1b[2K');
    drawn = false;
  };
  for (;;) {
    let r: RollbackView;
    try {
      r = await c.api.getRollback(id);
      failures = 0;
    } catch (e) {
      const transient = e instanceof ConnectionError || (e instanceof ApiError && e.status >= 500);
      if (!transient || ++failures > MAX_POLL_FAILURES) {
        clear();
        throw e;
      }
      clear();
      const why = e instanceof ConnectionError ? unreachable(e) : e.message;
      c.warn(`warning: polling rollback ${id} failed (${why.split('\n')[0]}); retrying`);
      await sleep(POLL_MS);
      continue;
    }
    if (!c.json) {
      const fresh = r.timeline.slice(seen);
      if (fresh.length > 0) clear();
      for (const e of fresh) c.print(timelineLine(e));
    }
    seen = Math.max(seen, r.timeline.length);
    if (TERMINAL_STATUSES.includes(r.status)) {
      clear();
      // Completed without verified recovery is not success: a script waiting on it must see that.
      const unverified = r.status === 'completed' && r.outcome === 'unverified';
      c.emit(r, () =>
        c.print(
          `rollback ${r.rollback_id} ${r.status}${unverified ? ' (unverified)' : ''}: ${r.prompt} ${cell(r.from_version)} → ${cell(r.to_version)}`,
        ),
      );
      return r.status === 'completed' && !unverified ? 0 : 1;
    }
    if (!c.json) {
      const p = progressOf(r, Date.now());
      if (tty) {
        c.write(`\r\x1b[2K${progressLine(p)}`);
        drawn = true;
      } else if (p.step !== lastStep) {
        c.print(progressLine(p));
      }
      lastStep = p.step;
    }
    await sleep(POLL_MS);
  }
}
