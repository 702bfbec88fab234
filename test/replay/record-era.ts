/**
 * Records histories as an OLDER release ran them, for the replay corpus: run from a checkout of that release,
 * on the time-skipping server with fake activities (the old tree's own test support), e.g. for the era before
 * 607b05b ("Decision fixes"):
 *
 *   git worktree add /work/wt/old 607b05b^ && ln -s /work/main/node_modules /work/main/.tools /work/wt/old/
 *   cp test/replay/record-era.ts /work/wt/old/test/replay/ && cd /work/wt/old
 *   ERA=v1-pre-607b05b npx tsx test/replay/record-era.ts [scenario…]
 *   cp test/replay/histories/v1-pre-607b05b-* /work/wt/replay/test/replay/histories/
 *
 * Only imports that exist in every release since the monitor (c1cf038) are used, so the same file records any era.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { RollbackInput, RollbackView } from '../../src/domain/rollback';
import type { Verdict } from '../../src/domain/verdict';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import { WORKFLOWS_PATH } from '../../src/main/worker';
import { abortSignal, approveSignal, breachSignal, pauseSignal, resumeSignal, stopMonitorSignal } from '../../src/workflows/messages';
import { fakeActivities, fakeWorld, type FakeWorld } from '../support/fake-activities';
import { timeSkippingEnv } from '../support/time-skipping-env';

const OUT = path.join(__dirname, 'histories');
const ERA = process.env.ERA ?? 'v1-era';

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
const critical = verdict({
  rule: 'error_rate_critical',
  threshold: 0.1,
  observed: 0.3,
  severity: 'critical',
  action: 'rollback',
  deadline_s: 0,
  summary: 'critical: error rate 30.00 % ≥ 10.00 %',
});
const medium = verdict({
  rule: 'latency_p99_medium',
  metric: 'latency_p99_ratio',
  threshold: 1.5,
  observed: 1.7,
  severity: 'medium',
  action: 'observe',
  deadline_s: 900,
  summary: 'medium: p99 latency 1.70× ≥ 1.50× baseline',
});

const incidentInput = (v: Verdict): RollbackInput => ({
  rollback_id: randomUUID().slice(0, 8),
  prompt: 'customer-support',
  reason: v.summary,
  severity: v.severity!,
  mode: 'immediate',
  requested_by: 'monitor',
  requested_at: new Date().toISOString(),
  verification: { ...DEFAULT_VERIFICATION },
  incident: { verdict: v, action: v.action as 'page', deadline_s: v.deadline_s!, default_action: v.default_action as 'rollback' },
});

/** Drives one scenario; returns the histories to keep: name (after the era prefix) → workflow id. */
type Scenario = {
  name: string;
  world: FakeWorld;
  run: (env: TestWorkflowEnvironment, taskQueue: string) => Promise<Record<string, string>>;
};

async function until(h: { query: (q: string) => Promise<unknown> }, ok: (v: RollbackView) => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (ok((await h.query('state')) as RollbackView)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('workflow did not reach the expected state');
}

/** An incident waiting for a decision gets a `breach` signal, then whatever `after` does. */
const breachScenario = (name: string, first: Verdict, breach: Verdict, after: 'approve' | 'none', world: FakeWorld): Scenario => ({
  name,
  world,
  run: async (env, taskQueue) => {
    const i = incidentInput(first);
    const id = `rollback/customer-support/${i.rollback_id}`;
    const h = await env.client.workflow.start('rollbackWorkflow', { taskQueue, workflowId: id, args: [i] });
    await until(h, (v) => v.status === 'awaiting_approval' || v.status === 'observing');
    await h.signal(breachSignal, breach);
    if (after === 'approve') {
      // The breach update is handled (and its commands written) before the decision arrives.
      await until(h, (v) => v.timeline.some((e) => e.event === 'breach_update' || e.event === 'worsened'));
      await h.signal(approveSignal, { by: 'bob', comment: 'go' });
    }
    await h.result();
    return { [name]: id };
  },
});

const scenarios: Scenario[] = [
  // Same severity again (e.g. a manual `temporal workflow signal --name breach`, or two checks racing the store).
  breachScenario(
    'incident-high-breach-not-worse-approved',
    verdict({}),
    verdict({ observed: 0.04 }),
    'approve',
    fakeWorld({ assessments: [verdict({})] }),
  ),
  // high → critical: the critical rule rolls back at once (re-confirmed).
  breachScenario('incident-high-worse-critical-rolled-back', verdict({}), critical, 'none', fakeWorld({ assessments: [critical] })),
  // medium (observe) → high (page): a new decision deadline, which passes → default action, roll back.
  breachScenario('incident-medium-worse-high-deadline-rolled-back', medium, verdict({}), 'none', fakeWorld({ assessments: [verdict({})] })),
  {
    // medium (observe, 2 s) still breached at the end → gradual rollback (the v1 child: input without `v`),
    // paused and resumed by the operator on the child, as the API does.
    name: 'incident-medium-observed-gradual-paused-resumed',
    world: fakeWorld({ assessments: [medium] }),
    run: async (env, taskQueue) => {
      const i: RollbackInput = {
        ...incidentInput({ ...medium, deadline_s: 2 }),
        gradual_plan: {
          stages: [
            { percent_on_bad: 75, duration_s: 2 },
            { percent_on_bad: 50, duration_s: 2 },
            { percent_on_bad: 0, duration_s: 0 },
          ],
          check_interval_s: 1,
          max_error_rate: 0.02,
          min_samples: 10,
        },
      };
      const id = `rollback/customer-support/${i.rollback_id}`;
      const h = await env.client.workflow.start('rollbackWorkflow', { taskQueue, workflowId: id, args: [i] });
      await until(h, (v) => v.gradual !== undefined);
      const child = env.client.workflow.getHandle(`${id}/gradual`);
      await child.signal(pauseSignal, { by: 'alice', comment: 'looking' });
      await until(h, (v) => v.status === 'paused');
      await child.signal(resumeSignal, { by: 'alice' });
      await h.result();
      return { 'incident-medium-observed-gradual-paused-resumed': id, 'gradual-paused-resumed': `${id}/gradual` };
    },
  },
  {
    // An operator's gradual rollback, aborted on the child: all traffic back on the bad version.
    name: 'rollback-gradual-aborted',
    world: fakeWorld(),
    run: async (env, taskQueue) => {
      const i: RollbackInput = {
        ...incidentInput(verdict({})),
        incident: undefined,
        requested_by: 'alice',
        target_version: 'v1.9.0',
        mode: 'gradual',
        gradual_plan: {
          stages: [
            { percent_on_bad: 75, duration_s: 30 },
            { percent_on_bad: 0, duration_s: 0 },
          ],
          check_interval_s: 1,
          max_error_rate: 0.02,
          min_samples: 10,
        },
      };
      const id = `rollback/customer-support/${i.rollback_id}`;
      const h = await env.client.workflow.start('rollbackWorkflow', { taskQueue, workflowId: id, args: [i] });
      await until(h, (v) => v.gradual !== undefined);
      await env.client.workflow.getHandle(`${id}/gradual`).signal(abortSignal, { by: 'alice', comment: 'fine after all' });
      await h.result();
      return { 'rollback-gradual-aborted': id, 'gradual-aborted': `${id}/gradual` };
    },
  },
  {
    // The monitor tells an incident that no longer exists about a worse breach: the signal fails.
    name: 'monitor-signal-to-closed-incident',
    world: fakeWorld({
      monitorChecks: [
        {
          verdict: critical,
          active_version: 'v2.0.0',
          action: 'signal_incident',
          open: { rollback_id: 'gone', workflow_id: 'rollback/customer-support/gone' },
        },
        { verdict: verdict({ kind: 'healthy', severity: undefined }), active_version: 'v2.0.0', action: 'none' },
      ],
    }),
    run: async (env, taskQueue) => {
      const id = `monitor/customer-support-${randomUUID().slice(0, 6)}`;
      const h = await env.client.workflow.start('monitorWorkflow', {
        taskQueue,
        workflowId: id,
        args: [{ prompt: 'customer-support', interval_s: 1, started_by: 'alice' }],
      });
      // Either the run fails on the signal (older releases) or it goes on checking and is stopped.
      for (let i = 0; i < 400; i++) {
        if ((await h.describe()).status.name !== 'RUNNING') break;
        if ((await h.query<{ checks: number }>('state')).checks >= 2) {
          await h.signal(stopMonitorSignal, { by: 'alice' });
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await h.result().catch((e: unknown) => console.log(`  ${id} ended: ${(e as Error).message}`));
      return { 'monitor-signal-to-closed-incident': id };
    },
  },
];

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const env = await timeSkippingEnv();
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH });
  fs.mkdirSync(OUT, { recursive: true });
  for (const s of scenarios.filter((x) => only.length === 0 || only.includes(x.name))) {
    const started = Date.now();
    const taskQueue = `record-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: { code },
      activities: fakeActivities(s.world),
    });
    const wrote = await worker.runUntil(s.run(env, taskQueue));
    for (const [name, workflowId] of Object.entries(wrote)) {
      const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
      const file = path.join(OUT, `${ERA}-${name}.json`);
      fs.writeFileSync(file, historyToJSON(history));
      console.log(`wrote ${path.relative(process.cwd(), file)}: ${history.events?.length ?? 0} events`);
    }
    console.log(`${s.name}: ${Date.now() - started} ms`);
  }
  await env.teardown();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
