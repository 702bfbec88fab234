/**
 * Records workflow histories for the replay test: `npx tsx test/replay/record.ts`. Run it when a release
 * ships a workflow change (behind `patched()`), and commit the new files: replaying every recorded history
 * with the current code is what keeps running workflows safe from non-deterministic changes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import type { RollbackInput } from '../../src/domain/rollback';
import type { Verdict } from '../../src/domain/verdict';
import { WORKFLOWS_PATH } from '../../src/main/worker';
import { approveSignal, stopMonitorSignal } from '../../src/workflows/messages';
import { fakeActivities, fakeWorld, type FakeWorld } from '../support/fake-activities';
import { timeSkippingEnv } from '../support/time-skipping-env';

const OUT = path.join(__dirname, 'histories');

const verdict = (over: Partial<Verdict>): Verdict => ({
  kind: 'breached',
  rule: 'error_rate_high',
  metric: 'error_rate',
  threshold: 0.02,
  observed: 0.03,
  window_s: 300,
  samples: 200,
  severity: 'high',
  action: 'page',
  deadline_s: 300,
  default_action: 'rollback',
  summary: 'high: error rate 3.00 % ≥ 2.00 %',
  ...over,
});

const world = fakeWorld;

const input = (over: Partial<RollbackInput> = {}): RollbackInput => ({
  rollback_id: randomUUID().slice(0, 8),
  prompt: 'customer-support',
  target_version: 'v1.9.0',
  reason: 'recorded',
  severity: 'high',
  mode: 'immediate',
  requested_by: 'alice',
  requested_at: new Date().toISOString(),
  verification: { ...DEFAULT_VERIFICATION },
  ...over,
});

async function main(): Promise<void> {
  const env = await timeSkippingEnv();
  const { code } = await (await import('@temporalio/worker')).bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH });
  const scenarios: { name: string; world: FakeWorld; run: (taskQueue: string) => Promise<string> }[] = [
    {
      name: 'rollback-operator-recovered',
      world: world({
        checks: [
          { requests: 0, errors: 0 },
          { requests: 100, errors: 0 },
        ],
      }),
      run: async (taskQueue) => {
        const i = input();
        const id = `rollback/customer-support/${i.rollback_id}`;
        await env.client.workflow.execute('rollbackWorkflow', { taskQueue, workflowId: id, args: [i] });
        return id;
      },
    },
    {
      name: 'incident-high-approved',
      world: world({ assessments: [verdict({})] }),
      run: async (taskQueue) => {
        const v = verdict({});
        const i = input({
          target_version: undefined,
          requested_by: 'monitor',
          incident: { verdict: v, action: 'page', deadline_s: 300, default_action: 'rollback' },
        });
        const id = `rollback/customer-support/${i.rollback_id}`;
        const h = await env.client.workflow.start('rollbackWorkflow', { taskQueue, workflowId: id, args: [i] });
        await h.signal(approveSignal, { by: 'bob', comment: 'go' });
        await h.result();
        return id;
      },
    },
    {
      name: 'incident-high-deadline-escalated',
      world: world({ assessments: [verdict({})], checks: [{ requests: 100, errors: 30 }] }),
      run: async (taskQueue) => {
        const v = verdict({ rule: 'latency_p99_high', metric: 'latency_p99_ratio', threshold: 2, observed: 3, deadline_s: 600 });
        const i = input({
          target_version: undefined,
          requested_by: 'monitor',
          incident: { verdict: v, action: 'page', deadline_s: 600, default_action: 'rollback' },
        });
        const id = `rollback/customer-support/${i.rollback_id}`;
        await env.client.workflow.execute('rollbackWorkflow', { taskQueue, workflowId: id, args: [i] });
        return id;
      },
    },
    {
      name: 'monitor-opens-incident-then-stops',
      world: world({
        monitorChecks: [
          { verdict: verdict({ kind: 'inconclusive', severity: undefined }), active_version: 'v2.0.0', action: 'none' },
          {
            verdict: verdict({ severity: 'critical', action: 'rollback', rule: 'error_rate_critical', observed: 0.3 }),
            active_version: 'v2.0.0',
            action: 'open_incident',
            incident: input({
              rollback_id: 'rec-incident',
              target_version: undefined,
              requested_by: 'monitor',
              severity: 'critical',
              incident: {
                verdict: verdict({ severity: 'critical', action: 'rollback' }),
                action: 'rollback',
                deadline_s: 120,
                default_action: 'rollback',
              },
            }),
          },
          { verdict: verdict({ kind: 'healthy', severity: undefined }), active_version: 'v1.9.0', action: 'none' },
        ],
        assessments: [verdict({ severity: 'critical', action: 'rollback' })],
      }),
      run: async (taskQueue) => {
        const id = `monitor/customer-support-${randomUUID().slice(0, 6)}`;
        const h = await env.client.workflow.start('monitorWorkflow', {
          taskQueue,
          workflowId: id,
          args: [{ prompt: 'customer-support', interval_s: 30, started_by: 'alice' }],
        });
        while ((await h.query<{ checks: number }>('state')).checks < 3) await new Promise((r) => setTimeout(r, 50));
        await h.signal(stopMonitorSignal, { by: 'alice' });
        await h.result();
        return id;
      },
    },
  ];
  fs.mkdirSync(OUT, { recursive: true });
  for (const s of scenarios) {
    const taskQueue = `record-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: { code },
      activities: fakeActivities(s.world),
    });
    const workflowId = await worker.runUntil(s.run(taskQueue));
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    fs.writeFileSync(path.join(OUT, `${s.name}.json`), historyToJSON(history));
    console.log(`recorded ${s.name}: ${history.events?.length ?? 0} events`);
  }
  await env.teardown();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
