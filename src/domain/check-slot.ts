/**
 * How long until this prompt's next check: checks fall on the prompt's own slot of the interval (a hash of its
 * name), so a thousand monitors started within seconds of each other (a fleet's deploy) check spread evenly over
 * the interval instead of in one burst that every other workflow task, an incident's included, queues behind.
 * At least a quarter interval away, so a check and the next never come in a row.
 */
export function untilOwnSlot(prompt: string, intervalMs: number, nowMs: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < prompt.length; i++) h = Math.imul(h ^ prompt.charCodeAt(i), 0x01000193) >>> 0;
  const slot = h % intervalMs;
  const wait = (((slot - nowMs) % intervalMs) + intervalMs) % intervalMs;
  return wait < intervalMs / 4 ? wait + intervalMs : wait;
}

/**
 * A monitor's check activity heartbeats at least this often, also while it sleeps between checks, so that a lost
 * worker is noticed within CHECKS_HEARTBEAT_TIMEOUT_S whatever the interval.
 */
export const HEARTBEAT_EVERY_MS = 20_000;
/** The check activity's heartbeat timeout: how long a monitor goes unchecked when the worker running it dies. */
export const CHECKS_HEARTBEAT_TIMEOUT_S = 60;
