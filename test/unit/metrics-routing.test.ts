import { describe, expect, it } from 'vitest';
import { RoutingMetricsSource } from '../../src/adapters/metrics/routing';
import type { WindowStats } from '../../src/domain/verdict';
import type { MetricsSource } from '../../src/ports/metrics';

const stats = (requests: number): WindowStats => ({ requests }) as WindowStats;

function setup() {
  const reads = { getPrompt: 0, probes: 0 };
  const builtin: MetricsSource = {
    window: () => Promise.resolve(stats(7)),
    lastSeen: () => Promise.resolve(undefined),
    lastWindow: () => Promise.resolve(stats(3)),
  };
  const source = new RoutingMetricsSource({
    registry: {
      getPrompt: () => {
        reads.getPrompt++;
        return Promise.resolve(undefined);
      },
    },
    builtin,
    dataVersion: () => ++reads.probes,
  });
  return { source, reads };
}

describe('metrics routing for a prompt whose record was just read', () => {
  it('reads go to the provider the record names, with no probe and no registry read', async () => {
    const { source, reads } = setup();
    const forCs = source.forPrompt('cs', { provider: 'builtin' });
    expect((await forCs.window('cs', 'v1', new Date(0), new Date(1000))).requests).toBe(7);
    expect((await forCs.lastWindow('cs', 'v0', 60))?.requests).toBe(3);
    expect(source.forPrompt('cs', undefined)).toBe(forCs);
    expect(reads).toEqual({ getPrompt: 0, probes: 0 });
    // Without the record, each read probes the data version and (a changed version) reads the prompt.
    await source.window('cs', 'v1', new Date(0), new Date(1000));
    expect(reads).toEqual({ getPrompt: 1, probes: 1 });
  });

  it('a record naming Prometheus where none is configured: every read is refused as MetricsUnavailable, naming the prompt', async () => {
    const { source } = setup();
    const forCs = source.forPrompt('cs', { provider: 'prometheus', queries: { requests: 'r', errors: 'e', latency_p99_ms: 'l' } });
    await expect(forCs.window('cs', 'v1', new Date(0), new Date(1000))).rejects.toMatchObject({
      type: 'MetricsUnavailable',
      message: expect.stringContaining('prompt cs'),
    });
    await expect(forCs.lastWindow('cs', 'v1', 60)).rejects.toMatchObject({ type: 'MetricsUnavailable' });
  });
});
