import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, seedCustomerSupport, sendTraffic, startStack, waitFor, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ namespace: 'it-decide' });
  await seedCustomerSupport(stack.url);
});
afterAll(async () => {
  await stack?.stop();
});

async function pendingApproval(): Promise<any> {
  return waitFor('a pending approval', async () => {
    const a = (await http(stack.url, 'GET', '/api/approvals')).body.approvals;
    return a.length > 0 ? a[0] : undefined;
  });
}

describe('high severity waits for a person', () => {
  it('3 % errors → pending approval with a 5-min deadline and a page; reject → stays on v2.0.0 and is not re-paged', async () => {
    await sendTraffic(stack.url, 'v2.0.0', 200, 0.03);
    const a = await pendingApproval();
    expect(a).toMatchObject({
      prompt: 'customer-support',
      status: 'awaiting_approval',
      severity: 'high',
      default_action: 'roll back',
      tier: 1,
    });
    const deadlineIn = Date.parse(a.deadline) - Date.now();
    expect(deadlineIn).toBeGreaterThan(240_000);
    expect(deadlineIn).toBeLessThanOrEqual(300_000);
    expect(a.trigger).toMatchObject({ metric: 'error_rate', threshold: 0.02, samples: 200 });

    const page = await waitFor('the page', async () => {
      const view = (await http(stack.url, 'GET', `/api/rollbacks/${a.rollback_id}`)).body;
      return view.timeline.find((t: { event: string }) => t.event === 'paged');
    });
    expect(page.detail.message).toMatch(/error rate 3\.00 %/);
    expect(page.detail.message).toContain(`/api/rollbacks/${a.rollback_id}/approve`);

    const r = await http(stack.url, 'POST', `/api/rollbacks/${a.rollback_id}/reject`, { comment: 'investigating the parser' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'rejected', decided_by: 'anonymous' });
    expect((await http(stack.url, 'GET', '/api/prompts/customer-support')).body.active_version).toBe('v2.0.0');

    // A second decision is refused: nothing is pending any more.
    const again = await http(stack.url, 'POST', `/api/rollbacks/${a.rollback_id}/approve`, {});
    expect(again.status).toBe(409);
    expect(again.type).toContain('problem+json');

    // The breach persists, but the same rule does not page again within the cool-down.
    await waitFor('a few more monitor checks', async () => {
      const m = (await http(stack.url, 'GET', '/api/monitors/customer-support')).body;
      return m.last_action === 'suppressed' ? m : undefined;
    });
    expect((await http(stack.url, 'GET', '/api/approvals')).body.approvals).toEqual([]);
  });

  it('approve via the API → switched to the known-good version, approver recorded', async () => {
    // Lift the cool-down for this prompt so the persisting breach opens a new incident.
    const put = await http(stack.url, 'PUT', '/api/prompts/customer-support', { policy: { reject_cooldown_s: 0 } });
    expect(put.status).toBe(200);
    await sendTraffic(stack.url, 'v2.0.0', 100, 0.03);
    const a = await pendingApproval();
    const r = await http(stack.url, 'POST', `/api/rollbacks/${a.rollback_id}/approve`, { comment: 'go' });
    expect(r.status).toBe(200);
    expect(r.body.decided_by).toBe('anonymous');
    const view = await waitFor('switch', async () => {
      const v = (await http(stack.url, 'GET', `/api/rollbacks/${a.rollback_id}`)).body;
      return ['verifying', 'completed'].includes(v.status) ? v : undefined;
    });
    expect((await http(stack.url, 'GET', '/api/prompts/customer-support')).body.active_version).toBe('v1.9.0');
    const audit = await stack.adapters.registry.audit({ rollback_id: a.rollback_id });
    expect(audit).toMatchObject([{ action: 'rollback', actor: 'anonymous', from_version: 'v2.0.0', to_version: 'v1.9.0' }]);
    expect(view.timeline.map((t: { event: string }) => t.event)).toEqual(
      expect.arrayContaining(['awaiting_approval', 'approved', 'switched']),
    );
  });

  it('approving something that is not pending is 409; an unknown id is 404', async () => {
    expect((await http(stack.url, 'POST', '/api/rollbacks/nope/approve', {})).status).toBe(404);
  });
});
