import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricsSeriesAnswer } from '../../src/api/schemas';
import { http, seedCustomerSupport, startStack, type Stack } from '../support/stack';

/** Debian's chromium (`npm run setup` installs it); CHROMIUM_PATH points elsewhere. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Screenshots of each run, kept for people to look at (git-ignored; docs/images holds the README's). */
const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts/dashboard');

// In CI the browser must be there: a missing one fails the run, it is never skipped. Elsewhere these tests are
// skipped without it.
const inCI = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';
const installed = fs.existsSync(CHROMIUM);

describe.runIf(inCI && !installed)('a browser in CI', () => {
  it('chromium is installed, so the dashboard is tested in a real browser', () => {
    throw new Error(
      `CI is set but ${CHROMIUM} was not found: run \`npm run setup\` (installs Debian chromium); browser tests never skip in CI`,
    );
  });
});

let browser: Browser;
beforeAll(async () => {
  if (!installed) return;
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Chromium's sandbox refuses to run as root (CI containers).
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
});
afterAll(async () => {
  await browser?.close();
});

/** A tab whose waits allow for a loaded CI box (the waits are on what the page shows, never on time). */
async function newPage(options: Parameters<Browser['newPage']>[0] = {}): Promise<Page> {
  const page = await browser.newPage(options);
  page.setDefaultTimeout(60_000);
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

/** Metric events spread evenly from `fromAgoMs` to `toAgoMs` before now; every `errorEvery`-th one fails. */
async function traffic(
  url: string,
  version: string,
  n: number,
  o: { errorEvery?: number; fromAgoMs: number; toAgoMs: number; latency: number; quality: number },
): Promise<void> {
  const now = Date.now();
  const events = Array.from({ length: n }, (_, i) => ({
    prompt: 'customer-support',
    version,
    ok: o.errorEvery === undefined || i % o.errorEvery !== o.errorEvery - 1,
    latency_ms: o.latency + ((i * 37) % 50),
    quality: o.quality,
    at: new Date(now - o.fromAgoMs + ((o.fromAgoMs - o.toAgoMs) * i) / n).toISOString(),
  }));
  const r = await http(url, 'POST', '/api/metrics', { events });
  if (r.status !== 202) throw new Error(`metrics → ${r.status} ${JSON.stringify(r.body)}`);
}

describe.runIf(installed)('the dashboard in a real browser', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ namespace: 'it-dashboard' });
    await seedCustomerSupport(stack.url);
    // Healthy history for v1.9.0 before v2.0.0 took over, so the chart has a "before".
    await traffic(stack.url, 'v1.9.0', 1200, { fromAgoMs: 12 * 60_000, toAgoMs: 6 * 60_000, latency: 120, quality: 0.88 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('shows prompts and verdicts, counts down a pending approval, and Approve switches the page live; the rollback page has its timeline and chart', async () => {
    const page = await newPage({ viewport: { width: 1280, height: 1000 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${stack.url}/`);

    const row = page.locator('tr[data-prompt="customer-support"]');
    await row.locator('td.active-version', { hasText: /^v2\.0\.0$/ }).waitFor();
    expect(await row.locator('td.traffic').textContent()).toBe('v2.0.0 100 %');
    // The monitor's verdict with its numbers: no v2.0.0 traffic yet, so nothing is judged.
    const monitor = page.locator('tr[data-monitor="customer-support"]');
    await monitor.locator('td.verdict', { hasText: 'inconclusive' }).waitFor();
    await page.locator('#connection', { hasText: 'live' }).waitFor();

    // 3 % errors over the last 4 minutes: high severity, the trigger table asks a person within 5 minutes.
    await traffic(stack.url, 'v2.0.0', 1200, { errorEvery: 33, fromAgoMs: 4 * 60_000, toAgoMs: 0, latency: 130, quality: 0.86 });
    const card = page.locator('article.approval');
    await card.waitFor();
    const rollbackId = await card.getAttribute('data-rollback');
    expect(rollbackId).toBeTruthy();
    expect(await card.locator('h3').textContent()).toContain('customer-support');
    expect(await card.locator('.trigger').textContent()).toBe('error rate 3.0 % (threshold 2.0 %, 1200 requests in 5 min)');
    await monitor.locator('td.verdict', { hasText: 'breached' }).waitFor();
    expect(await monitor.locator('td.numbers').textContent()).toContain('error rate 3.0 % (threshold 2.0 %, 1200 requests in 5 min)');

    // The countdown ticks by itself.
    const countdown = card.locator('.countdown');
    const first = (await countdown.textContent())!;
    expect(first).toMatch(/^[45]:\d\d left$/);
    await page.waitForFunction((t) => (globalThis as any).document.querySelector('article.approval .countdown')?.textContent !== t, first);
    expect(await countdown.textContent()).toMatch(/^4:\d\d left$/);
    await shot(page, 'overview-pending-approval');

    // A second tab that hears no events keeps showing the card, as a stale page would.
    const stale = await newPage();
    await stale.route('**/api/events', (r) => r.abort());
    await stale.goto(`${stack.url}/`);
    await stale.locator(`article.approval[data-rollback="${rollbackId}"]`).waitFor();

    // Approve: the page switches to v1.9.0 by itself (server-sent events), without a reload.
    await page.evaluate(() => ((globalThis as { sameDocument?: boolean }).sameDocument = true));
    await card.locator('button.approve').click();
    await page.locator('#notices', { hasText: `Approved customer-support (${rollbackId}) as anonymous` }).waitFor();
    await row.locator('td.active-version', { hasText: /^v1\.9\.0$/ }).waitFor();
    expect(await row.locator('td.traffic').textContent()).toBe('v1.9.0 100 %');
    expect(await page.evaluate(() => (globalThis as { sameDocument?: boolean }).sameDocument)).toBe(true);
    await page.locator('#approvals', { hasText: 'Nothing awaits a decision.' }).waitFor();

    // The stale tab's Reject is refused, and it says why in the API's words.
    await stale.locator('article.approval button.reject').click();
    const refusal = stale.locator('article.approval .decision-result.error');
    await refusal.waitFor();
    expect(await refusal.textContent()).toMatch(
      /^Refused: already approved by anonymous at \S+ \(rollback \S+ is (rolling_back|verifying|completed)\)$/,
    );
    await stale.close();

    // Healthy traffic on v1.9.0 after the switch, so verification can show recovery.
    // All stamped now: the page showed the switch, so it is after it.
    await traffic(stack.url, 'v1.9.0', 300, { fromAgoMs: 0, toAgoMs: 0, latency: 120, quality: 0.88 });

    await page.locator('#recent a', { hasText: rollbackId! }).click();
    await page.locator('#rollback h2', { hasText: `Rollback ${rollbackId}` }).waitFor();
    await page.locator('#timeline tr.event-approved', { hasText: 'by anonymous via api' }).waitFor();
    await page.locator('#timeline tr.event-switched', { hasText: 'v2.0.0 → v1.9.0' }).waitFor();
    await page.locator('#chart canvas').first().waitFor();
    // The chart's note is written last in a load: once it names the switch, the chart and the table show it too.
    await page.locator('.chart-note', { hasText: 'switched' }).waitFor();
    expect(await page.locator('.chart-note').textContent()).toMatch(/Marked: detected \S+, approved \S+, switched \S+\./);
    // Before and after the switch, in numbers a person reads: the bad version's 3.0 % before, none after.
    const rows = page.locator('.before-after-table tbody tr');
    expect(await rows.nth(0).locator('td').allTextContents()).toEqual([
      '5 min before the switch',
      '1200',
      '3.0 %',
      expect.stringMatching(/^1\d\d ms$/),
      '86 %',
    ]);
    const after = await rows.nth(1).locator('td').allTextContents();
    expect(after[0]).toMatch(/^After the switch \(\d+ s\)$/);
    expect(after.slice(1, 3)).toEqual(['300', '0 %']);
    // Verification ends (1-s checks for 10 s in tests) and the post-mortem appears, without a reload.
    await page.locator('#verification .verification-result', { hasText: 'recovered' }).waitFor();
    await page.locator('#post-mortem .pm-summary').waitFor();
    expect(await page.locator('#post-mortem pre').textContent()).toContain(`# Post-mortem: customer-support v2.0.0 → v1.9.0`);
    expect(await page.locator('.fact-state').textContent()).toBe('completed');
    expect(await page.evaluate(() => (globalThis as { sameDocument?: boolean }).sameDocument)).toBe(true);
    // The chart's numbers are the traffic sent: every event once, in the bucket of its time.
    const to = new Date(Date.now() + 1000).toISOString();
    const from = new Date(Date.now() - 15 * 60_000).toISOString();
    const series = await http(stack.url, 'GET', `/api/prompts/customer-support/metrics/series?from=${from}&to=${to}&step_s=60`);
    expect(metricsSeriesAnswer.safeParse(series.body).error).toBeUndefined();
    const points = series.body.points as { requests: number; errors: number; by_version: Record<string, number> }[];
    expect(points.reduce((n, p) => n + p.requests, 0)).toBe(2700);
    expect(points.reduce((n, p) => n + p.errors, 0)).toBe(36);
    expect(points.reduce((n, p) => n + (p.by_version['v2.0.0'] ?? 0), 0)).toBe(1200);
    expect([...series.body.versions].sort()).toEqual(['v1.9.0', 'v2.0.0']);

    await shot(page, 'rollback-page');
    await page.locator('#around-the-switch').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, 'rollback-page-top.png') });
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 180_000);

  it("a gradual rollback's page shows its stage, and Pause, Resume and Abort act on it (a refusal in the API's words)", async () => {
    for (const [m, p, b] of [
      ['PUT', '/api/prompts/billing', { description: 'Billing assistant' }],
      ['POST', '/api/prompts/billing/versions', { version: 'v1', template: 'Help with bills.' }],
      ['POST', '/api/prompts/billing/deploy', { version: 'v1' }],
      ['POST', '/api/prompts/billing/versions', { version: 'v2', template: 'Help with bills, tersely.' }],
      ['POST', '/api/prompts/billing/deploy', { version: 'v2' }],
    ] as const) {
      expect((await http(stack.url, m, p, b)).status).toBeLessThan(300);
    }
    const started = await http(stack.url, 'POST', '/api/rollback', { prompt: 'billing', target_version: 'v1', mode: 'gradual' });
    expect(started.status).toBe(202);
    const id = started.body.rollback_id as string;

    const page = await newPage({ viewport: { width: 1280, height: 1000 } });
    await page.goto(`${stack.url}/#/rollbacks/${id}`);
    const stage = page.locator('.fact-stage');
    await stage.filter({ hasText: /^1 of 4: 75 % left on v2 — / }).waitFor();

    await page.locator('#rollback button.pause').click();
    await page.locator('#notices', { hasText: `billing (${id}): pause: now paused` }).waitFor();
    await stage.filter({ hasText: '(paused' }).waitFor();
    await page.locator('#rollback button.resume').click();
    await page.locator('#notices', { hasText: `billing (${id}): resume: now rolling back` }).waitFor();
    await page.locator('.fact-state', { hasText: 'rolling back' }).waitFor();
    // Resuming what is not paused: the workflow refuses, and the page says why.
    await page.locator('#rollback button.resume').click();
    await page.locator('#notices .notice-error', { hasText: /^Refused: .*is rolling_back, not paused/ }).waitFor();
    await page.locator('#rollback button.abort').click();
    await page.locator('#notices', { hasText: `billing (${id}): abort: now` }).waitFor();
    await page.locator('#timeline tr.event-aborted').waitFor();
    await page.close();
  }, 120_000);
});

describe.runIf(installed)('the dashboard with authentication on', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      namespace: 'it-dashboard',
      worker: false,
      env: { AUTH_TOKENS: 'ops:operator:op-secret,root:admin:admin-secret' },
    });
    const admin = { headers: { authorization: 'Bearer admin-secret' } };
    expect((await http(stack.url, 'PUT', '/api/prompts/billing', { description: 'Billing assistant' }, admin)).status).toBe(201);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('serves the page to anyone but its data, events and series only with a token; bad series queries are 400 naming the field', async () => {
    const page = await fetch(`${stack.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await fetch(`${stack.url}/ui/vendor/uplot/uPlot.esm.js`)).status).toBe(200);

    const events = await http(stack.url, 'GET', '/api/events');
    expect(events.status).toBe(401);
    expect(events.type).toContain('problem+json');
    const viewer = { headers: { authorization: 'Bearer op-secret' } };
    expect((await http(stack.url, 'GET', '/api/prompts/billing/metrics/series', undefined)).status).toBe(401);

    const series = await http(stack.url, 'GET', '/api/prompts/billing/metrics/series?step_s=60', undefined, viewer);
    expect(series.status).toBe(200);
    expect(metricsSeriesAnswer.safeParse(series.body).error).toBeUndefined();
    expect(series.body).toMatchObject({ prompt: 'billing', step_s: 60, versions: [] });
    expect(Date.parse(series.body.to) - Date.parse(series.body.from)).toBeGreaterThanOrEqual(30 * 60_000);
    const aligned = await http(
      stack.url,
      'GET',
      '/api/prompts/billing/metrics/series?from=2026-01-01T00:00:00Z&to=2026-01-01T00:30:00Z&step_s=60',
      undefined,
      viewer,
    );
    expect(aligned.body.points).toHaveLength(30);
    expect(aligned.body.points[29].at).toBe('2026-01-01T00:29:00.000Z');
    const unaligned = await http(
      stack.url,
      'GET',
      '/api/prompts/billing/metrics/series?from=2026-01-01T00:00:00.250Z&to=2026-01-01T00:10:00.500Z&step_s=300',
      undefined,
      viewer,
    );
    expect(unaligned.body.points.map((p: { at: string }) => p.at)).toEqual([
      '2026-01-01T00:00:00.000Z',
      '2026-01-01T00:05:00.000Z',
      '2026-01-01T00:10:00.000Z',
    ]);
    expect(series.body.points[0]).toMatchObject({ requests: 0, error_rate: null, latency_p99_ms: null, quality_mean: null });

    const tooMany = await http(stack.url, 'GET', '/api/prompts/billing/metrics/series?step_s=1', undefined, viewer);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors).toEqual([{ field: 'step_s', message: expect.stringContaining('more than 500 steps') }]);
    const backwards = await http(
      stack.url,
      'GET',
      '/api/prompts/billing/metrics/series?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z',
      undefined,
      viewer,
    );
    expect(backwards.status).toBe(400);
    expect(backwards.body.errors).toEqual([{ field: 'from', message: 'must be before to' }]);
    const badDate = await http(stack.url, 'GET', '/api/prompts/billing/metrics/series?from=yesterday', undefined, viewer);
    expect(badDate.status).toBe(400);
    expect(badDate.body.detail).toMatch(/^from: /);
    expect((await http(stack.url, 'GET', '/api/prompts/nope/metrics/series', undefined, viewer)).status).toBe(404);
  });

  it('GET /api/events says ready, then names the prompt that changed', async () => {
    const res = await fetch(`${stack.url}/api/events`, { headers: { authorization: 'Bearer op-secret' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const until = async (what: string): Promise<void> => {
      while (!text.includes(what)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended before ${what}; it said ${text}`);
        text += value;
      }
    };
    await until('event: ready\ndata: {}\n\n');
    const admin = { headers: { authorization: 'Bearer admin-secret' } };
    expect((await http(stack.url, 'PUT', '/api/prompts/refunds', { description: 'Refund assistant' }, admin)).status).toBe(201);
    await until('event: change\ndata: {"prompts":["refunds"]}\n\n');
    const metrics = await http(stack.url, 'GET', '/metrics', undefined, { headers: { authorization: 'Bearer op-secret' } });
    expect(metrics.body).toMatch(/^promptback_dashboard_event_streams 1$/m);
    await reader.cancel();
  });

  it('asks for a token, refuses a wrong one, then shows the data with it for the rest of the tab', async () => {
    const page = await newPage();
    await page.goto(`${stack.url}/`);
    const form = page.locator('form.sign-in');
    await form.waitFor();
    expect(await page.locator('tr[data-prompt]').count()).toBe(0);
    await form.locator('input#token').fill('not-a-token');
    await form.locator('button[type=submit]').click();
    await form.locator('p', { hasText: 'That token was not accepted.' }).waitFor();
    await shot(page, 'sign-in-refused');
    await form.locator('input#token').fill('op-secret');
    await form.locator('button[type=submit]').click();
    await page.locator('tr[data-prompt="billing"] td.active-version', { hasText: '—' }).waitFor();
    // The event stream authenticates with the same token (a header, which an EventSource could not send).
    await page.locator('#connection', { hasText: 'live' }).waitFor();
    // The token stays for this tab: a reload goes straight to the data.
    await page.reload();
    await page.locator('tr[data-prompt="billing"]').waitFor();
    expect(await page.locator('form.sign-in').count()).toBe(0);
    await page.close();
  }, 180_000);
});
