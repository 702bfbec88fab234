import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import type { Activities } from '../../src/activities';
import { timeSkippingEnv } from './time-skipping-env';

export { timeSkippingEnv };

export async function testWorker(env: TestWorkflowEnvironment, taskQueue: string, activities: Activities): Promise<Worker> {
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities,
  });
}
