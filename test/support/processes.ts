import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { inject } from 'vitest';
import { freePort } from './ports';

const ROOT = path.resolve(__dirname, '../..');

export interface Proc {
  child: ChildProcess;
  /** The last lines it wrote to stderr/stdout (shown when a test fails). */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** `env` values override the test process's; an undefined one removes the variable. */
function start(entry: 'api' | 'worker', env: Record<string, string | undefined>): Proc {
  const full: Record<string, string | undefined> = { ...process.env, WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'), ...env };
  // node itself (not the tsx wrapper), so that a signal reaches this process and not a parent of it.
  // As `npm run worker` starts it: the workflow-vm preload (src/main/workflow-vm.cjs) in the worker process.
  const preload = entry === 'worker' ? ['--require', path.join(ROOT, 'src/main/workflow-vm.cjs')] : [];
  const child = spawn(process.execPath, [...preload, '--import', 'tsx', path.join(ROOT, `src/main/${entry}.ts`)], {
    cwd: ROOT,
    env: Object.fromEntries(Object.entries(full).filter((e): e is [string, string] => e[1] !== undefined)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (b: Buffer) => {
    lines.push(b.toString());
    if (lines.length > 100) lines.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => lines.join(''),
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
}

/** `npm run api` as its own OS process on a free loopback port; resolves once /readyz answers 200. */
export async function spawnApi(env: Record<string, string>, port?: number): Promise<Proc & { url: string; port: number }> {
  const p = port ?? (await freePort());
  const proc = start('api', { ...env, HOST: '127.0.0.1', PORT: String(p) });
  const url = `http://127.0.0.1:${p}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`api exited with ${proc.child.exitCode}:\n${proc.output()}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) return { ...proc, url, port: p };
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await proc.kill();
      throw new Error(`api did not become ready at ${url}:\n${proc.output()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `npm run worker` as its own OS process (prebuilt workflow bundle: up in about a second). */
export function spawnWorker(env: Record<string, string | undefined>): Proc {
  // Two workers on one host need two metrics ports: any free one unless the test names it.
  return start('worker', { WORKER_METRICS_PORT: '0', ...env });
}
