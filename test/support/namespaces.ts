/**
 * One Temporal namespace per integration test file: workflow ids such as `monitor/customer-support` are unique
 * per namespace, so files running in parallel against the one dev server never share a monitor.
 */
export const TEST_NAMESPACES = [
  'it-runbook',
  'it-crash',
  'it-validation',
  'it-detect',
  'it-decide',
  'it-staged',
  'it-resolve',
  'it-replicas',
  'it-delivery',
  'it-prometheus',
  'it-prometheus-verify',
  'it-reconcile',
  'it-unavailable',
  'it-inflight',
  'it-storage',
  'it-telemetry',
  'it-watch',
  'it-slack',
  'it-webui',
  'it-dashboard',
  'it-openapi',
  'it-cli',
  'it-logs',
  'it-dedicated',
  'it-monitor-checks',
  'it-named-target',
  'it-store-outage',
  'it-direct-page',
] as const;
export type TestNamespace = (typeof TEST_NAMESPACES)[number];
