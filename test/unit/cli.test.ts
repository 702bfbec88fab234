import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildProgram } from '../../src/cli/index';

/**
 * A stand-in for the promptback API: records each request and answers with whatever `reply` says. A string
 * body with a non-JSON `type` (the post-mortem's text/markdown) is sent as is; anything else as JSON.
 */
interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}
type Reply = (req: Recorded) => { status: number; body: unknown; type?: string };

let server: http.Server;
let baseUrl: string;
let requests: Recorded[] = [];
let reply: Reply = () => ({ status: 404, body: { title: 'Not found', status: 404, detail: 'no route' } });

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      const rec: Recorded = { method: req.method!, url: req.url!, headers: req.headers, body: raw ? JSON.parse(raw) : undefined };
      requests.push(rec);
      const r = reply(rec);
      const type = r.type ?? (r.status >= 400 ? 'application/problem+json' : 'application/json');
      const verbatim = typeof r.body === 'string' && !type.includes('json');
      res.writeHead(r.status, { 'content-type': type }).end(verbatim ? r.body : JSON.stringify(r.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

afterEach(() => {
  requests = [];
  vi.unstubAllEnvs();
});

/** Runs the CLI in-process against `url`, capturing output and the exit code (undefined: never set, i.e. 0). */
async function cli(args: string[], url: string | null = baseUrl) {
  const result = { out: '', err: '', code: undefined as number | undefined };
  const program = buildProgram({
    out: (t) => (result.out += t),
    err: (t) => (result.err += t),
    exit: (c) => (result.code = c),
  });
  await program.parseAsync([...(url ? ['--url', url] : []), ...args], { from: 'user' });
  return result;
}

const ROLLBACK_ID = '20251125-215400-abc123';
const started = {
  rollback_id: ROLLBACK_ID,
  status: 'rolling_back',
  status_url: `http://localhost:8000/api/rollbacks/${ROLLBACK_ID}`,
  workflow_id: `rollback/customer-support/${ROLLBACK_ID}`,
};

const view = (status: string, timeline: { at: string; event: string; detail: Record<string, unknown> }[]) => ({
  rollback_id: ROLLBACK_ID,
  workflow_id: `rollback/customer-support/${ROLLBACK_ID}`,
  prompt: 'customer-support',
  from_version: 'v2.0.0',
  to_version: 'v1.9.0',
  reason: 'manual rollback',
  severity: 'high',
  mode: 'immediate',
  status,
  requested_by: 'anonymous',
  requested_at: '2025-11-25T21:54:00.000Z',
  timeline,
  updated_at: '2025-11-25T21:54:05.000Z',
});

describe('promptback CLI', () => {
  it('rollback --to sends the POST body the runbook sends and prints the rollback id', async () => {
    reply = () => ({ status: 202, body: started });
    const r = await cli(['--token', 's3cret', 'rollback', 'customer-support', '--to', 'v1.9.0']);

    expect(requests).toHaveLength(1);
    expect(requests[0]!.method).toBe('POST');
    expect(requests[0]!.url).toBe('/api/rollback');
    expect(requests[0]!.body).toEqual({ prompt: 'customer-support', target_version: 'v1.9.0' });
    expect(requests[0]!.headers['content-type']).toBe('application/json');
    expect(requests[0]!.headers.authorization).toBe('Bearer s3cret');
    expect(r.out).toContain(ROLLBACK_ID);
    expect(r.err).toBe('');
    expect(r.code ?? 0).toBe(0);
  });

  it('prints a problem+json 409 to stderr and exits 1', async () => {
    reply = () => ({
      status: 409,
      body: {
        type: 'https://promptback.dev/problems/a-rollback-is-already-in-flight',
        title: 'A rollback is already in flight',
        status: 409,
        detail: `prompt customer-support already has rollback ${ROLLBACK_ID} in flight`,
        rollback_id: ROLLBACK_ID,
      },
    });
    const r = await cli(['rollback', 'customer-support', '--to', 'v1.9.0']);

    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(
      `error: A rollback is already in flight (409): prompt customer-support already has rollback ${ROLLBACK_ID} in flight\n`,
    );
  });

  it('prints each field error of a 400', async () => {
    reply = () => ({
      status: 400,
      body: {
        title: 'Invalid request',
        status: 400,
        detail: 'version: must be 1–64 of [A-Za-z0-9._-]',
        errors: [{ field: 'version', message: 'must be 1–64 of [A-Za-z0-9._-]' }],
      },
    });
    const r = await cli(['versions', 'add', 'customer-support', 'bad version', '--template', 'Hi {{name}}']);

    expect(requests[0]!.url).toBe('/api/prompts/customer-support/versions');
    expect(requests[0]!.body).toEqual({ version: 'bad version', template: 'Hi {{name}}' });
    expect(r.code).toBe(1);
    expect(r.err).toContain('error: Invalid request (400): version: must be 1–64');
    expect(r.err).toContain('\n  version: must be 1–64 of [A-Za-z0-9._-]\n');
  });

  it('--json prints the raw JSON the API answered', async () => {
    const body = view('completed', [{ at: '2025-11-25T21:54:01.000Z', event: 'switched', detail: { to: 'v1.9.0' } }]);
    reply = () => ({ status: 200, body });
    const r = await cli(['--json', 'rollbacks', 'show', ROLLBACK_ID]);

    expect(requests[0]!.url).toBe(`/api/rollbacks/${ROLLBACK_ID}`);
    expect(JSON.parse(r.out)).toEqual(body);
    expect(r.code ?? 0).toBe(0);
  });

  it('reads the URL from PROMPTBACK_URL and builds query strings', async () => {
    vi.stubEnv('PROMPTBACK_URL', baseUrl);
    reply = () => ({ status: 200, body: { rollbacks: [] } });
    const r = await cli(['rollbacks', 'list', '--prompt', 'customer-support', '--status', 'completed'], null);

    expect(requests[0]!.url).toBe('/api/rollbacks?prompt=customer-support&status=completed');
    expect(r.out).toBe('no rollbacks\n');
  });

  it('rollback --wait prints each new timeline entry once and exits 0 when it completes', async () => {
    const first = { at: '2025-11-25T21:54:01.000Z', event: 'started', detail: { from: 'v2.0.0', to: 'v1.9.0' } };
    const second = { at: '2025-11-25T21:54:02.000Z', event: 'switched', detail: { to: 'v1.9.0', reason: 'error rate 7%' } };
    let polls = 0;
    reply = (req) => {
      if (req.method === 'POST') return { status: 202, body: started };
      polls += 1;
      return polls === 1 ? { status: 200, body: view('verifying', [first]) } : { status: 200, body: view('completed', [first, second]) };
    };
    const r = await cli(['rollback', 'customer-support', '--to', 'v1.9.0', '--wait']);

    expect(polls).toBe(2);
    const lines = r.out.trim().split('\n');
    expect(lines.filter((l) => l === '21:54:01 started from=v2.0.0 to=v1.9.0')).toHaveLength(1);
    expect(lines.filter((l) => l === '21:54:02 switched to=v1.9.0 reason="error rate 7%"')).toHaveLength(1);
    expect(lines.at(-1)).toBe(`rollback ${ROLLBACK_ID} completed: customer-support v2.0.0 → v1.9.0`);
    expect(r.code ?? 0).toBe(0);
  });

  it('rollback --wait exits 1 when the rollback ends other than completed', async () => {
    reply = (req) =>
      req.method === 'POST'
        ? { status: 202, body: started }
        : { status: 200, body: view('escalated', [{ at: '2025-11-25T21:55:00.000Z', event: 'escalated', detail: {} }]) };
    const r = await cli(['rollback', 'customer-support', '--wait']);

    expect(requests[0]!.body).toEqual({ prompt: 'customer-support' });
    expect(r.out).toContain('21:55:00 escalated\n');
    expect(r.code).toBe(1);
  });

  it('rollback --wait exits 1 when it completed but recovery could not be verified (outcome unverified)', async () => {
    reply = (req) =>
      req.method === 'POST' ? { status: 202, body: started } : { status: 200, body: { ...view('completed', []), outcome: 'unverified' } };
    const r = await cli(['rollback', 'customer-support', '--wait']);

    expect(r.out.trim().split('\n').at(-1)).toBe(`rollback ${ROLLBACK_ID} completed (unverified): customer-support v2.0.0 → v1.9.0`);
    expect(r.code).toBe(1);
  });

  it('rollbacks pause POSTs {} and prints the paused status with the gradual progress', async () => {
    const paused = {
      ...view('paused', []),
      mode: 'gradual',
      gradual: {
        stage: 1,
        of: 4,
        percent: 50,
        paused: true,
        paused_reason: 'paused by alice',
        next_step: 'paused: waiting for resume or abort',
        checks: [],
      },
    };
    reply = () => ({ status: 200, body: paused });
    const r = await cli(['rollbacks', 'pause', ROLLBACK_ID]);

    expect(requests[0]!.method).toBe('POST');
    expect(requests[0]!.url).toBe(`/api/rollbacks/${ROLLBACK_ID}/pause`);
    expect(requests[0]!.body).toEqual({});
    const lines = r.out.split('\n');
    expect(lines[0]).toBe(`rollback ${ROLLBACK_ID} paused: customer-support v2.0.0 → v1.9.0`);
    expect(r.out).toContain('stage 2/4: 50% of traffic left on v2.0.0 (paused: paused by alice)');
    expect(r.out).toContain('next     paused: waiting for resume or abort');
    expect(r.err).toBe('');
    expect(r.code ?? 0).toBe(0);
  });

  it('a 409 on pause prints the problem detail and exits 1', async () => {
    // As the API sends it: the problem's extra `status` field is the rollback's status, not the HTTP one.
    const detail = `rollback ${ROLLBACK_ID} is an immediate rollback in status completed; only a running gradual rollback can be paused, resumed or aborted`;
    reply = () => ({
      status: 409,
      body: {
        type: 'https://promptback.dev/problems/cannot-pause',
        title: 'Cannot pause',
        status: 409,
        detail,
        rollback_status: 'completed',
        mode: 'immediate',
      },
    });
    const r = await cli(['rollbacks', 'pause', ROLLBACK_ID]);

    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe(`error: Cannot pause (409): ${detail}\n`);
  });

  it('rollbacks postmortem prints the text/markdown answer verbatim', async () => {
    const md = [
      `# Post-mortem: customer-support rollback ${ROLLBACK_ID}`,
      '',
      '| metric | value |',
      '|---|---|',
      '| error rate | 7.00 % |',
      '',
      '```',
      '{"not": "parsed"}',
      '```',
      '',
    ].join('\n');
    reply = () => ({ status: 200, body: md, type: 'text/markdown; charset=utf-8' });
    const r = await cli(['rollbacks', 'postmortem', ROLLBACK_ID]);

    expect(requests[0]!.method).toBe('GET');
    expect(requests[0]!.url).toBe(`/api/rollbacks/${ROLLBACK_ID}/postmortem`);
    expect(r.out).toBe(md);
    expect(r.code ?? 0).toBe(0);
  });

  it('rollbacks postmortem still reports a problem+json 404', async () => {
    reply = () => ({ status: 404, body: { title: 'Unknown rollback', status: 404, detail: 'no rollback nope' } });
    const r = await cli(['rollbacks', 'postmortem', 'nope']);

    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toBe('error: Unknown rollback (404): no rollback nope\n');
  });

  it('approvals prints a table with the deadline, time left, default action and tier', async () => {
    const deadline = new Date(Date.now() + 4 * 60_000 + 30_000).toISOString();
    reply = () => ({
      status: 200,
      body: {
        approvals: [
          {
            rollback_id: ROLLBACK_ID,
            prompt: 'customer-support',
            status: 'awaiting_approval',
            severity: 'high',
            reason: 'error rate 3.1 %',
            trigger: null,
            deadline,
            default_action: 'roll back to v1.9.0',
            tier: 2,
          },
        ],
      },
    });
    const r = await cli(['approvals']);

    expect(requests[0]!.url).toBe('/api/approvals');
    const [header, row] = r.out.split('\n');
    expect(header).toMatch(/^ROLLBACK\s+PROMPT\s+SEVERITY\s+STATUS\s+DEADLINE \(UTC\)\s+LEFT\s+TIER\s+AT DEADLINE$/);
    expect(row).toContain(ROLLBACK_ID);
    expect(row).toContain('customer-support');
    expect(row).toContain('awaiting_approval');
    expect(row).toContain(deadline.slice(0, 19).replace('T', ' '));
    expect(row).toMatch(/4m (29|30)s left/);
    expect(row).toMatch(/\b2\s+roll back to v1\.9\.0$/);
    expect(r.code ?? 0).toBe(0);
  });

  it('monitors start sends interval_s and prints the workflow id', async () => {
    reply = (req) => ({
      status: 201,
      body: {
        prompt: 'customer-support',
        workflow_id: 'monitor/customer-support',
        status: 'running',
        interval_s: (req.body as { interval_s: number }).interval_s,
        checks: 0,
        last_check_at: null,
        last_verdict: null,
        last_action: null,
        created: true,
      },
    });
    const r = await cli(['monitors', 'start', 'customer-support', '--interval', '15']);

    expect(requests[0]!.method).toBe('POST');
    expect(requests[0]!.url).toBe('/api/monitors');
    expect(requests[0]!.body).toEqual({ prompt: 'customer-support', interval_s: 15 });
    expect(r.out).toBe('monitor customer-support started: monitor/customer-support, every 15s\n');
  });

  it('monitors show prints the last verdict and the open rollback', async () => {
    reply = () => ({
      status: 200,
      body: {
        prompt: 'customer-support',
        workflow_id: 'monitor/customer-support',
        status: 'running',
        interval_s: 60,
        checks: 12,
        last_check_at: '2025-11-25T21:53:00.000Z',
        last_verdict: { kind: 'breached', summary: 'error rate 7.00 % > 5 % over 300 s (400 requests)' },
        last_action: 'open_incident',
        open_rollback_id: ROLLBACK_ID,
      },
    });
    const r = await cli(['monitors', 'show', 'customer-support']);

    expect(requests[0]!.url).toBe('/api/monitors/customer-support');
    expect(r.out).toContain('last check     2025-11-25 21:53:00');
    expect(r.out).toContain('last verdict   breached: error rate 7.00 % > 5 % over 300 s (400 requests)');
    expect(r.out).toContain('last action    open_incident');
    expect(r.out).toContain(`open rollback  ${ROLLBACK_ID}`);
  });

  it('deploy --strategy canary prints the deployment id, status URL and workflow id', async () => {
    reply = () => ({
      status: 202,
      body: {
        deployment_id: 'dep-20251125-215400-xyz',
        prompt: 'customer-support',
        version: 'v2.1.0',
        strategy: 'canary',
        status: 'rolling_out',
        from_version: 'v1.9.0',
        status_url: 'http://localhost:8000/api/deployments/dep-20251125-215400-xyz',
        workflow_id: 'deploy/customer-support/dep-20251125-215400-xyz',
        monitor: { workflow_id: 'monitor/customer-support' },
      },
    });
    const r = await cli(['deploy', 'customer-support', 'v2.1.0', '--strategy', 'canary']);

    expect(requests[0]!.body).toEqual({ version: 'v2.1.0', strategy: 'canary' });
    expect(r.out).toContain('deployment dep-20251125-215400-xyz rolling_out: customer-support v1.9.0 → v2.1.0 (canary)');
    expect(r.out).toContain('http://localhost:8000/api/deployments/dep-20251125-215400-xyz');
    expect(r.out).toContain('deploy/customer-support/dep-20251125-215400-xyz');
  });

  it('metrics ingest POSTs the events of a file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-cli-'));
    const file = path.join(dir, 'events.json');
    const events = [{ prompt: 'customer-support', version: 'v2.0.0', ok: false, latency_ms: 120 }];
    fs.writeFileSync(file, JSON.stringify({ events }));
    try {
      reply = () => ({ status: 202, body: { accepted: 1 } });
      const r = await cli(['metrics', 'ingest', file]);

      expect(requests[0]!.method).toBe('POST');
      expect(requests[0]!.url).toBe('/api/metrics');
      expect(requests[0]!.body).toEqual({ events });
      expect(r.out).toBe('accepted 1 of 1 events\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the URL and suggests npm start when the API is not running, exit 2', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));

    const r = await cli(['prompts', 'list'], url);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`cannot reach the promptback API at ${url} (connection refused)`);
    expect(r.err).toContain('npm start');
  });
});
