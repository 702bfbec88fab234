import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import YAML from 'yaml';
import { startApi } from '../../src/main/api';
import { freePort } from '../support/ports';
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { spawnWorker, type Proc } from '../support/processes';
import { quietRuntime } from '../support/runtime';
import { http, seedCustomerSupport, sendTraffic, startStack, waitFor, type Stack } from '../support/stack';

const exec = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition → samples (what a scraper stores). */
function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

const sum = (samples: Sample[], name: string, labels: Record<string, string> = {}): number =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);

async function scrape(url: string, token?: string): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

/** Metric names a PromQL expression reads (ours, the process's and the Temporal SDK's; `up` is Prometheus's own). */
function metricNamesIn(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b((?:promptback|process|nodejs|temporal)_[a-zA-Z0-9_]*)\b/g)].map((m) => m[1]!))];
}

beforeAll(async () => {
  // The in-process worker's Temporal SDK exports its metrics, as `npm run worker` and `npm start` do.
  quietRuntime({ metricsBindAddress: `127.0.0.1:${await freePort()}` });
});

describe('/metrics with authentication on', () => {
  let stack: Stack;
  let worker: Proc | undefined;
  const tokens = { viewer: 'view-token-123', ingest: 'ingest-token-123' };
  beforeAll(async () => {
    stack = await startStack({
      namespace: 'it-telemetry',
      worker: false,
      env: { AUTH_TOKENS: `grafana:viewer:${tokens.viewer},loader:ingest:${tokens.ingest}` },
    });
  });
  afterAll(async () => {
    await worker?.kill();
    await stack?.stop();
  });

  it('refuses a scrape without a token (401) or with a role that may not read (403); a viewer token scrapes', async () => {
    const none = await scrape(`${stack.url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.type).toContain('application/problem+json');
    expect((await scrape(`${stack.url}/metrics`, 'not-a-token')).status).toBe(401);
    expect((await scrape(`${stack.url}/metrics`, tokens.ingest)).status).toBe(403);
    const ok = await scrape(`${stack.url}/metrics`, tokens.viewer);
    expect(ok.status).toBe(200);
    expect(ok.type).toContain('text/plain');
    expect(value(parseExposition(ok.text), 'promptback_approvals_pending')).toBe(0);
  });

  it('a standalone worker (npm run worker) answers /metrics on WORKER_METRICS_PORT with the same token rules: process and Temporal SDK metrics', async () => {
    const port = await freePort();
    worker = spawnWorker({ ...stack.env, WORKER_METRICS_PORT: String(port) });
    const url = `http://127.0.0.1:${port}/metrics`;
    const first = await waitFor(
      'worker metrics listener',
      async () => {
        if (worker!.child.exitCode !== null) throw new Error(`worker exited:\n${worker!.output()}`);
        return scrape(url).catch(() => undefined);
      },
      60_000,
    );
    expect(first.status).toBe(401);
    expect((await scrape(url, tokens.ingest)).status).toBe(403);
    // The SDK's pollers and task slots report, per task queue, once the worker polls.
    const samples = await waitFor('Temporal SDK worker metrics for its task queue', async () => {
      const r = await scrape(url, tokens.viewer);
      expect(r.status).toBe(200);
      const s = parseExposition(r.text);
      return s.some((x) => x.name === 'temporal_worker_task_slots_available' && x.labels.task_queue === stack.env.TEMPORAL_TASK_QUEUE)
        ? s
        : undefined;
    });
    expect(value(samples, 'promptback_temporal_sdk_metrics_up')).toBe(1);
    expect(value(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(value(samples, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });
});

describe('/metrics after a runbook rollback and an incident', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ namespace: 'it-telemetry' });
    await seedCustomerSupport(stack.url);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const untilStatus = (id: string, status: string) =>
    waitFor(`rollback ${id} ${status}`, async () => {
      const v = (await http(stack.url, 'GET', `/api/rollbacks/${id}`)).body;
      return v.status === status ? v : undefined;
    });

  it('counts each rollback once in the switch-latency histograms, by trigger and severity, and shows rollbacks, monitors and approvals', async () => {
    const before = parseExposition((await scrape(`${stack.url}/metrics`)).text);
    expect(value(before, 'promptback_rollback_request_to_switch_seconds_count', { trigger: 'operator' })).toBeUndefined();
    expect(value(before, 'promptback_approvals_pending')).toBe(0);

    // The runbook's curl: an operator rollback v2.0.0 → v1.9.0.
    const { stdout } = await exec('curl', [
      '-s',
      '-X',
      'POST',
      `${stack.url}/api/rollback`,
      '-d',
      '{"prompt": "customer-support", "target_version": "v1.9.0"}',
      '-H',
      'Content-Type: application/json',
    ]);
    const operatorId = JSON.parse(stdout).rollback_id as string;
    await untilStatus(operatorId, 'verifying');
    await sendTraffic(stack.url, 'v1.9.0', 50, 0);
    const operatorView = await untilStatus(operatorId, 'completed');

    // An incident: v2.1.0 goes out and fails hard; the monitor rolls it back to v1.9.0 on its own.
    await http(stack.url, 'POST', '/api/prompts/customer-support/versions', { version: 'v2.1.0', template: 'Be terse.' });
    expect((await http(stack.url, 'POST', '/api/prompts/customer-support/deploy', { version: 'v2.1.0' })).status).toBe(202);
    await waitFor('v2.1.0 active', async () =>
      (await http(stack.url, 'GET', '/api/prompts/customer-support')).body.active_version === 'v2.1.0' ? true : undefined,
    );
    await sendTraffic(stack.url, 'v2.1.0', 200, 0.3);
    const incidentId = await waitFor('incident', async () => {
      const list = (await http(stack.url, 'GET', '/api/rollbacks?prompt=customer-support')).body.rollbacks;
      return list.find((r: { rollback_id: string }) => r.rollback_id !== operatorId)?.rollback_id as string | undefined;
    });
    await untilStatus(incidentId, 'verifying');
    await sendTraffic(stack.url, 'v1.9.0', 50, 0);
    const incidentView = await untilStatus(incidentId, 'completed');
    expect(incidentView).toMatchObject({ requested_by: 'monitor', severity: 'critical' });

    const after = parseExposition((await scrape(`${stack.url}/metrics`)).text);
    // One operator rollback, one incident: each observed once, with its own latency.
    expect(
      value(after, 'promptback_rollback_request_to_switch_seconds_count', { trigger: 'operator', severity: operatorView.severity }),
    ).toBe(1);
    expect(value(after, 'promptback_rollback_request_to_switch_seconds_count', { trigger: 'incident', severity: 'critical' })).toBe(1);
    expect(value(after, 'promptback_rollback_breach_to_switch_seconds_count', { severity: 'critical' })).toBe(1);
    expect(sum(after, 'promptback_rollback_breach_to_switch_seconds_count')).toBe(1);
    // The critical budget is 2 minutes from breach to switch; the fast path takes seconds.
    const breachS = value(after, 'promptback_rollback_breach_to_switch_seconds_sum', { severity: 'critical' })!;
    expect(breachS).toBeGreaterThan(0);
    expect(value(after, 'promptback_rollback_breach_to_switch_seconds_bucket', { severity: 'critical', le: '120' })).toBe(1);
    // The switch's commit time (the audit row's, which the histogram reads): the entry itself is stamped by the workflow.
    const switchedAt = (v: { timeline: { event: string; at: string; detail: { at?: string } }[] }) =>
      Date.parse(v.timeline.find((e) => e.event === 'switched')!.detail.at!);
    const operatorS = value(after, 'promptback_rollback_request_to_switch_seconds_sum', { trigger: 'operator' })!;
    expect(operatorS).toBeCloseTo((switchedAt(operatorView) - Date.parse(operatorView.requested_at)) / 1000, 0);

    expect(value(after, 'promptback_rollbacks', { status: 'completed', severity: 'critical' })).toBe(1);
    expect(sum(after, 'promptback_rollbacks', { status: 'completed' })).toBe(2);
    expect(value(after, 'promptback_rollbacks', { status: 'escalated', severity: 'critical' })).toBe(0);
    expect(value(after, 'promptback_approvals_pending')).toBe(0);
    expect(value(after, 'promptback_approval_oldest_pending_age_seconds')).toBe(0);
    expect(sum(after, 'promptback_monitors')).toBe(1);
    expect(value(after, 'promptback_monitors', { verdict: 'error' })).toBe(0);
    expect(value(after, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(after.some((s) => s.name === 'promptback_deliveries' || s.name === 'promptback_http_request_duration_seconds_count')).toBe(true);

    // A second scrape observes nothing again.
    const again = parseExposition((await scrape(`${stack.url}/metrics`)).text);
    expect(sum(again, 'promptback_rollback_request_to_switch_seconds_count')).toBe(2);
    expect(sum(again, 'promptback_rollback_breach_to_switch_seconds_count')).toBe(1);

    // A second API process (another replica, or one restarted) reads the same rollbacks from the store.
    const replica = await startApi(stack.config, stack.adapters, stack.config.temporal.address!, stack.adapters.log);
    try {
      const r = parseExposition((await scrape(`${replica.url}/metrics`)).text);
      expect(value(r, 'promptback_rollback_request_to_switch_seconds_count', { trigger: 'operator' })).toBe(1);
      expect(value(r, 'promptback_rollback_breach_to_switch_seconds_count', { severity: 'critical' })).toBe(1);
    } finally {
      await replica.stop();
    }
  });

  it('shows a decision that waits: pending count, its age, none past the deadline; gone once rejected', async () => {
    await http(stack.url, 'POST', '/api/prompts/customer-support/versions', { version: 'v2.2.0', template: 'Be brief.' });
    expect((await http(stack.url, 'POST', '/api/prompts/customer-support/deploy', { version: 'v2.2.0' })).status).toBe(202);
    await waitFor('v2.2.0 active', async () =>
      (await http(stack.url, 'GET', '/api/prompts/customer-support')).body.active_version === 'v2.2.0' ? true : undefined,
    );
    // 3 % errors: high severity, the on-call decides within 5 minutes.
    await sendTraffic(stack.url, 'v2.2.0', 200, 0.03);
    const waiting = await waitFor('a decision to wait', async () => {
      const list = (await http(stack.url, 'GET', '/api/rollbacks?status=awaiting_approval')).body.rollbacks;
      return list[0] as { rollback_id: string; requested_at: string } | undefined;
    });
    const m = parseExposition((await scrape(`${stack.url}/metrics`)).text);
    expect(value(m, 'promptback_approvals_pending')).toBe(1);
    expect(value(m, 'promptback_approvals_past_deadline')).toBe(0);
    const age = value(m, 'promptback_approval_oldest_pending_age_seconds')!;
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThanOrEqual((Date.now() - Date.parse(waiting.requested_at)) / 1000 + 1);
    expect(value(m, 'promptback_rollbacks', { status: 'awaiting_approval', severity: 'high' })).toBe(1);

    expect((await http(stack.url, 'POST', `/api/rollbacks/${waiting.rollback_id}/reject`, { comment: 'investigating' })).status).toBe(200);
    const after = parseExposition((await scrape(`${stack.url}/metrics`)).text);
    expect(value(after, 'promptback_approvals_pending')).toBe(0);
    expect(value(after, 'promptback_approval_oldest_pending_age_seconds')).toBe(0);
    // A rejected incident never switched: the histograms still hold the two rollbacks that did.
    expect(sum(after, 'promptback_rollback_request_to_switch_seconds_count')).toBe(2);
  });

  it("the in-process worker's /metrics shows its process and its Temporal SDK metrics", async () => {
    const url = `${stack.worker!.metrics!.url}/metrics`;
    const samples = parseExposition((await scrape(url)).text);
    expect(value(samples, 'promptback_temporal_sdk_metrics_up')).toBe(1);
    expect(samples.some((s) => s.name.startsWith('temporal_'))).toBe(true);
    expect(value(samples, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('every alert rule and every dashboard panel reads metrics that /metrics really exposes; promtool accepts and unit-tests the rules', async () => {
    const exposed = new Set([
      ...parseExposition((await scrape(`${stack.url}/metrics`)).text).map((s) => s.name),
      ...parseExposition((await scrape(`${stack.worker!.metrics!.url}/metrics`)).text).map((s) => s.name),
    ]);

    const rulesFile = path.join(ROOT, 'deploy/prometheus/promptback-alerts.yml');
    const rules = YAML.parse(fs.readFileSync(rulesFile, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
    const alerts = rules.groups.flatMap((g) => g.rules);
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining([
        'PromptbackDeliveriesFailing',
        'PromptbackMonitorBlind',
        'PromptbackApprovalPastDeadline',
        'PromptbackRollbackEscalated',
        'PromptbackWorkerMetricsAbsent',
      ]),
    );
    for (const a of alerts) {
      for (const name of metricNamesIn(a.expr))
        expect({ alert: a.alert, name, exposed: exposed.has(name) }).toEqual({ alert: a.alert, name, exposed: true });
    }

    const dashboard = JSON.parse(fs.readFileSync(path.join(ROOT, 'deploy/grafana/promptback-dashboard.json'), 'utf8')) as {
      panels: { title: string; type: string; targets?: { expr: string }[] }[];
    };
    const queried = dashboard.panels.filter((p) => p.type !== 'row');
    expect(queried.length).toBeGreaterThan(10);
    for (const p of queried) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) {
        const names = metricNamesIn(t.expr);
        expect(names.length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
        for (const name of names)
          expect({ panel: p.title, name, exposed: exposed.has(name) }).toEqual({ panel: p.title, name, exposed: true });
      }
    }

    // promtool (Debian's prometheus package, installed by scripts/setup.sh) checks syntax and runs the alert unit tests.
    const promtool = await exec('promtool', ['--version']).then(
      () => true,
      () => false,
    );
    if (promtool) {
      await exec('promtool', ['check', 'rules', rulesFile]);
      await exec('promtool', ['test', 'rules', 'promptback-alerts.test.yml'], { cwd: path.dirname(rulesFile) });
    }
  });
});

describe('npm start: one process, one scrape target', () => {
  it("the API's /metrics shows the worker's Temporal SDK metrics and one set of process metrics; no worker port is opened", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-start-'));
    const [apiPort, workerPort] = [await freePort(), await freePort()];
    const taskQueue = `it-start-${Date.now()}`;
    // start.ts against the test run's Temporal server (TEMPORAL_ADDRESS set: no dev server of its own).
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/main/start.ts')], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: String(apiPort),
        WORKER_METRICS_PORT: String(workerPort),
        DATA_DIR: dir,
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        TEMPORAL_NAMESPACE: 'it-telemetry',
        TEMPORAL_TASK_QUEUE: taskQueue,
        AUTH_TOKENS: 'grafana:viewer:start-viewer-token',
        LOG_LEVEL: 'error',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    try {
      const samples = await waitFor(
        "the worker's SDK metrics on the API's /metrics",
        async () => {
          if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}:\n${stderr}`);
          const r = await scrape(`http://127.0.0.1:${apiPort}/metrics`, 'start-viewer-token').catch(() => undefined);
          if (r?.status !== 200) return undefined;
          const s = parseExposition(r.text);
          return s.some((x) => x.name === 'temporal_worker_task_slots_available' && x.labels.task_queue === taskQueue) ? s : undefined;
        },
        90_000,
      );
      expect((await scrape(`http://127.0.0.1:${apiPort}/metrics`)).status).toBe(401);
      expect(value(samples, 'promptback_temporal_sdk_metrics_up')).toBe(1);
      expect(samples.filter((x) => x.name === 'process_cpu_user_seconds_total')).toHaveLength(1);
      expect(value(samples, 'promptback_approvals_pending')).toBe(0);
      const refused = await new Promise<boolean>((resolve) => {
        const c = net.connect(workerPort, '127.0.0.1');
        c.once('connect', () => {
          c.destroy();
          resolve(false);
        });
        c.once('error', () => resolve(true));
      });
      expect(refused).toBe(true);
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
