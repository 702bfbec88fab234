/**
 * `npx tsx scripts/screenshots-webui.ts`: the README's pictures of a rollback in the Temporal Web UI, taken from
 * the real system. Starts a throwaway dev server (in memory, with its Web UI), the API and a worker; drives an
 * incident as the README tells it (a bad version pages on-call, alice approves, traffic switches back, verification
 * sees the recovery) beside a second incident still awaiting a decision; then Debian's chromium (playwright-core)
 * captures the workflow list and the finished rollback's page into docs/images/.
 *
 * CHROMIUM_PATH overrides /usr/bin/chromium.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { startApi } from '../src/main/api';
import { loadConfig } from '../src/main/config';
import { createLogger } from '../src/main/logger';
import { findTemporalCli, startDevServer } from '../src/main/temporal-server';
import { openAdapters } from '../src/main/wiring';
import { startWorker } from '../src/main/worker';

const OUT = path.resolve(__dirname, '../docs/images');
const TOKENS = { admin: 'platform-admin-token', alice: 'alice-operator-token', ingest: 'ingest-token' };

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main(): Promise<void> {
  const log = (msg: string): void => console.log(`screenshots: ${msg}`);
  const [port, uiPort] = [await freePort(), await freePort()];
  const dev = await startDevServer({ cli: findTemporalCli(process.env.TEMPORAL_CLI_PATH), port, uiPort, namespace: 'default' });
  const ui = `http://127.0.0.1:${uiPort}`;
  log(`dev server ${dev.address}, Web UI ${ui}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-screenshots-'));
  const config = loadConfig({
    PORT: '0',
    WORKER_METRICS_PORT: '0',
    DATA_DIR: dir,
    DATABASE_URL: path.join(dir, 'promptback.db'),
    TEMPORAL_ADDRESS: dev.address,
    TEMPORAL_UI_URL: ui,
    AUTH_TOKENS: `platform:admin:${TOKENS.admin},alice:operator:${TOKENS.alice},loadgen:ingest:${TOKENS.ingest}`,
    MONITOR_INTERVAL_S: '2',
    VERIFY_INTERVAL_S: '2',
    VERIFY_DURATION_S: '24',
    MIN_SAMPLES: '5',
    LOG_LEVEL: 'error',
  });
  const quiet = createLogger('silent', 'promptback-screenshots');
  const adapters = await openAdapters(config, quiet);
  const api = await startApi(config, adapters, dev.address, quiet);
  const worker = await startWorker(config, adapters, dev.address, {});
  const call = async (method: string, p: string, body?: unknown, token = TOKENS.alice): Promise<any> => {
    const res = await fetch(`${api.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 400) throw new Error(`${method} ${p} → ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const traffic = (prompt: string, version: string, n: number, errorRate: number) =>
    call(
      'POST',
      '/api/metrics',
      {
        events: Array.from({ length: n }, (_, i) => ({
          prompt,
          version,
          ok: i >= Math.round(n * errorRate),
          latency_ms: 250 + (i % 100),
          quality: 0.8,
        })),
      },
      TOKENS.ingest,
    );
  const incident = (prompt: string, status: string) =>
    waitFor(`an incident on ${prompt} ${status}`, async () => {
      const { rollbacks } = (await call('GET', `/api/rollbacks?prompt=${prompt}`)) as {
        rollbacks: { rollback_id: string; status: string }[];
      };
      return rollbacks.find((r) => r.status === status);
    });

  try {
    for (const [prompt, description] of [
      ['customer-support', 'Customer support assistant'],
      ['refund-classifier', 'Routes refund requests'],
    ] as const) {
      await call('PUT', `/api/prompts/${prompt}`, { description, owner: 'support-team' }, TOKENS.admin);
      for (const version of ['v1.9.0', 'v2.0.0']) {
        await call(
          'POST',
          `/api/prompts/${prompt}/versions`,
          { version, template: `You are the ${description} (${version}).` },
          TOKENS.admin,
        );
        await call('POST', `/api/prompts/${prompt}/deploy`, { version }, TOKENS.admin);
      }
      // The known-good version's own traffic is the baseline; then the new version errs at 3 % (high: page on-call).
      await traffic(prompt, 'v1.9.0', 400, 0.004);
      await traffic(prompt, 'v2.0.0', 400, 0.03);
    }
    const open = await incident('customer-support', 'awaiting_approval');
    await incident('refund-classifier', 'awaiting_approval');
    log(`incident ${open.rollback_id} awaits a decision; alice approves`);
    await call('POST', `/api/rollbacks/${open.rollback_id}/approve`, { comment: 'v2.0.0 errs on refunds; rolling back' });
    const done = await waitFor('verification to end', async () => {
      const v = await call('GET', `/api/rollbacks/${open.rollback_id}`);
      if (v.status === 'verifying') await traffic('customer-support', 'v1.9.0', 40, 0);
      return ['completed', 'escalated', 'failed'].includes(v.status) ? v : undefined;
    });
    log(`rollback ${done.rollback_id} ${done.status} (${done.outcome}); ${done.verification?.checks?.length ?? 0} checks`);

    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, deviceScaleFactor: 1 });
      // The list's columns, as a person would pick them (the Web UI keeps them in local storage): the search
      // attributes promptback keeps current beside status and id.
      const columns = ['Status', 'Workflow ID', 'PromptName', 'RollbackState', 'RollbackSeverity', 'Type', 'Start', 'End'];
      await page.addInitScript(
        `localStorage.setItem('namespace-workflow-table-columns', ${JSON.stringify(JSON.stringify({ default: columns.map((label) => ({ label })) }))})`,
      );
      fs.mkdirSync(OUT, { recursive: true });
      const files = {
        list: path.join(OUT, 'webui-workflows.png'),
        metadata: path.join(OUT, 'webui-rollback.png'),
        timeline: path.join(OUT, 'webui-rollback-timeline.png'),
      };
      const query = encodeURIComponent('PromptName IN ("customer-support", "refund-classifier")');
      await visit(page, `${ui}/namespaces/default/workflows?query=${query}`, done.workflow_id);
      await page.screenshot({ path: files.list });
      const wf = `${ui}/namespaces/default/workflows/${encodeURIComponent(done.workflow_id)}`;
      await visit(page, wf, 'User Metadata');
      await page
        .getByRole('link', { name: 'User Metadata' })
        .or(page.getByRole('tab', { name: 'User Metadata' }))
        .first()
        .click();
      await page.getByText('Current Details').first().waitFor({ timeout: 30_000 });
      await page.waitForTimeout(1_000);
      await page.screenshot({ path: files.metadata, fullPage: true });
      // The timeline below the input and result: named timers and the (local) activities between them.
      await page.setViewportSize({ width: 1600, height: 1900 });
      await visit(page, wf, 'verification check 12/12');
      await page.screenshot({ path: files.timeline, clip: { x: 0, y: 640, width: 1600, height: 1260 } });
      log(`wrote ${Object.values(files).join(', ')}`);
    } finally {
      await browser.close();
    }
  } finally {
    await worker.stop();
    await api.stop();
    await adapters.db.close();
    await dev.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Opens a Web UI page and waits until it shows `text` (the UI renders client-side). */
async function visit(page: Page, url: string, text: string): Promise<void> {
  await page.goto(url, { waitUntil: 'networkidle' });
  await page.getByText(text, { exact: false }).first().waitFor({ timeout: 30_000 });
  await page.waitForTimeout(1_000);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
