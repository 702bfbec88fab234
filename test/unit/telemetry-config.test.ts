import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/main/config';

describe('WORKER_METRICS_PORT', () => {
  it('defaults to 9464, accepts 0 (any free port), and stops start-up naming the variable on a bad value', () => {
    expect(loadConfig({}).workerMetricsPort).toBe(9464);
    expect(loadConfig({ WORKER_METRICS_PORT: '0' }).workerMetricsPort).toBe(0);
    expect(loadConfig({ WORKER_METRICS_PORT: '19464' }).workerMetricsPort).toBe(19464);
    expect(() => loadConfig({ WORKER_METRICS_PORT: 'metrics' })).toThrow(/WORKER_METRICS_PORT/);
    expect(() => loadConfig({ WORKER_METRICS_PORT: '70000' })).toThrow(/WORKER_METRICS_PORT/);
  });
});
