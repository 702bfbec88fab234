/**
 * `npm run demo`: against a running `npm start`, shows detection → page → automatic rollback → verification
 * → completed in under a minute, in this terminal and in the Temporal Web UI.
 *
 * customer-support v1.9.0 (good) serves first; v2.0.0 (bad) is deployed and synthetic traffic follows
 * `resolve`, with v2.0.0's error rate climbing 1 % → 3.5 % (high: page, awaiting approval) → 15 % (critical:
 * automatic rollback). After the switch, traffic lands on v1.9.0 again and verification sees the recovery.
 */
const BASE = (process.env.PROMPTBACK_URL ?? 'http://localhost:8000').replace(/\/$/, '');
const PROMPT = 'customer-support';
const started = Date.now();
const stamp = (): string => `[+${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s]`;
const say = (msg: string): void => console.log(`${stamp()} ${msg}`);

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(process.env.PROMPTBACK_TOKEN ? { authorization: `Bearer ${process.env.PROMPTBACK_TOKEN}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const ERROR_RATE: Record<string, (s: number) => number> = {
  'v1.9.0': () => 0.002,
  // seconds since v2.0.0 was deployed → error probability
  'v2.0.0': (s) => (s < 10 ? 0.01 : s < 22 ? 0.035 : 0.15),
};

let deployedAt = 0;
let stop = false;

/** 50 requests a second, each routed by `resolve` as a real client would be, reported in one batch a second. */
async function traffic(): Promise<void> {
  let n = 0;
  while (!stop) {
    const tick = Date.now();
    const events = [];
    const { body: route } = await api('GET', `/api/prompts/${PROMPT}/resolve?key=user-${n % 1000}`);
    for (let i = 0; i < 50; i++, n++) {
      const version: string = route.version;
      const p = (ERROR_RATE[version] ?? (() => 0))((Date.now() - deployedAt) / 1000);
      events.push({
        prompt: PROMPT,
        version,
        ok: Math.random() >= p,
        latency_ms: 300 + Math.random() * 200,
        quality: 0.8 + Math.random() * 0.1,
      });
    }
    const r = await api('POST', '/api/metrics', { events });
    if (r.status !== 202) say(`metrics refused: ${JSON.stringify(r.body)}`);
    await new Promise((res) => setTimeout(res, Math.max(0, 1000 - (Date.now() - tick))));
  }
}

async function main(): Promise<void> {
  const health = await api('GET', '/readyz').catch(() => undefined);
  if (!health || health.status !== 200) {
    console.error(`promptback is not ready at ${BASE}: start it first with \`npm run setup && npm start\``);
    process.exit(2);
  }
  say(`promptback at ${BASE}`);
  await api('PUT', `/api/prompts/${PROMPT}`, { description: 'Customer support assistant (demo)', owner: 'support-team' });
  for (const [version, template] of [
    ['v1.9.0', 'You are a helpful support agent. Follow the refund policy.'],
    ['v2.0.0', 'You are a very concise support agent.'],
  ]) {
    const r = await api('POST', `/api/prompts/${PROMPT}/versions`, { version, template });
    if (r.status !== 201 && r.status !== 409) throw new Error(`version ${version}: ${JSON.stringify(r.body)}`);
  }
  const open = (await api('GET', `/api/prompts/${PROMPT}`)).body.open_rollback_id;
  if (open) {
    console.error(`${PROMPT} has rollback ${open} in flight (${BASE}/api/rollbacks/${open}); run the demo again when it has ended.`);
    process.exit(1);
  }
  // A monitor checking every 5 s (the default is 30 s; the critical fast path does not wait for it anyway).
  await api('DELETE', `/api/monitors/${PROMPT}`);
  await new Promise((r) => setTimeout(r, 1000));
  const m = await api('POST', '/api/monitors', { prompt: PROMPT, interval_s: 5 });
  say(`monitor ${m.body.workflow_id} checks every ${m.body.interval_s} s`);
  await api('POST', `/api/prompts/${PROMPT}/deploy`, { version: 'v1.9.0' });
  say('deployed v1.9.0 (good); sending 50 requests/s of healthy traffic for a baseline…');
  deployedAt = Date.now();
  const load = traffic();
  await new Promise((r) => setTimeout(r, 8000));
  await api('POST', `/api/prompts/${PROMPT}/deploy`, { version: 'v2.0.0' });
  deployedAt = Date.now();
  say('deployed v2.0.0 (bad): its error rate will climb 1 % → 3.5 % → 15 %');

  const seen = new Set<string>();
  let done: any;
  let lastVerdict = '';
  while (Date.now() - started < 150_000) {
    const mon = (await api('GET', `/api/monitors/${PROMPT}`)).body;
    const v = mon.last_verdict;
    if (v && `${v.kind}/${v.rule}` !== lastVerdict) {
      lastVerdict = `${v.kind}/${v.rule}`;
      say(`monitor           ${(mon.last_action ?? '').padEnd(18)} ${v.summary}`);
    }
    const { body } = await api('GET', `/api/rollbacks?prompt=${PROMPT}&limit=1`);
    const rb = body.rollbacks[0];
    if (rb && Date.parse(rb.requested_at) >= deployedAt) {
      for (const t of rb.timeline as { at: string; event: string; detail: any }[]) {
        const key = `${rb.rollback_id}/${t.at}/${t.event}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const d = t.detail ?? {};
        const text =
          d.summary ??
          d.message ??
          (t.event === 'switched' ? `${d.from_version} → ${d.to_version}` : d.deadline ? `deadline ${d.deadline}` : '');
        say(`${rb.status.padEnd(17)} ${t.event.padEnd(18)} ${String(text).slice(0, 110)}`);
      }
      if (['completed', 'escalated', 'failed', 'rejected', 'cleared'].includes(rb.status)) {
        done = rb;
        break;
      }
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  stop = true;
  await load;
  if (!done) {
    say('no incident finished within 150 s; look at GET /api/monitors/customer-support and the Web UI');
    process.exit(1);
  }
  const full = (await api('GET', `/api/rollbacks/${done.rollback_id}`)).body;
  say(`${done.status}: ${PROMPT} serves ${(await api('GET', `/api/prompts/${PROMPT}/resolve?key=anyone`)).body.version} again`);
  console.log(`\nRollback:   ${full.status_url}\nWeb UI:     ${full.web_ui_url}\nIn the Web UI, search: PromptName = "${PROMPT}"`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
