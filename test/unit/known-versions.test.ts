import { describe, expect, it } from 'vitest';
import { KnownVersions, requireKnownVersions } from '../../src/api/known-versions';
import type { MetricEvent } from '../../src/ports/metrics';
import type { Registry } from '../../src/ports/registry';

/** A registry holding `pairs`, counting the pairs it was asked about. */
function registry(pairs: Set<string>) {
  const asked: string[][] = [];
  const r = {
    missingVersions(items: { prompt: string; version: string }[]) {
      asked.push(items.map((i) => `${i.prompt}@${i.version}`));
      return Promise.resolve(
        items
          .filter((i) => !pairs.has(`${i.prompt}@${i.version}`))
          .map((i) => ({ ...i, prompt_exists: [...pairs].some((p) => p.startsWith(`${i.prompt}@`)) })),
      );
    },
  } as unknown as Registry;
  return { r, asked };
}
const ev = (prompt: string, version: string): MetricEvent => ({ prompt, version, ok: true, latency_ms: 1, at: new Date() });

describe('known versions on ingest', () => {
  it('asks the registry once for pairs it confirmed a moment ago, and refuses an unknown pair every time', async () => {
    const pairs = new Set(['a@v1', 'b@v1']);
    const { r, asked } = registry(pairs);
    const known = new KnownVersions(60_000);
    await requireKnownVersions(r, [ev('a', 'v1'), ev('b', 'v1')], known);
    await requireKnownVersions(r, [ev('a', 'v1'), ev('b', 'v1'), ev('a', 'v1')], known);
    expect(asked).toEqual([['a@v1', 'b@v1']]);
    // An absence is never remembered: refused, then accepted as soon as it is registered.
    await expect(requireKnownVersions(r, [ev('a', 'v1'), ev('a', 'v2')], known)).rejects.toMatchObject({
      type: 'UnknownVersion',
      details: { errors: [{ field: 'events[1]', message: 'prompt a has no version v2' }] },
    });
    pairs.add('a@v2');
    await requireKnownVersions(r, [ev('a', 'v2')], known);
    expect(asked).toEqual([['a@v1', 'b@v1'], ['a@v2'], ['a@v2']]);
  });

  it('forgets a confirmation after its time: a version purged since is refused again', async () => {
    const pairs = new Set(['a@v1']);
    const { r } = registry(pairs);
    const known = new KnownVersions(30);
    await requireKnownVersions(r, [ev('a', 'v1')], known);
    pairs.delete('a@v1');
    await requireKnownVersions(r, [ev('a', 'v1')], known); // within the 30 ms
    await new Promise((res) => setTimeout(res, 40));
    await expect(requireKnownVersions(r, [ev('a', 'v1')], known)).rejects.toMatchObject({ type: 'UnknownVersion' });
  });
});
