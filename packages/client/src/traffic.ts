/**
 * The server's key hashing (src/domain/traffic.ts), copied because the SDK must not depend on server code.
 * Both must pick the same version for every key: test/unit/client-traffic.test.ts checks 10,000 keys.
 */
import type { components } from './schema';

/** One version's share of a prompt's traffic, as the API shows it. */
export type TrafficShare = components['schemas']['TrafficShare'];

/** FNV-1a 32-bit with a murmur3 fmix32 avalanche. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The version serving `key` under `split`: shares taken in the split's order over 10,000 slots. */
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
