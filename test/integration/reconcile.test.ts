/**
 * The reconciler against the real dev server: the store and the engine are made to agree. A claimed rollback
 * whose workflow never started is started (or released, with the audit row saying why), an incident whose
 * workflow was terminated is released, and a killed monitor is restarted — so no prompt stays blocked with
 * 409s, and every deployed prompt stays guarded.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialView, type RollbackInput } from '../../src/domain/rollback';
import { DEFAULT_VERIFICATION } from '../../src/domain/verification';
import { TemporalWorkflows } from '../../src/adapters/workflows/temporal';
import { http, seedTwoVersions, startStack, waitFor, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ namespace: 'it-reconcile', env: { RECONCILE_EVERY_S: '2', RECONCILE_GRACE_S: '1' } });
});
afterAll(async () => {
  await stack?.stop();
});

/** A prompt with v1 (known good) and v2 deployed, as an operator sets it up. */
const seed = (prompt: string): Promise<void> => seedTwoVersions(stack.url, prompt, 'reconciler drill');

/**
 * What an operator's rollback leaves behind when its API dies between the claim and the start. (A monitor's claim
 * left like this is also started by the monitor's own next check, racing the reconciler: see monitor-check.test.ts.)
 */
async function claimWithoutWorkflow(prompt: string, id: string, keepInput: boolean): Promise<void> {
  const input: RollbackInput = {
    rollback_id: id,
    prompt,
    target_version: 'v1',
    reason: 'error rate 30 % > 5 %',
    severity: 'critical',
    mode: 'immediate',
    requested_by: 'ops@example.com',
    requested_at: new Date(Date.now() - 5_000).toISOString(),
    verification: { ...DEFAULT_VERIFICATION, interval_s: 1, duration_s: 5, min_samples: 1 },
  };
  const claim = await stack.adapters.rollbacks.claim(initialView(input), keepInput ? input : undefined);
  expect(claim.ok).toBe(true);
}

const rollback = async (id: string) => (await http(stack.url, 'GET', `/api/rollbacks/${id}`)).body;

/**
 * A rollback whose workflow made its one step's audited switch to v1 (keyed by the rollback), then `more` switches,
 * and was terminated before its task completed: started on a queue no worker polls, so only these switches happen.
 * Resolves with the row once the reconciler released it.
 */
async function strandedAfter(prompt: string, id: string, more: { to: string; action: 'compensate'; key: string }[]): Promise<any> {
  await seed(prompt);
  await claimWithoutWorkflow(prompt, id, true);
  const input = (await stack.adapters.rollbacks.startInput(id))!;
  const handle = await stack.api.client.workflow.start('rollbackWorkflow', {
    taskQueue: `nobody-${id}`,
    workflowId: `rollback/${prompt}/${id}`,
    args: [input],
  });
  const r = stack.adapters.registry;
  await r.switchActive({ prompt, to: 'v1', action: 'rollback', key: id, actor: 'ops@example.com', reason: 'drill' });
  for (const m of more)
    await r.switchActive({ prompt, to: m.to, action: m.action, key: `${id}${m.key}`, actor: 'system', reason: 'group failed' });
  await handle.terminate('operator terminated it in the Web UI');
  return waitFor('release', async () => {
    const b = await rollback(id);
    return b.status === 'failed' ? b : undefined;
  });
}

/**
 * The audit row the reconciler writes with the change it audits (a workflow started, a row released): waited
 * for, not read the moment the change shows.
 */
const auditRow = (prompt: string, action: string) =>
  waitFor(`the ${action} audit row of ${prompt}`, async () =>
    (await stack.adapters.registry.audit({ prompt })).find((a) => a.action === action),
  );

describe('reconciler', () => {
  it('starts a claimed rollback whose workflow never started, from its stored input', async () => {
    await seed('rc-start');
    await claimWithoutWorkflow('rc-start', '20260101-000000-rcstart1', true);
    await waitFor('the switch', async () => {
      const p = (await http(stack.url, 'GET', '/api/prompts/rc-start')).body;
      return p.active_version === 'v1' ? p : undefined;
    });
    expect(await auditRow('rc-start', 'rollback.start')).toMatchObject({
      actor: 'system:reconciler',
      detail: { rollback_id: '20260101-000000-rcstart1' },
    });
    expect((await stack.adapters.registry.audit({ prompt: 'rc-start' })).filter((a) => a.action === 'rollback')).toHaveLength(1);
    const described = await stack.api.client.workflow.getHandle('rollback/rc-start/20260101-000000-rcstart1').describe();
    expect(described.type).toBe('rollbackWorkflow');
  });

  it('releases a claimed rollback that cannot be started (no stored input), saying why; the prompt can be deployed again', async () => {
    await seed('rc-noinput');
    await claimWithoutWorkflow('rc-noinput', '20260101-000000-rcnoinp1', false);
    const blocked = await http(stack.url, 'POST', '/api/prompts/rc-noinput/deploy', { version: 'v1' });
    expect(blocked.status).toBe(409);
    const v = await waitFor('release', async () => {
      const r = await rollback('20260101-000000-rcnoinp1');
      return r.status === 'failed' ? r : undefined;
    });
    expect(v.timeline.at(-1)).toMatchObject({ event: 'released', detail: { by: 'system:reconciler' } });
    const row = await auditRow('rc-noinput', 'rollback.released');
    expect(row).toMatchObject({ actor: 'system:reconciler', detail: { rollback_id: '20260101-000000-rcnoinp1' } });
    expect(row.reason).toContain('never started');
    expect((await http(stack.url, 'POST', '/api/prompts/rc-noinput/deploy', { version: 'v1' })).status).toBe(202);
  });

  it('releases the row of an incident whose workflow was terminated, so the prompt is not blocked with 409s', async () => {
    await seed('rc-term');
    // Verification that cannot finish quickly: the workflow is terminated while it runs.
    const r = await http(stack.url, 'POST', '/api/rollback', { prompt: 'rc-term', target_version: 'v1', reason: 'drill' });
    expect(r.status).toBe(202);
    const id: string = r.body.rollback_id;
    await stack.api.client.workflow.getHandle(r.body.workflow_id).terminate('operator terminated it in the Web UI');
    const v = await waitFor('release', async () => {
      const b = await rollback(id);
      return b.status === 'failed' ? b : undefined;
    });
    expect(v.timeline.at(-1)).toMatchObject({ event: 'released', detail: { by: 'system:reconciler', workflow: 'terminated' } });
    const row = await auditRow('rc-term', 'rollback.released');
    expect(row).toMatchObject({ actor: 'system:reconciler', detail: { rollback_id: id } });
    expect(row.reason).toContain('terminated');
    // Not blocked: a new rollback is accepted. (The terminated one may have switched to v1 before it was terminated,
    // inside its first workflow task: the new one goes to whichever version is not serving now.)
    const active = (await http(stack.url, 'GET', '/api/prompts/rc-term')).body.active_version;
    const again = await http(stack.url, 'POST', '/api/rollback', { prompt: 'rc-term', target_version: active === 'v1' ? 'v2' : 'v1' });
    expect(again.status, JSON.stringify(again.body)).toBe(202);
  });

  it('a release whose audit row cannot be written is not made: the rollback stays open until both are written together', async () => {
    await seed('rc-atomic');
    const id = '20260101-000000-rcatomi1';
    // The store refuses this prompt's release audit rows (as a full disk or a crash between two writes would).
    const db = stack.adapters.db.kysely;
    await sql`CREATE TRIGGER refuse_rc_atomic BEFORE INSERT ON audit_log
      WHEN NEW.action = 'rollback.released' AND NEW.prompt = 'rc-atomic' BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END`.execute(
      db,
    );
    try {
      const since = new Date();
      await claimWithoutWorkflow('rc-atomic', id, false);
      // A pass that tried: its summary names the rollback and the store's refusal.
      await waitFor('a reconciler pass that could not release it', async () => {
        for await (const w of stack.api.client.workflow.list({
          query: `WorkflowType = 'reconcileWorkflow' AND ExecutionStatus = 'Completed'`,
        })) {
          if (w.startTime < since) continue;
          const summary = (await stack.api.client.workflow.getHandle(w.workflowId, w.runId).result()) as { errors: string[] };
          if (summary.errors.some((e) => e.includes(id) && e.includes('audit log unavailable'))) return true;
        }
        return undefined;
      });
      expect((await rollback(id)).status).toBe('rolling_back');
      expect((await stack.adapters.registry.audit({ prompt: 'rc-atomic' })).map((a) => a.action)).not.toContain('rollback.released');
      expect((await http(stack.url, 'POST', '/api/prompts/rc-atomic/deploy', { version: 'v1' })).status).toBe(409);
    } finally {
      await sql`DROP TRIGGER refuse_rc_atomic`.execute(db);
    }
    // The store takes audit rows again: the next pass writes the release and its row.
    const v = await waitFor('release', async () => {
      const r = await rollback(id);
      return r.status === 'failed' ? r : undefined;
    });
    expect(v.timeline.at(-1)).toMatchObject({ event: 'released', detail: { by: 'system:reconciler' } });
    expect((await stack.adapters.registry.audit({ prompt: 'rc-atomic' })).filter((a) => a.action === 'rollback.released')).toHaveLength(1);
  });

  it('a rollback whose workflow ended right after its switch, before saving it: the release records the switch from the audit row', async () => {
    const v = await strandedAfter('rc-moved', '20260101-000000-rcmoved1', []);
    // The traffic moved: the row says so, rather than a failed rollback that reads as if nothing happened.
    expect(v).toMatchObject({ from_version: 'v2', to_version: 'v1' });
    expect(v.timeline.slice(-2)).toMatchObject([
      { event: 'switched', detail: { from_version: 'v2', to_version: 'v1', recorded_by: 'system:reconciler' } },
      { event: 'released', detail: { by: 'system:reconciler', workflow: 'terminated' } },
    ]);
    expect(v.timeline.at(-1).detail.why).toContain('it had switched rc-moved from v2 to v1');
    expect((await http(stack.url, 'GET', '/api/prompts/rc-moved')).body.active_version).toBe('v1');
  });

  it('the same, when the switch was undone before the workflow ended: the release names the version serving now', async () => {
    // Switched, then compensated (a failed group puts each prompt back), then terminated before saving either.
    const v = await strandedAfter('rc-undone', '20260101-000000-rcundon1', [{ to: 'v2', action: 'compensate', key: '/undo' }]);
    expect(v.timeline.at(-1).detail.why).toContain('it had switched rc-undone from v2 to v1');
    expect(v.timeline.at(-1).detail.why).toContain('rc-undone now serves v2');
    expect(v.timeline.at(-1).detail.why).not.toContain('traffic stays there');
  });

  it('restarts a killed monitor of a deployed prompt', async () => {
    await seed('rc-monitor');
    const monitor = stack.api.client.workflow.getHandle('monitor/rc-monitor');
    await waitFor('the monitor', async () => ((await monitor.describe()).status.name === 'RUNNING' ? true : undefined));
    const firstRun = (await monitor.describe()).runId;
    await monitor.terminate('killed');
    const restarted = await waitFor('a new monitor run', async () => {
      const d = await stack.api.client.workflow.getHandle('monitor/rc-monitor').describe();
      return d.status.name === 'RUNNING' && d.runId !== firstRun ? d : undefined;
    });
    expect(restarted.type).toBe('monitorWorkflow');
    const m = (await http(stack.url, 'GET', '/api/monitors/rc-monitor')).body;
    expect(m.status).toBe('running');
    const row = await auditRow('rc-monitor', 'monitor.start');
    expect(row).toMatchObject({ actor: 'system:reconciler' });
  });

  it("lists the running monitors in one call to the engine's visibility store, as the reconciler's pass reads them", async () => {
    await seed('rc-listed');
    const engine = new TemporalWorkflows(stack.api.client, stack.config.temporal.taskQueue, 'http://web-ui.invalid', 10_000);
    // Visibility follows the engine by a moment: a started monitor is listed, a terminated one no longer is.
    await waitFor('the monitor listed as running', async () =>
      (await engine.runningMonitors()).has('monitor/rc-listed') ? true : undefined,
    );
    await stack.api.client.workflow.getHandle('monitor/rc-listed').terminate('killed');
    await waitFor('the killed monitor no longer listed (or already restarted)', async () => {
      const d = await stack.api.client.workflow.getHandle('monitor/rc-listed').describe();
      const listed = (await engine.runningMonitors()).has('monitor/rc-listed');
      return listed === (d.status.name === 'RUNNING') ? true : undefined;
    });
    // A pass did not find the listing refused: its summary has no listing error.
    const passes = stack.api.client.workflow.list({ query: `WorkflowType = 'reconcileWorkflow' AND ExecutionStatus = 'Completed'` });
    let seen = 0;
    for await (const w of passes) {
      const result = (await stack.api.client.workflow.getHandle(w.workflowId, w.runId).result()) as { errors: string[] };
      expect(result.errors.filter((e) => e.startsWith('listing the running monitors'))).toEqual([]);
      if (++seen >= 3) break;
    }
    expect(seen).toBeGreaterThan(0);
  });

  it('leaves a monitor that was stopped on purpose stopped', async () => {
    await seed('rc-stopped');
    expect((await http(stack.url, 'DELETE', '/api/monitors/rc-stopped')).status).toBe(202);
    await new Promise((res) => setTimeout(res, 5_000)); // two reconciler passes
    expect((await http(stack.url, 'GET', '/api/monitors/rc-stopped')).body.status).toBe('stopped');
  });

  it('marks a canary deployment whose workflow is gone as failed, so the prompt can be deployed again', async () => {
    await seed('rc-canary');
    await stack.adapters.registry.beginDeployment({
      deployment_id: 'dep-20260101-000000-rccanar1',
      prompt: 'rc-canary',
      version: 'v1',
      strategy: 'canary',
      status: 'rolling_out',
      requested_by: 'alice',
      from_version: 'v2',
      created_at: new Date(Date.now() - 5_000).toISOString(),
      updated_at: new Date(Date.now() - 5_000).toISOString(),
    });
    expect((await http(stack.url, 'POST', '/api/prompts/rc-canary/deploy', { version: 'v1' })).status).toBe(409);
    const d = await waitFor('the deployment to be released', async () => {
      const b = (await http(stack.url, 'GET', '/api/deployments/dep-20260101-000000-rccanar1')).body;
      return b.status === 'failed' ? b : undefined;
    });
    expect(d.detail.reason).toContain('never started');
    const row = await auditRow('rc-canary', 'deployment.failed');
    expect(row).toMatchObject({ actor: 'system:reconciler' });
    expect((await http(stack.url, 'POST', '/api/prompts/rc-canary/deploy', { version: 'v1' })).status).toBe(202);
  });
});
