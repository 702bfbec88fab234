import { DefaultLogger } from '@temporalio/worker';
import { installTemporalRuntime } from '../../src/main/telemetry';

let installed = false;

/**
 * One Temporal runtime per test process, logging only errors (worker state changes are noise in tests).
 * `metricsBindAddress` turns on the SDK's Prometheus exporter, which a worker's /metrics then includes.
 */
export function quietRuntime(opts: { metricsBindAddress?: string } = {}): void {
  if (installed) return;
  installTemporalRuntime({ logger: new DefaultLogger('ERROR'), ...opts });
  installed = true;
}
