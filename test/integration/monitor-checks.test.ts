/**
 * Monitors' checks in one long-running activity each (MONITOR_CHECKS=activity, the default), on the real stack: the
 * checks reach the store and the Web UI's view of the activity without a workflow task each, a worker restart hands
 * them over at once, a stop ends them, and a breach the loop finds opens the incident.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { monitorWorkflowId } from '../../src/domain/names';
import { http, seedTwoVersions, startStack, waitFor, type Stack } from '../support/stack';

let stack: Stack;
let client: Client;
beforeAll(async () => {
  stack = await startStack({ namespace: 'it-monitor-checks', env: { MONITOR_INTERVAL_S: '1' } });
  client = new Client({
    connection: await Connection.connect({ address: stack.config.temporal.address! }),
    namespace: 'it-monitor-checks',
  });
});
afterAll(async () => {
  await client?.connection.close();
  await stack?.stop();
});

const deploy = (prompt: string): Promise<void> => seedTwoVersions(stack.url, prompt, 'monitor checks');
const checks = async (prompt: string): Promise<number> => (await http(stack.url, 'GET', `/api/monitors/${prompt}`)).body.checks as number;
const atLeast = (prompt: string, n: number, what: string, timeoutMs = 20_000) =>
  waitFor(
    what,
    async () => {
      const c = await checks(prompt);
      return c >= n ? c : undefined;
    },
    timeoutMs,
  );

describe('monitor checks in a long-running activity', () => {
  it('checks every interval into the store, with the last check in the activity heartbeat and no workflow task per check', async () => {
    const prompt = 'checks-steady';
    await deploy(prompt);
    await atLeast(prompt, 4, 'four checks');
    const h = client.workflow.getHandle(monitorWorkflowId(prompt));
    const d = await h.describe();
    const pending = d.raw.pendingActivities ?? [];
    expect(pending.map((a) => a.activityType?.name)).toEqual(['monitorChecks']);
    expect(pending[0]!.heartbeatDetails?.payloads?.length).toBe(1);
    const beat = JSON.parse(Buffer.from(pending[0]!.heartbeatDetails!.payloads![0]!.data!).toString('utf8')) as {
      checks: number;
      last_verdict?: { kind: string };
    };
    // The first check's heartbeat goes out at once; later ones at most once per throttle interval (48 s here).
    expect(beat.checks).toBeGreaterThanOrEqual(1);
    expect(beat.last_verdict?.kind).toBe('inconclusive'); // no traffic yet
    const history = await h.fetchHistory();
    const events = history.events ?? [];
    // Four checks and more, and no timer, no check marker: a handful of events for the run so far.
    expect(events.filter((e) => e.timerStartedEventAttributes)).toHaveLength(0);
    expect(events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')).toHaveLength(0);
    expect(events.length).toBeLessThan(15);
  });

  it('a worker restart hands the checks over at once, not after the heartbeat timeout', async () => {
    const prompt = 'checks-restart';
    await deploy(prompt);
    await atLeast(prompt, 2, 'two checks');
    await stack.stopWorker();
    const before = await checks(prompt);
    const t0 = Date.now();
    await stack.startWorker();
    await atLeast(prompt, before + 2, 'checks after the restart', 30_000);
    // The heartbeat timeout is 60 s: the new worker took the checks over long before it.
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it('a stopped monitor checks no more, and its activity ends', async () => {
    const prompt = 'checks-stop';
    await deploy(prompt);
    await atLeast(prompt, 2, 'two checks');
    const r = await http(stack.url, 'DELETE', `/api/monitors/${prompt}`);
    expect(r.status).toBe(202);
    const h = client.workflow.getHandle(monitorWorkflowId(prompt));
    await waitFor('the monitor to complete', async () => ((await h.describe()).status.name === 'COMPLETED' ? true : undefined));
    const after = await checks(prompt);
    await new Promise((res) => setTimeout(res, 3_000));
    expect(await checks(prompt)).toBe(after);
  });

  it('a high error rate found by a check in the loop opens the incident', async () => {
    const prompt = 'checks-breach';
    await deploy(prompt);
    await atLeast(prompt, 1, 'a first check');
    // 3 % errors: high (page, decide), below the critical rule the ingest fast path acts on itself.
    const events = Array.from({ length: 200 }, (_, i) => ({ prompt, version: 'v2', ok: i % 33 !== 0, latency_ms: 100 }));
    expect((await http(stack.url, 'POST', '/api/metrics', { events })).status).toBe(202);
    const id = await waitFor('an incident', async () => {
      const m = (await http(stack.url, 'GET', `/api/monitors/${prompt}`)).body as { open_rollback_id: string | null };
      return m.open_rollback_id ?? undefined;
    });
    const rb = (await http(stack.url, 'GET', `/api/rollbacks/${id}`)).body as { severity: string; requested_by: string };
    expect(rb).toMatchObject({ severity: 'high', requested_by: 'monitor' });
  });
});
