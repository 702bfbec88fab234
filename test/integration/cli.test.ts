import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitFor, type Stack } from '../support/stack';

/**
 * The real CLI (bin/promptback, a separate process) against the real stack (API, worker, Temporal, SQLite), with
 * auth on: what a person at a terminal, or a script, sees — stdout, stderr, exit code.
 */
const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/promptback');
const ADMIN = 'tok-admin-cli-test';
const pkgVersion = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let stack: Stack;
let home: string;

interface Result {
  code: number;
  out: string;
  err: string;
}

/** Runs `promptback args…` with a fresh HOME (no stray config file) and the given environment. */
function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Result> {
  const base: Record<string, string | undefined> = { ...process.env, HOME: home, XDG_CONFIG_HOME: undefined, PROMPTBACK_CONFIG: undefined };
  const full = { PROMPTBACK_URL: stack.url, PROMPTBACK_TOKEN: ADMIN, ...env };
  for (const [k, v] of Object.entries(full)) base[k] = v;
  const clean = Object.fromEntries(Object.entries(base).filter(([, v]) => v !== undefined)) as Record<string, string>;
  return new Promise((resolve) => {
    execFile(BIN, args, { env: clean, cwd: home, timeout: 90_000 }, (e, out, err) => {
      const code = e ? (typeof e.code === 'number' ? e.code : 1) : 0;
      resolve({ code, out, err });
    });
  });
}

async function api(method: string, p: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${stack.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${p} → ${res.status} ${text}`);
  return text ? (JSON.parse(text) as unknown) : null;
}

/** A prompt with two versions, `old` known-good and serving before `current` was deployed. */
async function seed(prompt: string): Promise<void> {
  await api('PUT', `/api/prompts/${prompt}`, { description: `${prompt} assistant` });
  await api('POST', `/api/prompts/${prompt}/versions`, { version: 'v1', template: 'Be helpful.' });
  await api('POST', `/api/prompts/${prompt}/deploy`, { version: 'v1' });
  await api('POST', `/api/prompts/${prompt}/versions`, { version: 'v2', template: 'Be brief.' });
  await api('POST', `/api/prompts/${prompt}/deploy`, { version: 'v2' });
}

async function traffic(prompt: string, version: string, n: number, errors: number): Promise<void> {
  const events = Array.from({ length: n }, (_, i) => ({ prompt, version, ok: i >= errors, latency_ms: 1000 + 37 * i }));
  await api('POST', '/api/metrics', { events });
}

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'promptback-cli-home-'));
  stack = await startStack({ namespace: 'it-cli', env: { AUTH_TOKENS: `ops:admin:${ADMIN},eve:viewer:tok-viewer-cli-test` } });
  await seed('customer-support');
});
afterAll(async () => {
  await stack?.stop();
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

describe('promptback CLI against a running promptback', () => {
  it('--version prints the version of package.json', async () => {
    const r = await cli(['--version']);
    expect(r).toEqual({ code: 0, out: `${pkgVersion}\n`, err: '' });
  });

  it('--json on every read command prints JSON that parses, equal to what the API answers', async () => {
    await traffic('customer-support', 'v2', 20, 0);
    const cases: [string[], string][] = [
      [['prompts', 'list'], '/api/prompts'],
      [['prompts', 'show', 'customer-support'], '/api/prompts/customer-support'],
      [['resolve', 'customer-support', '--key', 'k1'], '/api/prompts/customer-support/resolve?key=k1'],
      [['rollbacks', 'list'], '/api/rollbacks'],
      [['approvals'], '/api/approvals'],
      [['monitors', 'list'], '/api/monitors'],
    ];
    // The monitor checks every second meanwhile: what its next check rewrites is compared by presence, not value.
    const settled = (body: unknown): unknown =>
      JSON.parse(JSON.stringify(body), (k: string, v: unknown) =>
        ['checks', 'last_check_at', 'updated_at', 'last_verdict', 'last_action'].includes(k) ? typeof v : v,
      );
    for (const [args, route] of cases) {
      const r = await cli(['--json', ...args]);
      expect(r.code, `${args.join(' ')}: ${r.err}`).toBe(0);
      const answer = await api('GET', route);
      const [got, want] = route === '/api/monitors' ? [settled(JSON.parse(r.out)), settled(answer)] : [JSON.parse(r.out), answer];
      expect(got, args.join(' ')).toEqual(want);
    }
    // Windows move with the clock: compare what does not.
    const m = await cli(['metrics', 'customer-support', '--json']);
    expect(m.code).toBe(0);
    expect(JSON.parse(m.out)).toMatchObject({ requests: 20, errors: 0, error_rate: 0 });
    for (const args of [
      ['config', 'show'],
      ['completion', 'bash'],
    ]) {
      const r = await cli(['--json', ...args]);
      expect(r.code, args.join(' ')).toBe(0);
      expect(() => JSON.parse(r.out) as unknown, args.join(' ')).not.toThrow();
    }
  });

  it('tables show numbers rounded for people: 3.3 %, 1.2 s, never a long float', async () => {
    await seed('billing');
    // 30 requests, 1 error: 0.0333… as a fraction; latencies 1000 ms + 37 ms steps.
    await traffic('billing', 'v2', 30, 1);
    const r = await cli(['metrics', 'billing']);
    expect(r.code, r.err).toBe(0);
    const current = r.out.split('\n').find((l) => l.startsWith('current'));
    expect(current).toMatch(/^current\s+v2\s+30\s+1\s+3\.3 %\s+[\d.]+ s\s+[\d.]+ s\s+[\d.]+ s\s+-$/);
    expect(r.out).not.toMatch(/\d\.\d{4,}/);
  });

  it('a mistyped prompt name: the 404, then "did you mean …?" with the closest prompt, exit 1', async () => {
    const r = await cli(['prompts', 'show', 'custmer-suport']);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^error: Unknown prompt \(404\): .*custmer-suport/);
    expect(r.err).toContain('did you mean customer-support?\n');

    const far = await cli(['rollback', 'zzzzzz']);
    expect(far.code).toBe(1);
    expect(far.err).not.toContain('did you mean');

    // A mistyped version of a prompt that exists: its closest versions.
    const version = await cli(['rollback', 'customer-support', '--to', 'v1.0']);
    expect(version.code).toBe(1);
    expect(version.err).toMatch(/^error: Unknown version \(404\): /);
    expect(version.err).toContain('did you mean v1?\n');
  });

  it('URL and token from the config file; the environment overrides the file, a flag overrides both; the token is never printed', async () => {
    const file = path.join(home, '.config/promptback/config.json');
    const unset = { PROMPTBACK_URL: undefined, PROMPTBACK_TOKEN: undefined };

    expect((await cli(['config', 'set', 'url', stack.url], unset)).code).toBe(0);
    const set = await cli(['config', 'set', 'token', ADMIN], unset);
    expect(set.code).toBe(0);
    expect(set.out).toBe(`token saved in ${file}\n`);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ url: stack.url, token: ADMIN });

    // Only the file: the CLI reaches the API, authenticated (prompts list needs a viewer token).
    const listed = await cli(['prompts', 'list'], unset);
    expect(listed.code, listed.err).toBe(0);
    expect(listed.out).toMatch(/^PROMPT\s+ACTIVE/);
    expect(listed.out).toContain('customer-support');

    const shown = await cli(['config', 'show'], unset);
    expect(shown.out).toContain(`url    ${stack.url} (from ${file})`);
    expect(shown.out).toContain(`token  set (from ${file})`);
    const shownJson = await cli(['--json', 'config', 'show'], unset);
    for (const o of [shown.out, shownJson.out, shown.err]) expect(o).not.toContain(ADMIN);

    // The environment beats the file: a dead URL there is the one used.
    const dead = 'http://127.0.0.1:9';
    const viaEnv = await cli(['prompts', 'list'], { ...unset, PROMPTBACK_URL: dead });
    expect(viaEnv.code).toBe(2);
    expect(viaEnv.err).toContain(`cannot reach the promptback API at ${dead}`);
    // A flag beats the environment.
    const viaFlag = await cli(['--url', stack.url, 'prompts', 'list'], { ...unset, PROMPTBACK_URL: dead });
    expect(viaFlag.code, viaFlag.err).toBe(0);
    // A wrong token in the environment beats the right one in the file: 401.
    const badToken = await cli(['prompts', 'list'], { ...unset, PROMPTBACK_TOKEN: 'wrong' });
    expect(badToken.code).toBe(1);
    expect(badToken.err).toMatch(/\(401\)/);
    expect(badToken.err).not.toContain('wrong');

    expect((await cli(['config', 'unset', 'token'], unset)).code).toBe(0);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ url: stack.url });
    fs.rmSync(file);
  });

  it('completion bash prints a script bash accepts, completing subcommands and option values', async () => {
    const r = await cli(['completion', 'bash']);
    expect(r.code).toBe(0);
    const script = path.join(home, 'completion.bash');
    fs.writeFileSync(script, r.out);
    const complete = (words: string[]): Promise<string> =>
      new Promise((resolve, reject) => {
        const line = `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _promptback; echo "\${COMPREPLY[*]}"`;
        execFile('bash', ['-c', line], (e, out, err) => (e ? reject(new Error(err)) : resolve(out.trim())));
      });
    expect(await complete(['promptback', 'rollbacks', ''])).toBe('list show approve reject pause resume abort postmortem --help');
    expect(await complete(['promptback', '--json', 'roll'])).toBe('rollback rollbacks');
    expect(await complete(['promptback', 'rollback', 'customer-support', '--mode', ''])).toBe('immediate gradual');
    expect(await complete(['promptback', 'completion', ''])).toBe('bash zsh --help');

    const zsh = await cli(['completion', 'zsh']);
    expect(zsh.code).toBe(0);
    expect(zsh.out).toMatch(/^#compdef promptback\n/);
    expect(zsh.out).toContain("'rollbacks') entries=('list:rollbacks, newest first'");
  });

  it('rollback --wait: progress one line per change (check i of n), exit 0 when recovery is verified', async () => {
    await seed('faq');
    const child = spawn(BIN, ['rollback', 'faq', '--to', 'v1', '--wait'], {
      env: { ...process.env, HOME: home, PROMPTBACK_URL: stack.url, PROMPTBACK_TOKEN: ADMIN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? 1)));
    let done = false;
    void exited.then(() => (done = true));
    // Healthy traffic on the target while verification runs (1-s checks for 10 s in the test stack).
    await waitFor('the switch', () => Promise.resolve(out.includes(' switched ') ? true : undefined), 60_000);
    while (!done) {
      await traffic('faq', 'v1', 10, 0);
      await new Promise((r) => setTimeout(r, 500));
    }
    const code = await exited;
    expect(code, `${out}\n${err}`).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^rollback \S+ rolling_back$/);
    const progress = lines.filter((l) => l.startsWith('… verifying: check '));
    // Polled once a second against 1-s checks: most checks are seen, each exactly once.
    expect(progress.length, out).toBeGreaterThanOrEqual(3);
    // One line per change: each check once, in order, with the time left.
    expect(new Set(progress.map((l) => /check (\d+)\/10/.exec(l)?.[1])).size).toBe(progress.length);
    expect(progress.at(-1)).toMatch(/^… verifying: check \d+\/10, \d+s left$/);
    expect(lines.at(-1)).toMatch(/^rollback \S+ completed: faq v2 → v1$/);
    expect(out).not.toContain('\r');
  });

  it('rollback --wait on a terminal redraws one progress line; exit 1 when recovery is unverified (no traffic)', async () => {
    await seed('search');
    // `script` gives the CLI a pseudo-terminal for stdout, as an operator's shell would.
    const cmd = `${BIN} rollback search --to v1 --wait; echo "exit=$?"`;
    const r = await new Promise<{ out: string }>((resolve) => {
      execFile(
        'script',
        ['-qec', cmd, '/dev/null'],
        { env: { ...process.env, HOME: home, PROMPTBACK_URL: stack.url, PROMPTBACK_TOKEN: ADMIN } },
        (_e, o) => resolve({ out: o }),
      );
    });
    expect(r.out).toMatch(/exit=1\r?\n?$/);
    // Redrawn in place: carriage return + erase line, the check counting up.
    const erase = '\r\x1b[2K';
    expect(r.out.split(erase).some((part) => /^… verifying: check \d+\/10, \d+s left/.test(part))).toBe(true);
    expect(r.out).toMatch(/rollback \S+ completed \(unverified\): search v2 → v1/);
  });
});
