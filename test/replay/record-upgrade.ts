/**
 * Records executions that an upgrade catches in flight: started by an older release's worker, finished by
 * today's (time-skipping server, fake activities). Their histories hold the old release's commands up to the
 * upgrade and today's after it, which is what a deploy does to every incident still open.
 *
 *   git worktree add /work/wt/old2 144ec77^ && ln -s /work/main/node_modules /work/main/.tools /work/wt/old2/
 *   OLD_TREE=/work/wt/old2 ERA=v1-0546e5c npx tsx test/replay/record-upgrade.ts
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import type { RollbackInput, RollbackView } from '../../src/domain/rollback';
import type { Verdict } from '../../src/domain/verdict';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import { WORKFLOWS_PATH } from '../../src/main/worker';
import { approveSignal, breachSignal } from '../../src/workflows/messages';
import { fakeActivities, fakeWorld } from '../support/fake-activities';
import { timeSkippingEnv } from '../support/time-skipping-env';

const OUT = path.join(__dirname, 'histories');
// No sticky cache: after the old worker stops, its executions' next tasks go straight to the new one.
const NO_CACHE = { maxCachedWorkflows: 0 } as const;
const OLD_TREE = process.env.OLD_TREE;
const ERA = process.env.ERA;

const high: Verdict = {
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
};

async function main(): Promise<void> {
  if (!OLD_TREE || !ERA) throw new Error('set OLD_TREE (a checkout of the older release) and ERA (the file prefix)');
  const quiet = {
    log: () => undefined,
    trace: () => undefined,
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  };
  const env = await timeSkippingEnv();
  const [old, now] = await Promise.all([
    bundleWorkflowCode({ workflowsPath: path.join(OLD_TREE, 'src/workflows/index.ts'), logger: quiet }),
    bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quiet }),
  ]);
  const started = Date.now();
  const taskQueue = `upgrade-${randomUUID()}`;
  const world = fakeWorld({ assessments: [high] });
  const input: RollbackInput = {
    rollback_id: randomUUID().slice(0, 8),
    prompt: 'customer-support',
    reason: high.summary,
    severity: 'high',
    mode: 'immediate',
    requested_by: 'monitor',
    requested_at: new Date().toISOString(),
    verification: { ...DEFAULT_VERIFICATION },
    incident: { verdict: high, action: 'page', deadline_s: 300, default_action: 'rollback' },
  };
  const id = `rollback/customer-support/${input.rollback_id}`;

  // The older release opens the incident and pages; then its worker is shut down (the deploy).
  const before = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { code: old.code },
    activities: fakeActivities(world),
    ...NO_CACHE,
  });
  const h = await before.runUntil(async () => {
    const handle = await env.client.workflow.start('rollbackWorkflow', { taskQueue, workflowId: id, args: [input] });
    for (let i = 0; i < 400 && (await handle.query<RollbackView>('state')).status !== 'awaiting_approval'; i++)
      await new Promise((r) => setTimeout(r, 25));
    return handle;
  });

  // Today's worker picks it up: a breach update and the approval are handled by the current code.
  const after = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { code: now.code },
    activities: fakeActivities(world),
    ...NO_CACHE,
  });
  await after.runUntil(async () => {
    await h.signal(breachSignal, { ...high, observed: 0.04 });
    for (let i = 0; i < 400 && !(await h.query<RollbackView>('state')).timeline.some((t) => t.event === 'breach_update'); i++)
      await new Promise((r) => setTimeout(r, 25));
    await h.signal(approveSignal, { by: 'bob', comment: 'go' });
    await h.result();
  });
  const history = await h.fetchHistory();
  const file = path.join(OUT, `${ERA}-upgraded-incident-breach-not-worse-approved.json`);
  fs.writeFileSync(file, historyToJSON(history));
  console.log(`wrote ${path.relative(process.cwd(), file)}: ${history.events?.length ?? 0} events, ${Date.now() - started} ms`);
  await env.teardown();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
