import { describe, expect, it } from 'vitest';
import { pickVersion as sdkPick } from '../../packages/client/src/traffic';
import { pickVersion as serverPick } from '../../src/domain/traffic';

const SPLITS = [
  [{ version: 'v2', percent: 100 }],
  [
    { version: 'v1', percent: 75 },
    { version: 'v2', percent: 25 },
  ],
  [
    { version: 'a', percent: 33.33 },
    { version: 'b', percent: 33.33 },
    { version: 'c', percent: 33.34 },
  ],
  [
    { version: 'old', percent: 0 },
    { version: 'x', percent: 0.01 },
    { version: 'y', percent: 99.99 },
  ],
];

describe('the SDK picks the version the server would', () => {
  it.each(SPLITS.map((s) => [s.map((x) => `${x.version}=${x.percent}`).join(','), s] as const))('on 10,000 keys under %s', (_, split) => {
    const keys = Array.from({ length: 10_000 }, (_, i) => (i % 3 === 0 ? `user-${i}` : i % 3 === 1 ? `${i}` : `sess/${i}/é-${i * 7919}`));
    const disagreements = keys.filter((k) => sdkPick(split, k) !== serverPick(split, k));
    expect(disagreements).toEqual([]);
  });
});
