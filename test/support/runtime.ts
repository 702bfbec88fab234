import { DefaultLogger, Runtime } from '@temporalio/worker';

let installed = false;

/** One Temporal runtime per test process, logging only errors (worker state changes are noise in tests). */
export function quietRuntime(): void {
  if (installed) return;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  installed = true;
}
