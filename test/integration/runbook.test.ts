import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, seedCustomerSupport, sendTraffic, startStack, waitFor, type Stack } from '../support/stack';

const exec = promisify(execFile);
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ namespace: 'it-runbook' });
  await seedCustomerSupport(stack.url);
});
afterAll(async () => {
  await stack?.stop();
});

/** The runbook's command, exactly as the seed writes it, pointed at this stack's port. */
async function runbookCurl(withHeader: boolean): Promise<{ status: number; body: any }> {
  const args = [
    '-s',
    '-w',
    '\n%{http_code}',
    '-X',
    'POST',
    `${stack.url}/api/rollback`,
    '-d',
    '{"prompt": "customer-support", "target_version": "v1.9.0"}',
  ];
  if (withHeader) args.push('-H', 'Content-Type: application/json');
  const { stdout } = await exec('curl', args);
  const lines = stdout.trimEnd().split('\n');
  const status = Number(lines.pop());
  return { status, body: JSON.parse(lines.join('\n')) };
}

const rollback = (id: string) => http(stack.url, 'GET', `/api/rollbacks/${id}`).then((r) => r.body);

async function untilDone(id: string): Promise<any> {
  return waitFor(`rollback ${id} to end`, async () => {
    const v = await rollback(id);
    return ['completed', 'escalated', 'failed'].includes(v.status) ? v : undefined;
  });
}

describe('the runbook rollback, end to end over real HTTP and a real Temporal server', () => {
  it('curl → 202 → switched → verified → completed; resolve serves v1.9.0; exactly one audit row', async () => {
    const r = await runbookCurl(true);
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ status: 'rolling_back', workflow_id: `rollback/customer-support/${r.body.rollback_id}` });
    expect(r.body.status_url).toContain(`/api/rollbacks/${r.body.rollback_id}`);

    // While it is open, a second request is refused with the open one named.
    const again = await runbookCurl(true);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ status: 409, rollback_id: r.body.rollback_id });

    await waitFor('switch', async () => ((await rollback(r.body.rollback_id)).status === 'verifying' ? true : undefined));
    // Once the switch is acknowledged, no request key is ever served the old version again.
    const served = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        http(stack.url, 'GET', `/api/prompts/customer-support/resolve?key=user-${i}`).then((x) => x.body.version),
      ),
    );
    expect(new Set(served)).toEqual(new Set(['v1.9.0']));
    await sendTraffic(stack.url, 'v1.9.0', 50, 0);

    const done = await untilDone(r.body.rollback_id);
    expect(done.status).toBe('completed');
    expect(done.verification.result).toBe('recovered');
    expect(done.from_version).toBe('v2.0.0');
    expect(done.to_version).toBe('v1.9.0');
    expect(done.requested_by).toBe('anonymous');
    expect(done.timeline.map((t: { event: string }) => t.event)).toEqual(
      expect.arrayContaining(['requested', 'switched', 'notified', 'recovered']),
    );

    const audit = await stack.adapters.registry.audit({ rollback_id: r.body.rollback_id });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: 'rollback', from_version: 'v2.0.0', to_version: 'v1.9.0', actor: 'anonymous' });

    const prompt = (await http(stack.url, 'GET', '/api/prompts/customer-support')).body;
    expect(prompt.active_version).toBe('v1.9.0');
    expect(prompt.traffic).toEqual([{ version: 'v1.9.0', percent: 100 }]);
    expect(prompt.versions.find((v: { version: string }) => v.version === 'v2.0.0').rolled_back_from).toBe(true);

    const list = (await http(stack.url, 'GET', '/api/rollbacks?prompt=customer-support&status=completed')).body.rollbacks;
    expect(list.map((x: { rollback_id: string }) => x.rollback_id)).toContain(r.body.rollback_id);

    // The workflow answers the `state` query with the same view, and is searchable by its attributes.
    const handle = stack.api.client.workflow.getHandle(done.workflow_id);
    expect(await handle.query('state')).toMatchObject({ rollback_id: r.body.rollback_id, status: 'completed' });
    const desc = await handle.describe();
    expect(desc.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value])).toEqual(
      expect.arrayContaining([
        ['PromptName', 'customer-support'],
        ['RollbackState', 'completed'],
      ]),
    );
  });

  it('works without the Content-Type header too, and with no traffic ends unverified rather than "recovered"', async () => {
    await http(stack.url, 'POST', '/api/prompts/customer-support/deploy', { version: 'v2.0.0' });
    // Let the first test's v1.9.0 traffic fall out of the 1-s bucket the next switch reads from.
    await new Promise((res) => setTimeout(res, 1100));
    const r = await runbookCurl(false);
    expect(r.status).toBe(202);
    const done = await untilDone(r.body.rollback_id);
    expect(done.verification.result).toBe('inconclusive');
    expect(done.timeline.map((t: { event: string }) => t.event)).toContain('verification_inconclusive');
    expect(await stack.adapters.registry.audit({ rollback_id: r.body.rollback_id })).toHaveLength(1);
  });

  it('the worker registered the retention schedule, visible in the Web UI and CLI', async () => {
    const d = await stack.api.client.schedule.getHandle('promptback-retention').describe();
    expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: 'retentionWorkflow' });
    expect(d.spec.intervals?.[0]?.every).toBe(3_600_000);
  });
});
