import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { rollbackWorkflowId } from '../../src/domain/names';
import type { RollbackInput } from '../../src/domain/rollback';
import type { rollbackWorkflow } from '../../src/workflows/rollback';
import { fakeActivities, type FakeWorld } from './fake-activities';
import { testWorker } from './time-skipping';

export type RollbackHandle = WorkflowHandle<typeof rollbackWorkflow>;

/**
 * Starts a rollback workflow on its own task queue and worker and runs `body` while the worker runs. Time stays
 * locked (moves at wall-clock pace) until `body` awaits a result or calls `env.sleep`.
 */
export async function withRollback<T>(
  env: TestWorkflowEnvironment,
  w: FakeWorld,
  makeInput: (requestedAt: string) => RollbackInput,
  body: (h: RollbackHandle, input: RollbackInput) => Promise<T>,
): Promise<T> {
  const taskQueue = `tq-${randomUUID()}`;
  const worker = await testWorker(env, taskQueue, fakeActivities(w));
  // The server's clock, not the wall clock: earlier tests have skipped it hours ahead.
  const input = makeInput(new Date(await env.currentTimeMs()).toISOString());
  const workflowId = rollbackWorkflowId(input.prompt, input.rollback_id);
  try {
    return await worker.runUntil(async () => {
      const h = await env.client.workflow.start<typeof rollbackWorkflow>('rollbackWorkflow', { taskQueue, workflowId, args: [input] });
      return await body(h, input);
    });
  } finally {
    // A workflow a failed test leaves running without its worker would hold the test server's clock for every
    // later test (its next workflow task never completes).
    await env.client.workflow
      .getHandle(workflowId)
      .terminate('test cleanup')
      .catch(() => undefined);
  }
}
