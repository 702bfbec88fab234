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
  const { isMainThread, BroadcastChannel } = require('node:worker_threads');
  const stallS = Number(process.env.WORKFLOW_STALL_EXIT_S ?? '30');
  // In place of the watchdog, one stall check for the whole process: each workflow thread keeps in shared memory since
  // when its current call into workflow code runs, and the main thread looks once a second. A call past
  // WORKFLOW_STALL_EXIT_S means a workflow stuck in a synchronous loop, which holds every workflow of that thread: the
  // worker says so and exits, so that its supervisor restarts it and the other workflows go on (0: no check).
  const channel = stallS > 0 ? new BroadcastChannel('promptback.workflow-vm') : undefined;
  channel?.unref();
  let since;
  let depth = 0;
  if (channel && !isMainThread) {
    const slot = new SharedArrayBuffer(8);
    since = new BigInt64Array(slot);
    channel.postMessage({ slot });
  } else if (channel) {
    const threads = [];
    channel.onmessage = (e) => threads.push(new BigInt64Array(e.data.slot));
    setInterval(() => {
      for (const t of threads) {
        const at = Number(Atomics.load(t, 0));
        if (at > 0 && Date.now() - at > stallS * 1000) {
          process.stderr.write(
            `promptback worker: a call into workflow code has run for ${Math.round((Date.now() - at) / 1000)} s (WORKFLOW_STALL_EXIT_S=${stallS}): ` +
              'a workflow is stuck in a synchronous loop and holds every workflow of its thread; exiting so that the worker is restarted\n',
          );
          process.exit(70);
        }
      }
    }, 1000).unref();
  }
  const runInContext = vm.Script.prototype.runInContext;
  vm.Script.prototype.runInContext = function (context, options) {
    let rest = options;
    if (options && typeof options === 'object' && options.timeout !== undefined) {
      const { timeout: _dropped, ...others } = options;
      rest = others;
    }
    if (!since) return runInContext.call(this, context, rest);
    if (depth++ === 0) Atomics.store(since, 0, BigInt(Date.now()));
    try {
      return runInContext.call(this, context, rest);
    } finally {
      if (--depth === 0) Atomics.store(since, 0, 0n);
    }
  };
  // vm.runInContext(code, …) goes through this method too.
  globalThis[MARK] =
    stallS > 0 ? `no per-call watchdog; a workflow thread stuck over ${stallS} s stops the worker` : 'no per-call watchdog';
}
