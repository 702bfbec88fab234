/**
 * Preload for the worker process (`node --require ./src/main/workflow-vm.cjs …`; the `worker` and `start` scripts
 * load it): calls into workflow code run without the Temporal SDK's per-call watchdog.
 *
 * The SDK passes `timeout` (its isolateExecutionTimeout, 5 s) to every `vm` call into a workflow's context, several per
 * workflow task, and Node starts and joins a watchdog thread for each such call: about 80 µs on an idle core, and on a
 * busy box a wait for the scheduler to run that thread before the workflow task can go on. With 1,000 monitors and an
 * incident on two cores it was the largest single share of the workflow threads' time (measured by bench/detect:
 * breach → switched p50 under load about a third lower without it).
 *
 * What the watchdog buys: a workflow stuck in a synchronous loop fails its task after 5 s instead of holding its
 * workflow thread. promptback's workflows are its own code, deterministic and replay-tested; set
 * WORKFLOW_DEADLOCK_WATCHDOG=on to keep the SDK's watchdog anyway. Worker threads inherit the process's `--require`,
 * so the SDK's workflow threads load this too. Plain CommonJS: it runs before any TypeScript loader.
 */
'use strict';
const vm = require('node:vm');

const MARK = Symbol.for('promptback.workflow-vm');

if (process.env.WORKFLOW_DEADLOCK_WATCHDOG === 'on') {
  globalThis[MARK] = 'per-call watchdog (WORKFLOW_DEADLOCK_WATCHDOG=on)';
} else if (!globalThis[MARK]) {
  const runInContext = vm.Script.prototype.runInContext;
  vm.Script.prototype.runInContext = function (context, options) {
    if (options && typeof options === 'object' && options.timeout !== undefined) {
      const { timeout: _dropped, ...rest } = options;
      return runInContext.call(this, context, rest);
    }
    return runInContext.call(this, context, options);
  };
  // vm.runInContext(code, …) goes through this method too.
  globalThis[MARK] = 'no per-call watchdog';
}
