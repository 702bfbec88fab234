import { describe, expect, it } from 'vitest';
import { hashKey, isValidSplit, pickVersion, type TrafficShare } from '../../../src/domain/traffic';

const keys = (n: number, prefix = 'req-'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

const shares = (split: readonly TrafficShare[], ks: readonly string[]): Map<string | undefined, number> => {
  const counts = new Map<string | undefined, number>();
  for (const k of ks) {
    const v = pickVersion(split, k);
    counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return counts;
};

describe('pickVersion', () => {
  const split: TrafficShare[] = [
    { version: 'v2.0.0', percent: 75 },
    { version: 'v1.9.0', percent: 25 },
  ];

  it('is deterministic: the same key always gets the same version', () => {
    for (const k of keys(1_000)) {
      const first = pickVersion(split, k);
      expect(first).toMatch(/^v(2\.0|1\.9)\.0$/);
      for (let i = 0; i < 3; i++) expect(pickVersion(split, k)).toBe(first);
      // A fresh but equal split object gives the same answer too: nothing is cached per call site.
      expect(
        pickVersion(
          split.map((s) => ({ ...s })),
          k,
        ),
      ).toBe(first);
    }
  });

  it('hashKey is stable across processes and releases (pinned values)', () => {
    // Pinned: changing the hash moves users between versions mid-split.
    expect([hashKey(''), hashKey('a'), hashKey('user-42')]).toEqual([2872998923, 444641715, 2083131798]);
    expect(hashKey('user-42')).not.toBe(hashKey('user-43'));
    expect(new Set(keys(10_000).map(hashKey)).size).toBeGreaterThan(9_990);
  });

  it.each([
    ['req-', 75, 25],
    ['user:', 75, 25],
    ['session-', 50, 50],
    ['k', 90, 10],
    ['req-', 99, 1],
  ])('keys "%s0…9999" split %i/%i within 1 %% of the split', (prefix, a, b) => {
    const s: TrafficShare[] = [
      { version: 'A', percent: a },
      { version: 'B', percent: b },
    ];
    const counts = shares(s, keys(10_000, prefix));
    expect(counts.get(undefined)).toBeUndefined();
    expect(Math.abs((counts.get('A') ?? 0) / 10_000 - a / 100)).toBeLessThanOrEqual(0.01);
    expect(Math.abs((counts.get('B') ?? 0) / 10_000 - b / 100)).toBeLessThanOrEqual(0.01);
  });

  it('a three-way split 50/30/20 over 10,000 keys is within 1 % per version', () => {
    const s: TrafficShare[] = [
      { version: 'a', percent: 50 },
      { version: 'b', percent: 30 },
      { version: 'c', percent: 20 },
    ];
    const counts = shares(s, keys(10_000));
    for (const { version, percent } of s) expect(Math.abs((counts.get(version) ?? 0) / 10_000 - percent / 100)).toBeLessThanOrEqual(0.01);
  });

  it('moving traffic 75/25 → 50/50 only moves keys towards the growing version (no reshuffle)', () => {
    // Gradual rollback stages: a user already moved to the good version must not flip back.
    const before: TrafficShare[] = [
      { version: 'good', percent: 25 },
      { version: 'bad', percent: 75 },
    ];
    const after: TrafficShare[] = [
      { version: 'good', percent: 50 },
      { version: 'bad', percent: 50 },
    ];
    for (const k of keys(5_000)) {
      if (pickVersion(before, k) === 'good') expect(pickVersion(after, k)).toBe('good');
    }
  });

  it('a single version serves every key', () => {
    const single = [{ version: 'v1.9.0', percent: 100 }];
    for (const k of keys(500)) expect(pickVersion(single, k)).toBe('v1.9.0');
  });

  it('versions at 0 % never serve; one live version among zeros serves everything', () => {
    const s: TrafficShare[] = [
      { version: 'old', percent: 0 },
      { version: 'live', percent: 100 },
      { version: 'new', percent: 0 },
    ];
    expect(new Set(keys(2_000).map((k) => pickVersion(s, k)))).toEqual(new Set(['live']));
  });

  it('a 0 % version in the middle of a split gets no keys', () => {
    const s: TrafficShare[] = [
      { version: 'a', percent: 60 },
      { version: 'zero', percent: 0 },
      { version: 'b', percent: 40 },
    ];
    const counts = shares(s, keys(10_000));
    expect(counts.get('zero')).toBeUndefined();
    expect(Math.abs((counts.get('a') ?? 0) / 10_000 - 0.6)).toBeLessThanOrEqual(0.01);
  });

  it.each<[string, TrafficShare[]]>([
    ['empty split', []],
    ['all-zero split', [{ version: 'a', percent: 0 }]],
    [
      'several zeros',
      [
        { version: 'a', percent: 0 },
        { version: 'b', percent: 0 },
      ],
    ],
  ])('%s → undefined (nothing serves)', (_name, s) => {
    for (const k of keys(50)) expect(pickVersion(s, k)).toBeUndefined();
  });
});

describe('isValidSplit', () => {
  it.each<[string, TrafficShare[], boolean]>([
    ['one version at 100', [{ version: 'a', percent: 100 }], true],
    [
      '75/25',
      [
        { version: 'a', percent: 75 },
        { version: 'b', percent: 25 },
      ],
      true,
    ],
    [
      'fractions summing to 100',
      [
        { version: 'a', percent: 33.3 },
        { version: 'b', percent: 33.3 },
        { version: 'c', percent: 33.4 },
      ],
      true,
    ],
    [
      'a 0 % share alongside 100',
      [
        { version: 'a', percent: 100 },
        { version: 'b', percent: 0 },
      ],
      true,
    ],
    ['empty', [], false],
    ['all zero', [{ version: 'a', percent: 0 }], false],
    ['sums to 99', [{ version: 'a', percent: 99 }], false],
    [
      'sums to 101',
      [
        { version: 'a', percent: 76 },
        { version: 'b', percent: 25 },
      ],
      false,
    ],
    [
      'negative share',
      [
        { version: 'a', percent: 110 },
        { version: 'b', percent: -10 },
      ],
      false,
    ],
    ['over 100 alone', [{ version: 'a', percent: 150 }], false],
    ['NaN', [{ version: 'a', percent: Number.NaN }], false],
  ])('%s → %s', (_name, s, valid) => {
    expect(isValidSplit(s)).toBe(valid);
  });
});
