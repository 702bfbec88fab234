/**
 * examples/support-bot — a support bot that asks promptback which prompt version to use on every request and reports
 * how each answer went, so that a bad version is rolled back and the rollback reaches this process at once.
 *
 *   npm start                                   # promptback on :8000 (another terminal)
 *   npm run example:support-bot                 # PROMPTBACK_URL / PROMPTBACK_TOKEN / BOT_PORT to change
 *   curl -s localhost:3000/chat -d '{"user":"u-42","message":"where is my order?"}'
 *
 * The model call is simulated (a real bot would send `template` + the message to its LLM).
 */
import http from 'node:http';
import { PromptbackClient } from '../packages/client/src/index';

const PROMPT = 'customer-support';
const client = new PromptbackClient({
  url: process.env.PROMPTBACK_URL ?? 'http://localhost:8000',
  ...(process.env.PROMPTBACK_TOKEN ? { token: process.env.PROMPTBACK_TOKEN } : {}),
  prompts: [PROMPT], // start watching now, so the first request does not wait
});
client.on('change', (e) =>
  console.log(`[promptback] ${e.prompt} now serves ${e.traffic.map((t) => `${t.version} ${t.percent}%`).join(', ')} (${e.source})`),
);
client.on('mode', (e) => console.log(`[promptback] ${e.prompt}: ${e.mode}`));
client.on('stale', (e) => console.warn(`[promptback] ${e.prompt} may be stale: last confirmed ${Math.round(e.ms / 1000)} s ago`));

/** Stands in for the LLM call. */
async function answer(template: string, message: string): Promise<{ text: string; quality: number }> {
  await new Promise((r) => setTimeout(r, 20 + Math.random() * 80));
  if (Math.random() < 0.01) throw new Error('model timeout');
  return { text: `${template.split('.')[0]}: about "${message}" — let me check that for you.`, quality: 0.8 + Math.random() * 0.2 };
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/chat') {
    res.writeHead(404).end();
    return;
  }
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString('utf8')));
  req.on('end', () => {
    void (async () => {
      const { user = 'anonymous', message = '' } = JSON.parse(body || '{}') as { user?: string; message?: string };
      // The request key decides which side of a traffic split this user is on, the same way the server would.
      const { version, template } = await client.get(PROMPT, { key: user });
      const started = performance.now();
      try {
        const a = await answer(template, message);
        client.report({ prompt: PROMPT, version, ok: true, latency_ms: performance.now() - started, quality: a.quality });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ version, reply: a.text }));
      } catch (e) {
        client.report({ prompt: PROMPT, version, ok: false, latency_ms: performance.now() - started });
        res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ version, error: String(e) }));
      }
    })().catch((e: unknown) => res.writeHead(503).end(String(e)));
  });
});

const port = Number(process.env.BOT_PORT ?? 3000);
server.listen(port, () => console.log(`support bot on http://localhost:${port}/chat`));

// On shutdown: stop taking requests, send what is still queued.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    server.close();
    void client.close(5000).then((stats) => {
      console.log(`[promptback] metrics: ${stats.sent} sent, ${stats.dropped} dropped, ${stats.rejected} rejected`);
      process.exit(0);
    });
  });
