/**
 * Records workflow histories for the replay test from the REAL system: the project's Temporal dev server
 * (.tools/bin/temporal), real SQLite, real activities, driven through the HTTP API as a user would (short
 * verification, monitor and stage intervals; per-prompt policy overrides for short deadlines).
 *
 *   npx tsx test/replay/record.ts              # every scenario
 *   npx tsx test/replay/record.ts canary-promoted incident-high-rejected
 *
 * Each history is written to test/replay/histories/<name>.json (overwriting the previous recording) and the
 * file names are printed. Unprefixed files are recordings of the current code: re-record them after a change
 * that is not yet released. Before a release changes a workflow, freeze the current ones by renaming them with
 * their era (`v2-<commit>-…`), as the `v1-…` files are: those must replay forever.
 */
import fs from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { Client } from '@temporalio/client';
import type { Verdict } from '../../src/domain/verdict';
import { approveSignal, breachSignal, rejectSignal } from '../../src/workflows/messages';
import { EXPORTER_QUERIES } from '../support/prometheus';
import { startPostgres, type PgInstance } from '../support/postgres';
import {
  http,
  seedPrompt,
  sendTraffic,
  startRecordingServer,
  startRecordingStack,
  waitFor,
  type RecordingStack,
} from '../support/recording-stack';

const OUT = path.join(__dirname, 'histories');
const CS = 'customer-support';

/** Short intervals so each scenario takes seconds (the integration tests' settings). */
const FAST: Record<string, string> = {
  MONITOR_INTERVAL_S: '1',
  VERIFY_INTERVAL_S: '1',
  VERIFY_DURATION_S: '10',
  MIN_SAMPLES: '5',
  GRADUAL_STAGE_S: '2',
  GRADUAL_CHECK_S: '1',
  CANARY_BAKE_S: '1',
  CANARY_MIN_SAMPLES: '20',
};

interface Ctx {
  url: string;
  client: Client;
  stack: RecordingStack;
  /** The scenario's Postgres (scenarios with `postgres: true`), to take it away and bring it back. */
  pg?: PgInstance;
}

/** A scenario drives the system and returns the histories to keep: file name → workflow id. */
interface Scenario {
  name: string;
  env?: Record<string, string>;
  /** Runs on a throwaway Postgres of its own instead of SQLite. */
  postgres?: boolean;
  run(ctx: Ctx): Promise<Record<string, string>>;
}

const view = async (url: string, id: string): Promise<any> => (await http(url, 'GET', `/api/rollbacks/${id}`)).body;

/** The incident the monitor opened, once it has reached one of `statuses`. */
async function incident(url: string, statuses: string[]): Promise<any> {
  return waitFor(`an incident in ${statuses.join('/')}`, async () => {
    const list = (await http(url, 'GET', `/api/rollbacks?prompt=${CS}`)).body.rollbacks as { rollback_id: string; status: string }[];
    const open = list.find((r) => statuses.includes(r.status));
    return open ? view(url, open.rollback_id) : undefined;
  });
}

/** Waits for the rollback to end, sending healthy traffic on the target while it verifies. */
async function finished(url: string, id: string, expect: string): Promise<any> {
  const end = await waitFor(`rollback ${id} to end`, async () => {
    const v = await view(url, id);
    if (v.status === 'verifying') await sendTraffic(url, CS, v.to_version ?? 'v1.9.0', 20, 0);
    return ['completed', 'escalated', 'failed', 'rejected', 'cleared'].includes(v.status) ? v : undefined;
  });
  if (end.status !== expect) throw new Error(`rollback ${id} ended ${end.status}, expected ${expect}: ${JSON.stringify(end.timeline)}`);
  return end;
}

/**
 * An operator's rollback whose store goes away before the worker picks it up: the store comes back once `whileDown`
 * returns; then the run switches and verifies on healthy traffic. Returns the request's answer and the ended view.
 */
async function storeOutageDrill(
  ctx: { url: string; stack: RecordingStack; pg: PgInstance },
  reason: string,
  whileDown: (workflowId: string) => Promise<void>,
): Promise<{ r: any; done: any }> {
  const { url, stack, pg } = ctx;
  await stack.stopWorker();
  const r = await http(url, 'POST', '/api/rollback', { prompt: CS, target_version: 'v1.9.0', reason });
  pg.pause();
  await stack.startWorker();
  await whileDown(r.body.workflow_id);
  pg.resume();
  await waitFor('the switch', async () =>
    (await view(url, r.body.rollback_id)).timeline.some((e: { event: string }) => e.event === 'switched') ? true : undefined,
  );
  await sendTraffic(url, CS, 'v1.9.0', 50, 0);
  const done = await waitFor('the end of verification', async () => {
    const v = await view(url, r.body.rollback_id);
    return v.status === 'completed' ? v : undefined;
  });
  return { r, done };
}

const hasEvent = (v: any, name: string): boolean => (v.timeline as { event: string }[]).some((t) => t.event === name);

/** Waits for the workflow to close, so its history is complete. */
async function closed(client: Client, id: string): Promise<string> {
  await client.workflow.getHandle(id).result();
  return id;
}

async function stopMonitor(ctx: Pick<Ctx, 'url' | 'client'>, prompt = CS): Promise<string> {
  await http(ctx.url, 'DELETE', `/api/monitors/${prompt}`);
  try {
    await ctx.client.workflow.getHandle(`monitor/${prompt}`).result();
  } catch {
    /* a monitor run that continued as new: the last run is what we fetch */
  }
  return `monitor/${prompt}`;
}

/** 3 % errors: the monitor opens a high incident, pages, and waits for a decision. */
async function highIncident(ctx: Ctx): Promise<any> {
  await sendTraffic(ctx.url, CS, 'v2.0.0', 200, 0.03);
  const a = await incident(ctx.url, ['awaiting_approval']);
  // The row is claimed before the workflow starts: wait until the workflow itself has paged.
  return waitFor('the page', async () => {
    const v = await view(ctx.url, a.rollback_id);
    return hasEvent(v, 'paged') ? v : undefined;
  });
}

const scenarios: Scenario[] = [
  {
    name: 'rollback-operator-recovered',
    async run({ url, client }) {
      const r = await http(url, 'POST', '/api/rollback', { prompt: CS, target_version: 'v1.9.0', reason: 'bad answers' });
      const v = await finished(url, r.body.rollback_id, 'completed');
      return { 'rollback-operator-recovered': await closed(client, v.workflow_id) };
    },
  },
  {
    name: 'incident-high-approved',
    async run(ctx) {
      const a = await highIncident(ctx);
      await http(ctx.url, 'POST', `/api/rollbacks/${a.rollback_id}/approve`, { comment: 'go' });
      await finished(ctx.url, a.rollback_id, 'completed');
      return { 'incident-high-approved': await closed(ctx.client, a.workflow_id) };
    },
  },
  {
    name: 'incident-high-rejected',
    async run(ctx) {
      const a = await highIncident(ctx);
      await http(ctx.url, 'POST', `/api/rollbacks/${a.rollback_id}/reject`, { comment: 'investigating' });
      await finished(ctx.url, a.rollback_id, 'rejected');
      return { 'incident-high-rejected': await closed(ctx.client, a.workflow_id) };
    },
  },
  {
    name: 'incident-high-deadline-escalated',
    async run(ctx) {
      // A 3-s decision deadline for this prompt: nobody decides, the default action (roll back) applies.
      await http(ctx.url, 'PUT', `/api/prompts/${CS}`, { policy: { rules: { error_rate_high: { deadline_s: 3 } } } });
      const a = await highIncident(ctx);
      const end = await finished(ctx.url, a.rollback_id, 'completed');
      if (!hasEvent(end, 'deadline_passed')) throw new Error('the deadline did not pass');
      return { 'incident-high-deadline-escalated': await closed(ctx.client, a.workflow_id) };
    },
  },
  {
    name: 'incident-high-recheck-blind-approved',
    // Prometheus at a port nobody listens on: once the prompt reads from it, every read is `error`.
    env: { PROMETHEUS_URL: 'http://127.0.0.1:9', PROMETHEUS_TIMEOUT_MS: '500' },
    async run(ctx) {
      await http(ctx.url, 'PUT', `/api/prompts/${CS}`, { policy: { rules: { error_rate_high: { deadline_s: 10 } } } });
      const a = await highIncident(ctx);
      // The metrics provider goes blind before the deadline: the re-check cannot read, 3 times a minute apart.
      await http(ctx.url, 'PUT', `/api/prompts/${CS}`, {
        metrics: { provider: 'prometheus', queries: EXPORTER_QUERIES },
      });
      await waitFor(
        'the blind page',
        async () => {
          const v = await view(ctx.url, a.rollback_id);
          const asked = (v.timeline as { event: string; detail: { title?: string } }[]).some(
            (t) => t.event === 'paged' && t.detail.title?.startsWith('CANNOT RE-CONFIRM'),
          );
          return asked && v.status === 'awaiting_approval' ? v : undefined;
        },
        200_000,
      );
      await http(ctx.url, 'POST', `/api/rollbacks/${a.rollback_id}/approve`, { comment: 'monitor is blind, rolling back anyway' });
      await finished(ctx.url, a.rollback_id, 'completed');
      return { 'incident-high-recheck-blind-approved': await closed(ctx.client, a.workflow_id) };
    },
  },
  {
    name: 'incident-breach-not-worse-then-critical',
    async run(ctx) {
      const a = await highIncident(ctx);
      // An operator re-sends the current breach (`temporal workflow signal --name breach`): noted, no new page.
      const same = (await http(ctx.url, 'GET', `/api/monitors/${CS}`)).body.last_verdict as Verdict;
      await ctx.client.workflow.getHandle(a.workflow_id).signal(breachSignal, same);
      // Not saved to the store (nothing changed but the timeline): the workflow's `state` query shows it.
      const h = ctx.client.workflow.getHandle(a.workflow_id);
      await waitFor('breach_update', async () => (hasEvent(await h.query('state'), 'breach_update') ? true : undefined));
      // Then it gets worse: > 5 % errors, the ingest fast path asks the monitor to check now, the monitor signals.
      await sendTraffic(ctx.url, CS, 'v2.0.0', 200, 0.5);
      const end = await finished(ctx.url, a.rollback_id, 'completed');
      if (!hasEvent(end, 'worsened')) throw new Error('the incident did not worsen');
      return {
        'incident-breach-not-worse-then-critical': await closed(ctx.client, a.workflow_id),
        'monitor-incident-breach-check-now-stopped': await stopMonitor(ctx),
      };
    },
  },
  {
    name: 'incident-medium-observed-gradual-paused-resumed',
    async run(ctx) {
      // 2–5 % errors judged medium/observe for this prompt, observed for 3 s: still breached → gradual rollback.
      await http(ctx.url, 'PUT', `/api/prompts/${CS}`, {
        policy: { rules: { error_rate_high: { severity: 'medium', action: 'observe', deadline_s: 3 } } },
      });
      await sendTraffic(ctx.url, CS, 'v2.0.0', 200, 0.03);
      const a = await incident(ctx.url, ['observing']);
      await waitFor('a staged split', async () => ((await view(ctx.url, a.rollback_id)).gradual ? true : undefined));
      await http(ctx.url, 'POST', `/api/rollbacks/${a.rollback_id}/pause`, { comment: 'looking' });
      await waitFor('paused', async () => ((await view(ctx.url, a.rollback_id)).status === 'paused' ? true : undefined));
      await http(ctx.url, 'POST', `/api/rollbacks/${a.rollback_id}/resume`, {});
      await finished(ctx.url, a.rollback_id, 'completed');
      return {
        'incident-medium-observed-gradual-paused-resumed': await closed(ctx.client, a.workflow_id),
        'gradual-paused-resumed': await closed(ctx.client, `${a.workflow_id}/gradual`),
      };
    },
  },
  {
    name: 'rollback-gradual-aborted',
    async run({ url, client }) {
      const r = await http(url, 'POST', '/api/rollback', {
        prompt: CS,
        target_version: 'v1.9.0',
        mode: 'gradual',
        reason: 'minor regression',
      });
      const id = r.body.rollback_id as string;
      await waitFor('a staged split', async () => ((await view(url, id)).gradual ? true : undefined));
      await http(url, 'POST', `/api/rollbacks/${id}/abort`, { comment: 'v2.0.0 is fine after all' });
      const end = await finished(url, id, 'failed');
      return {
        'rollback-gradual-aborted': await closed(client, end.workflow_id),
        'gradual-aborted': await closed(client, `${end.workflow_id}/gradual`),
      };
    },
  },
  {
    name: 'canary-promoted',
    env: { MONITOR_INTERVAL_S: '3600' },
    async run({ url, client }) {
      await http(url, 'POST', `/api/prompts/${CS}/deploy`, { version: 'v1.9.0' });
      const d = await http(url, 'POST', `/api/prompts/${CS}/deploy`, { version: 'v2.0.0', strategy: 'canary' });
      const id = d.body.deployment_id as string;
      const end = await waitFor('canary end', async () => {
        await sendTraffic(url, CS, 'v2.0.0', 30, 0);
        await sendTraffic(url, CS, 'v1.9.0', 30, 0);
        const dep = (await http(url, 'GET', `/api/deployments/${id}`)).body;
        return dep.status === 'rolling_out' ? undefined : dep;
      });
      if (end.status !== 'completed') throw new Error(`canary ended ${end.status}`);
      return { 'canary-promoted': await closed(client, `deploy/${CS}/${id}`) };
    },
  },
  {
    name: 'canary-aborted-by-operator',
    env: { MONITOR_INTERVAL_S: '3600', CANARY_BAKE_S: '30' },
    async run({ url, client }) {
      await http(url, 'POST', `/api/prompts/${CS}/deploy`, { version: 'v1.9.0' });
      const d = await http(url, 'POST', `/api/prompts/${CS}/deploy`, { version: 'v2.0.0', strategy: 'canary' });
      const id = d.body.deployment_id as string;
      await http(url, 'POST', `/api/deployments/${id}/abort`, {});
      return { 'canary-aborted-by-operator': await closed(client, `deploy/${CS}/${id}`) };
    },
  },
  {
    name: 'rollback-coordinated-group',
    env: { MONITOR_INTERVAL_S: '3600' },
    async run({ url, client }) {
      await seedPrompt(url, 'billing-assistant');
      await http(url, 'PUT', `/api/prompts/${CS}`, { related: ['billing-assistant'] });
      // Both breached, no monitor acting on it (each would open its own incident); the operator rolls back one.
      await stopMonitor({ url, client }, CS);
      await stopMonitor({ url, client }, 'billing-assistant');
      await sendTraffic(url, CS, 'v2.0.0', 200, 0.03);
      await sendTraffic(url, 'billing-assistant', 'v2.0.0', 200, 0.03);
      const r = await http(url, 'POST', '/api/rollback', { prompt: CS, target_version: 'v1.9.0', reason: 'shared retrieval change' });
      const id = r.body.rollback_id as string;
      const end = await waitFor(`rollback ${id} to end`, async () => {
        const v = await view(url, id);
        if (v.status === 'verifying') await sendTraffic(url, CS, 'v1.9.0', 20, 0);
        return ['completed', 'escalated', 'failed'].includes(v.status) ? v : undefined;
      });
      if (!end.group?.members?.some((m: { prompt: string; switched: boolean }) => m.prompt === 'billing-assistant' && m.switched))
        throw new Error(`billing-assistant did not join: ${JSON.stringify(end.group)}`);
      return { 'rollback-coordinated-group': await closed(client, end.workflow_id) };
    },
  },
  {
    name: 'incident-high-approved-by-signal',
    async run(ctx) {
      // The Web UI / `temporal workflow signal --name approve` path: recorded with the unverified name, via temporal-signal.
      const a = await highIncident(ctx);
      await ctx.client.workflow.getHandle(a.workflow_id).signal(approveSignal, { by: 'alice (web ui)' });
      await finished(ctx.url, a.rollback_id, 'completed');
      return { 'incident-high-approved-by-signal': await closed(ctx.client, a.workflow_id) };
    },
  },
  {
    name: 'incident-high-rejected-by-signal',
    async run(ctx) {
      const a = await highIncident(ctx);
      await ctx.client.workflow.getHandle(a.workflow_id).signal(rejectSignal, { by: 'bob (web ui)', comment: 'investigating' });
      await finished(ctx.url, a.rollback_id, 'rejected');
      return { 'incident-high-rejected-by-signal': await closed(ctx.client, a.workflow_id) };
    },
  },
  {
    name: 'incident-medium-gradual-cut-short-by-critical',
    env: { GRADUAL_STAGE_S: '30' },
    async run(ctx) {
      // Observed, still breached → gradual; then the bad version goes critical: all traffic moves at once (finish-now).
      await http(ctx.url, 'PUT', `/api/prompts/${CS}`, {
        policy: { rules: { error_rate_high: { severity: 'medium', action: 'observe', deadline_s: 3 } } },
      });
      await sendTraffic(ctx.url, CS, 'v2.0.0', 200, 0.03);
      const a = await incident(ctx.url, ['observing']);
      await waitFor('a staged split', async () => ((await view(ctx.url, a.rollback_id)).gradual ? true : undefined));
      await sendTraffic(ctx.url, CS, 'v2.0.0', 400, 0.5);
      const end = await finished(ctx.url, a.rollback_id, 'completed');
      if (!hasEvent(end, 'gradual_cut_short')) throw new Error(`the gradual rollback was not cut short: ${JSON.stringify(end.timeline)}`);
      return {
        'incident-medium-gradual-cut-short-by-critical': await closed(ctx.client, a.workflow_id),
        'gradual-cut-short': await closed(ctx.client, `${a.workflow_id}/gradual`),
      };
    },
  },
  {
    name: 'reconciler-scheduled-run',
    async run({ client }) {
      const schedule = client.schedule.getHandle('promptback-reconciler');
      await schedule.trigger();
      const id = await waitFor(
        'the scheduled run',
        async () => (await schedule.describe()).info.recentActions.at(-1)?.action.workflow.workflowId,
      );
      return { 'reconciler-scheduled-run': await closed(client, id) };
    },
  },
  {
    // An operator's rollback while Postgres is down for longer than the switch's retries (restarted, failed over):
    // the run waits for the store (wait-for-store), then switches and verifies.
    name: 'rollback-store-outage',
    postgres: true,
    async run({ url, client, stack, pg }) {
      // Down until the run waits for the store (the one step's attempts, about 30 s, and the step-by-step choice's,
      // about 7 s, spent), then one wait more.
      const { r, done } = await storeOutageDrill({ url, stack, pg: pg! }, 'store outage drill', async (workflowId) => {
        await waitFor(
          'the rollback to wait for the store',
          async () =>
            (await client.workflow.getHandle(workflowId).query<{ timeline: { event: string }[] }>('state')).timeline.some(
              (e) => e.event === 'store_unavailable',
            )
              ? true
              : undefined,
          150_000,
        );
        await new Promise((res) => setTimeout(res, 6_000));
      });
      if (!done.timeline.some((e: { event: string }) => e.event === 'store_unavailable'))
        throw new Error('the run never waited for the store');
      return { 'rollback-store-outage': r.body.workflow_id };
    },
  },
  {
    // The same outage for longer than an operator rollback's 5-min budget: on-call is paged while the store is still
    // down, the page going out at once (page-store-wait-at-once) rather than behind the notifications the outage left
    // unqueued; then the store is back and the run switches and verifies.
    name: 'rollback-store-outage-page',
    postgres: true,
    async run({ url, client, stack, pg }) {
      const { r, done } = await storeOutageDrill({ url, stack, pg: pg! }, 'long store outage drill', async (workflowId) => {
        await waitFor(
          'the page about the wait',
          async () => {
            const history = await client.workflow.getHandle(workflowId).fetchHistory();
            const marker = (history.events ?? []).some((e) => {
              const data = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
              return data !== undefined && data !== null && Buffer.from(data).toString('utf8').includes('page-store-wait-at-once');
            });
            return marker ? true : undefined;
          },
          420_000,
        );
        await new Promise((res) => setTimeout(res, 3_000));
      });
      if (
        !done.timeline.some(
          (e: { event: string; detail?: { title?: string } }) =>
            e.event === 'paged' && e.detail?.title?.startsWith('ROLLBACK WAITING FOR THE STORE'),
        )
      )
        throw new Error('the run never paged about the wait');
      return { 'rollback-store-outage-page': r.body.workflow_id };
    },
  },
  {
    name: 'storage-scheduled-run',
    async run({ client }) {
      const schedule = client.schedule.getHandle('promptback-storage');
      await schedule.trigger();
      const id = await waitFor(
        'the scheduled run',
        async () => (await schedule.describe()).info.recentActions.at(-1)?.action.workflow.workflowId,
      );
      return { 'storage-scheduled-run': await closed(client, id) };
    },
  },
  {
    name: 'retention-scheduled-run',
    async run({ client }) {
      // What `temporal schedule trigger --schedule-id promptback-retention` does.
      const schedule = client.schedule.getHandle('promptback-retention');
      await schedule.trigger();
      const id = await waitFor(
        'the scheduled run',
        async () => (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId,
      );
      return { 'retention-scheduled-run': await closed(client, id) };
    },
  },
];

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const unknown = only.filter((n) => !scenarios.some((s) => s.name === n));
  if (unknown.length > 0) throw new Error(`unknown scenario(s): ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}`);
  const chosen = scenarios.filter((s) => only.length === 0 || only.includes(s.name));
  const namespaces = chosen.map((_, i) => `record-${i}`);
  const server = await startRecordingServer(namespaces);
  fs.mkdirSync(OUT, { recursive: true });
  let failed = 0;
  try {
    for (const [i, s] of chosen.entries()) {
      const started = Date.now();
      let stack: RecordingStack | undefined;
      const pg = s.postgres ? await startPostgres() : undefined;
      try {
        const db: Record<string, string> = pg ? { DATABASE_URL: await pg.newDatabase() } : {};
        stack = await startRecordingStack(server, namespaces[i]!, { ...FAST, ...s.env, ...db });
        await seedPrompt(stack.url, CS);
        const wrote = await s.run({ url: stack.url, client: stack.api.client, stack, ...(pg ? { pg } : {}) });
        for (const [name, workflowId] of Object.entries(wrote)) {
          const history = await stack.api.client.workflow.getHandle(workflowId).fetchHistory();
          const file = path.join(OUT, `${name}.json`);
          fs.writeFileSync(file, historyToJSON(history));
          console.log(`wrote ${path.relative(process.cwd(), file)} (${history.events?.length ?? 0} events, ${workflowId})`);
        }
        console.log(`${s.name}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      } catch (e) {
        failed += 1;
        console.error(`${s.name} FAILED after ${((Date.now() - started) / 1000).toFixed(1)} s: ${(e as Error).message}`);
      } finally {
        await stack?.stop();
        pg?.stop();
      }
    }
  } finally {
    await server.stop();
  }
  if (failed > 0) process.exit(1);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
