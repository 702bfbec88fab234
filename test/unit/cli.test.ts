import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildProgram } from '../../src/cli/index';

/** A stand-in for the promptback API: records each request and answers with whatever `reply` says. */
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
      res.writeHead(r.status, { 'content-type': type }).end(JSON.stringify(r.body));
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
