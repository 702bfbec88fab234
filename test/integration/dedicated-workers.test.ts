/**
 * Workers dedicated to rollbacks (WORKER_TASK_QUEUES): a process polling only the main queue runs the monitors and
 * never a rollback; one polling only `<queue>-rollbacks` runs the rollbacks. Real worker processes, real dev server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnWorker, type Proc } from '../support/processes';
import { http, seedCustomerSupport, startStack, waitFor, type Stack } from '../support/stack';

let stack: Stack;
const procs: Proc[] = [];
beforeAll(async () => {
  stack = await startStack({ namespace: 'it-dedicated', worker: false });
});
afterAll(async () => {
  for (const p of procs) await p.kill();
  await stack?.stop();
});

/** Everything a process writes to stdout (its log), from the start: Proc.output() keeps only the last lines. */
function stdoutOf(p: Proc): () => string {
  let text = '';
  p.child.stdout?.on('data', (b: Buffer) => (text += b.toString()));
  return () => text;
}

const active = async () => (await http(stack.url, 'GET', '/api/prompts/customer-support')).body.active_version as string;

describe('workers dedicated to one task queue', () => {
  it('a main-queue worker runs the monitors and leaves rollbacks to a rollbacks worker, which switches once it polls', async () => {
    const logs = { LOG_LEVEL: 'info', LOG_FORMAT: 'json' };
    const main = spawnWorker({ ...stack.env, ...logs, WORKER_TASK_QUEUES: 'main' });
    procs.push(main);
    const mainLog = stdoutOf(main);
    await seedCustomerSupport(stack.url);
    const monitor = await waitFor('the monitor checks on the main-queue worker', async () => {
      const m = (await http(stack.url, 'GET', '/api/monitors/customer-support')).body;
      return m.checks >= 1 ? m : undefined;
    });
    expect(monitor.status).toBe('running');

    const r = await http(stack.url, 'POST', '/api/rollback', { prompt: 'customer-support', target_version: 'v1.9.0', reason: 'drill' });
    expect(r.status).toBe(202);
    // Nobody polls the rollbacks' queue yet: nothing moves.
    await new Promise((res) => setTimeout(res, 3_000));
    expect(await active()).toBe('v2.0.0');

    const rollbacks = spawnWorker({ ...stack.env, ...logs, WORKER_TASK_QUEUES: 'rollbacks' });
    procs.push(rollbacks);
    const rollbacksLog = stdoutOf(rollbacks);
    await waitFor('the switch by the rollbacks worker', async () => ((await active()) === 'v1.9.0' ? true : undefined), 30_000);
    const d = await stack.api.client.workflow.getHandle(r.body.workflow_id).describe();
    expect(d.taskQueue).toBe(`${stack.config.temporal.taskQueue}-rollbacks`);
    // Each says at start which queues it polls.
    const q = stack.config.temporal.taskQueue;
    await waitFor('the main worker says it polls the main queue', () =>
      Promise.resolve(mainLog().includes(`"task_queues":["${q}","${q}-monitor-checks"]`) ? true : undefined),
    );
    await waitFor('the rollbacks worker says it polls the rollbacks queue', () =>
      Promise.resolve(rollbacksLog().includes(`"task_queues":["${q}-rollbacks"]`) ? true : undefined),
    );
  });
});
