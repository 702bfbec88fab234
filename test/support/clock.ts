import type { Clock } from '../../src/ports/clock';

/** Starts at a fixed instant and moves one second on every read: ordered, distinct timestamps. */
export function advancingClock(start = Date.parse('2025-01-01T00:00:00.000Z')): Clock {
  let t = start;
  return {
    now: () => {
      const d = new Date(t);
      t += 1_000;
      return d;
    },
  };
}
