/**
 * The worker process's preload (src/main/workflow-vm.cjs): calls into a vm context run without the per-call watchdog
 * thread, in the process and in its worker threads (where the SDK runs workflows); WORKFLOW_DEADLOCK_WATCHDOG=on
 * keeps the watchdog. Observed the way it matters: a call that outlasts its `timeout` is, or is not, cut off.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const PRELOAD = path.join(__dirname, '../../src/main/workflow-vm.cjs');

/** In the main thread and in a worker thread: a 150-ms busy call given a 20-ms timeout; prints how each ended. */
const SCRIPT = `
const vm = require('node:vm');
const { Worker } = require('node:worker_threads');
const probe = () => {
  const ctx = vm.createContext({}, { microtaskMode: 'afterEvaluate' });
  const script = new vm.Script('const end = Date.now() + 150; while (Date.now() < end) {} 42');
  try { return script.runInContext(ctx, { timeout: 20, displayErrors: true }) === 42 ? 'ran' : 'wrong'; }
  catch (e) { return /timed out/.test(String(e)) ? 'cut-off' : String(e); }
};
const mark = String(globalThis[Symbol.for('promptback.workflow-vm')] ?? 'none');
const w = new Worker('const { parentPort } = require("node:worker_threads"); const vm = require("node:vm");' +
  'parentPort.postMessage((' + probe.toString() + ')())', { eval: true });
w.once('message', (inThread) => { console.log(JSON.stringify({ main: probe(), thread: inThread, mark })); w.terminate(); });
`;

function run(preload: boolean, env: Record<string, string> = {}): { main: string; thread: string; mark: string } {
  const out = execFileSync(process.execPath, [...(preload ? ['--require', PRELOAD] : []), '-e', SCRIPT], {
    env: { ...process.env, WORKFLOW_DEADLOCK_WATCHDOG: '', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as { main: string; thread: string; mark: string };
}

describe('workflow-vm preload', () => {
  it('without it, a call into a vm context is cut off at its timeout (the per-call watchdog)', () => {
    expect(run(false)).toEqual({ main: 'cut-off', thread: 'cut-off', mark: 'none' });
  });

  it('with it, calls run without the watchdog, in the process and in its worker threads', () => {
    expect(run(true)).toEqual({ main: 'ran', thread: 'ran', mark: 'no per-call watchdog' });
  });

  it('WORKFLOW_DEADLOCK_WATCHDOG=on keeps the watchdog, and says so', () => {
    expect(run(true, { WORKFLOW_DEADLOCK_WATCHDOG: 'on' })).toEqual({
      main: 'cut-off',
      thread: 'cut-off',
      mark: 'per-call watchdog (WORKFLOW_DEADLOCK_WATCHDOG=on)',
    });
  });
});
