/**
 * A rollback as the Temporal Web UI and `temporal workflow list` show it, on a real dev server: its summary and
 * details say which prompt, which versions and why; the README's queries find it while it runs and after it ended.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { http, seedCustomerSupport, sendTraffic, startStack, waitFor, type Stack } from '../support/stack';

const exec = promisify(execFile);
const NAMESPACE = 'it-webui';
const TEMPORAL = path.resolve(__dirname, '../../.tools/bin/temporal');
let stack: Stack;
let connection: Connection;
let client: Client;

beforeAll(async () => {
  stack = await startStack({ namespace: NAMESPACE });
  await seedCustomerSupport(stack.url);
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection, namespace: NAMESPACE });
});
afterAll(async () => {
  await connection?.close();
  await stack?.stop();
});

/** `temporal workflow list --query …` exactly as the README prints it, against this test's server and namespace. */
async function listed(query: string): Promise<string[]> {
  const { stdout } = await exec(TEMPORAL, [
    'workflow',
    'list',
    '--address',
    inject('temporalAddress'),
    '--namespace',
    NAMESPACE,
    '--query',
    query,
    '--output',
    'json',
  ]);
  const rows = stdout.trim() ? (JSON.parse(stdout) as { execution?: { workflowId?: string } }[]) : [];
  return rows.map((r) => r.execution?.workflowId ?? '');
}

describe('a rollback in the Temporal Web UI', () => {
  it('has a summary and details naming prompt, versions and reason, and the README queries find it after it ended', async () => {
    const started = await http(stack.url, 'POST', '/api/rollback', {
      prompt: 'customer-support',
      target_version: 'v1.9.0',
      reason: 'v2.0.0 answers in one word',
    });
    expect(started.status).toBe(202);
    const { rollback_id, workflow_id } = started.body as { rollback_id: string; workflow_id: string };
    const handle = client.workflow.getHandle(workflow_id);

    const d = await handle.describe();
    expect(await d.staticSummary()).toBe('customer-support: immediate rollback by anonymous, → v1.9.0 — v2.0.0 answers in one word');
    const details = (await d.staticDetails()) ?? '';
    expect(details).toContain('**Versions** active version → v1.9.0');
    expect(details).toContain('**Severity** manual');
    expect(details).toContain('**Verification** a check every 1 s for 10 s');
    expect(details).toContain(`GET /api/rollbacks/${rollback_id}`);

    await waitFor('the switch', async () =>
      (await http(stack.url, 'GET', `/api/rollbacks/${rollback_id}`)).body.status === 'verifying' ? true : undefined,
    );
    await sendTraffic(stack.url, 'v1.9.0', 50, 0);
    const done = await waitFor('the end', async () => {
      const v = (await http(stack.url, 'GET', `/api/rollbacks/${rollback_id}`)).body;
      return v.status === 'completed' ? v : undefined;
    });
    // The store shows every check once it ended.
    expect(done.verification.checks).toHaveLength(10);
    await handle.result();

    // The README's queries, for a finished rollback (visibility is eventually consistent: a short wait).
    await waitFor('the list to show the finished rollback', async () =>
      (await listed('PromptName = "customer-support" AND RollbackState = "completed"')).includes(workflow_id) ? true : undefined,
    );
    expect(await listed('PromptName="customer-support"')).toContain(workflow_id);
    expect(await listed('RollbackSeverity = "manual" AND ExecutionStatus = "Completed"')).toContain(workflow_id);
    expect(await listed('WorkflowType = "rollbackWorkflow" AND RollbackState IN ("completed", "escalated")')).toContain(workflow_id);
    expect(await listed('PromptName = "customer-support" AND RollbackState = "verifying"')).not.toContain(workflow_id);

    // The workflow page's "current details" (answered by the worker).
    const meta = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(meta.currentDetails).toContain('**completed** · severity manual · customer-support: v2.0.0 → v1.9.0');
    expect(meta.currentDetails).toContain('outcome: recovered');
  });
});
