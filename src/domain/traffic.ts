/** A traffic split: which share of request keys each version serves. Percents sum to 100. */
export interface TrafficShare {
  version: string;
  percent: number;
}

/** FNV-1a 32-bit: fast, stable across processes and releases, good spread for short keys. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Final avalanche (murmur3 fmix32) so that keys differing in the last character spread evenly.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The version serving request key `key` under `split`. Deterministic: the same key maps to the same version
 * while the split stands. Shares are taken in the split's order over 10,000 slots (0.01 % resolution).
 */
export function pickVersion(split: readonly TrafficShare[], key: string): string | undefined {
  const live = split.filter((s) => s.percent > 0);
  if (live.length === 0) return undefined;
  if (live.length === 1) return live[0]!.version;
  const slot = hashKey(key) % 10_000;
  let upTo = 0;
  for (const s of live) {
    upTo += Math.round(s.percent * 100);
    if (slot < upTo) return s.version;
  }
  return live[live.length - 1]!.version;
}

export const isValidSplit = (split: readonly TrafficShare[]): boolean =>
  split.length > 0 &&
  split.every((s) => s.percent >= 0 && s.percent <= 100) &&
  Math.abs(split.reduce((sum, s) => sum + s.percent, 0) - 100) < 1e-9;
