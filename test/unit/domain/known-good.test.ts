import { describe, expect, it } from 'vitest';
import { knownGoodTarget, type Skipped, type VersionFacts } from '../../../src/domain/known-good';

const DEPLOYED = '2025-01-01T00:00:00.000Z';

/** A version with sensible defaults: served traffic before, untested, never rolled back from. */
const v = (version: string, over: Partial<VersionFacts> = {}): VersionFacts => ({
  version,
  deployed_at: DEPLOYED,
  known_good: null,
  rolled_back_from: false,
  ...over,
});

describe('knownGoodTarget', () => {
  it.each<{ name: string; versions: VersionFacts[]; active: string | null; target: string | undefined; skipped: Skipped[] }>([
    {
      name: 'the previous version when it is good',
      versions: [v('v1.8.0'), v('v1.9.0', { known_good: true }), v('v2.0.0')],
      active: 'v2.0.0',
      target: 'v1.9.0',
      skipped: [],
    },
    {
      name: 'skips one that failed its baseline test',
      versions: [v('v1.8.0', { known_good: true }), v('v1.9.0', { known_good: false }), v('v2.0.0')],
      active: 'v2.0.0',
      target: 'v1.8.0',
      skipped: [{ version: 'v1.9.0', why: 'failed its baseline test' }],
    },
    {
      name: 'skips one that was rolled back from, even though it passed its test',
      versions: [v('v1.8.0'), v('v1.9.0', { known_good: true, rolled_back_from: true }), v('v2.0.0')],
      active: 'v2.0.0',
      target: 'v1.8.0',
      skipped: [{ version: 'v1.9.0', why: 'was rolled back from before' }],
    },
    {
      name: 'skips one that never served traffic and was never tested',
      versions: [v('v1.8.0'), v('v1.9.0', { deployed_at: null }), v('v2.0.0')],
      active: 'v2.0.0',
      target: 'v1.8.0',
      skipped: [{ version: 'v1.9.0', why: 'never served traffic nor passed a test' }],
    },
    {
      name: 'accepts one never deployed that passed its test',
      versions: [v('v1.8.0'), v('v1.9.0', { deployed_at: null, known_good: true }), v('v2.0.0')],
      active: 'v2.0.0',
      target: 'v1.9.0',
      skipped: [],
    },
    {
      name: 'not blindly the previous one: walks back over several bad ones, newest first, naming each',
      versions: [
        v('v1.6.0', { known_good: true }),
        v('v1.7.0', { known_good: true }),
        v('v1.8.0', { rolled_back_from: true }),
        v('v1.9.0', { known_good: false }),
        v('v1.9.1', { deployed_at: null }),
        v('v2.0.0'),
      ],
      active: 'v2.0.0',
      target: 'v1.7.0',
      skipped: [
        { version: 'v1.9.1', why: 'never served traffic nor passed a test' },
        { version: 'v1.9.0', why: 'failed its baseline test' },
        { version: 'v1.8.0', why: 'was rolled back from before' },
      ],
    },
    {
      name: 'a failed test wins over having served traffic',
      versions: [v('v1.8.0'), v('v1.9.0', { known_good: false, deployed_at: DEPLOYED }), v('v2.0.0')],
      active: 'v2.0.0',
      target: 'v1.8.0',
      skipped: [{ version: 'v1.9.0', why: 'failed its baseline test' }],
    },
    {
      name: 'never a version newer than the active one (traffic already left it)',
      versions: [v('v1.8.0', { known_good: true }), v('v1.9.0', { known_good: true }), v('v2.0.0', { known_good: true })],
      active: 'v1.9.0',
      target: 'v1.8.0',
      skipped: [],
    },
    {
      name: 'never the active version itself',
      versions: [v('v1.9.0', { known_good: true })],
      active: 'v1.9.0',
      target: undefined,
      skipped: [],
    },
    {
      name: 'nothing good before the active one → no target, every candidate named',
      versions: [v('v1.8.0', { known_good: false }), v('v1.9.0', { rolled_back_from: true }), v('v2.0.0')],
      active: 'v2.0.0',
      target: undefined,
      skipped: [
        { version: 'v1.9.0', why: 'was rolled back from before' },
        { version: 'v1.8.0', why: 'failed its baseline test' },
      ],
    },
    {
      name: 'no versions at all',
      versions: [],
      active: null,
      target: undefined,
      skipped: [],
    },
    {
      name: 'no active version: the newest good one of all',
      versions: [v('v1.8.0', { known_good: true }), v('v1.9.0', { known_good: false })],
      active: null,
      target: 'v1.8.0',
      skipped: [{ version: 'v1.9.0', why: 'failed its baseline test' }],
    },
  ])('$name', ({ versions, active, target, skipped }) => {
    const got = knownGoodTarget(versions, active);
    expect(got.target).toBe(target);
    expect(got.skipped).toEqual(skipped);
  });

  it('goes by list order (oldest first), not by version-name order', () => {
    // v1.10.0 was created after v1.9.0; a string sort would put it first.
    const versions = [v('v1.9.0', { known_good: true }), v('v1.10.0', { known_good: true }), v('v1.11.0')];
    expect(knownGoodTarget(versions, 'v1.11.0').target).toBe('v1.10.0');
  });

  it('does not modify the list it is given', () => {
    const versions = [v('v1.8.0'), v('v1.9.0', { known_good: false }), v('v2.0.0')];
    const copy = structuredClone(versions);
    knownGoodTarget(versions, 'v2.0.0');
    expect(versions).toEqual(copy);
  });
});
