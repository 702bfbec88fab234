/**
 * The worker process's preload (src/main/workflow-vm.cjs): calls into a vm context run without the per-call watchdog
 * thread, in the process and in its worker threads (where the SDK runs workflows); WORKFLOW_DEADLOCK_WATCHDOG=on
 * keeps the watchdog. Observed the way it matters: a call that outlasts its `timeout` is, or is not, cut off.
 */
import { execFileSync, spawnSync } from 'node:child_process';
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
  env = { WORKFLOW_STALL_EXIT_S: '0', ...env };
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
    expect(run(true, { WORKFLOW_STALL_EXIT_S: '30' })).toEqual({
      main: 'ran',
      thread: 'ran',
      mark: 'no per-call watchdog; a workflow thread stuck over 30 s stops the worker',
    });
  });

  it('a call stuck in a worker thread past WORKFLOW_STALL_EXIT_S stops the process, saying why; 0 turns that off', () => {
    // A thread whose call into a vm context runs 4 s; the process would print "survived" after 5 s.
    const stuck = `
      const { Worker } = require('node:worker_threads');
      new Worker('const vm = require("node:vm"); const ctx = vm.createContext({});' +
        'new vm.Script("const end = Date.now() + 4000; while (Date.now() < end) {}").runInContext(ctx, { timeout: 5000 });', { eval: true });
      setTimeout(() => console.log('survived'), 5000);
    `;
    const go = (stallS: string) =>
      spawnSync(process.execPath, ['--require', PRELOAD, '-e', stuck], {
        env: { ...process.env, WORKFLOW_DEADLOCK_WATCHDOG: '', WORKFLOW_STALL_EXIT_S: stallS },
        encoding: 'utf8',
        timeout: 20_000,
      });
    const stopped = go('1');
    expect(stopped.status).toBe(70);
    expect(stopped.stdout).not.toContain('survived');
    expect(stopped.stderr).toContain('a workflow is stuck in a synchronous loop');
    const off = go('0');
    expect(off.status).toBe(0);
    expect(off.stdout).toContain('survived');
  });

  it('WORKFLOW_DEADLOCK_WATCHDOG=on keeps the watchdog, and says so', () => {
    expect(run(true, { WORKFLOW_DEADLOCK_WATCHDOG: 'on' })).toEqual({
      main: 'cut-off',
      thread: 'cut-off',
      mark: 'per-call watchdog (WORKFLOW_DEADLOCK_WATCHDOG=on)',
    });
  });
});
