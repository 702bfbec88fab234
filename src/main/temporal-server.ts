import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../workflows/messages';

const PROJECT_ROOT = path.resolve(__dirname, '../..');

const onPath = (name: string): string | undefined =>
  (process.env.PATH ?? '')
    .split(path.delimiter)
    .map((dir) => path.join(dir, name))
    .find((p) => {
      try {
        fs.accessSync(p, fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });

/** TEMPORAL_CLI_PATH, else the one `npm run setup` installed in .tools/, else `temporal` on PATH. */
export function findTemporalCli(explicit?: string): string {
  const candidates = [explicit, path.join(PROJECT_ROOT, '.tools/bin/temporal'), onPath('temporal')];
  const found = candidates.find((c): c is string => c !== undefined && fs.existsSync(c));
  if (!found) throw new Error('Temporal CLI not found: run `npm run setup`, or set TEMPORAL_CLI_PATH');
  return found;
}

/** The time-skipping test server `npm run setup` installed (TEMPORAL_TEST_SERVER_PATH overrides). */
export function findTestServer(): string {
  const candidates = [
    process.env.TEMPORAL_TEST_SERVER_PATH,
    path.join(PROJECT_ROOT, '.tools/bin/temporal-test-server'),
    onPath('temporal-test-server'),
  ];
  const found = candidates.find((c): c is string => c !== undefined && fs.existsSync(c));
  if (!found) throw new Error('Temporal test server not found: run `npm run setup`');
  return found;
}

export interface DevServerOptions {
  cli: string;
  port: number;
  uiPort: number;
  /** Where the dev server keeps its state; omitted = in memory. */
  dbFile?: string;
  /** SQLite pragmas of that state file (default: FILE_PRAGMAS). */
  sqlitePragmas?: Record<string, string>;
  namespace: string;
  /** More namespaces to create at start (tests isolate their workflow ids this way). */
  extraNamespaces?: string[];
  headless?: boolean;
  onOutput?: (line: string) => void;
  /** Server dynamic config over the defaults below (e.g. `{ 'system.enableActivityEagerExecution': false }`). */
  dynamicConfig?: Record<string, string | number | boolean>;
  /**
   * Run in its own process group, so a Ctrl-C in the terminal reaches promptback only and the shutdown order
   * stays API → worker → Temporal (otherwise the server dies first and the worker's shutdown waits on retries).
   * The server is still stopped when this process exits.
   */
  ownProcessGroup?: boolean;
}

/**
 * Eager activities: the server hands an activity the workflow just scheduled straight back to the worker that
 * completed the task, instead of queueing it for the next poll. On the switch path (monitor check → rollback →
 * switch) that is one poll round trip fewer per activity. A cluster needs the same setting in its own config.
 */
const DEV_DYNAMIC_CONFIG: Record<string, string | number | boolean> = { 'system.enableActivityEagerExecution': true };

/**
 * The state file in WAL mode with synchronous=NORMAL: one append per commit instead of a rollback journal and several
 * fsyncs. Every workflow task, timer and activity of every monitor is a commit there, so with the default journal a
 * slow fsync on a busy disk holds up the next task of every workflow, the switch path included.
 */
export const FILE_PRAGMAS: Readonly<Record<string, string>> = { journal_mode: 'wal', synchronous: 'normal' };

/**
 * Runs the server in its own process group and stops it when promptback goes, however it goes: the server's stdin
 * is not used, so the shell holds our pipe instead and stops the server when the pipe closes — also when promptback
 * was killed outright (tsx answers a Ctrl-C the child does not acknowledge at once with SIGKILL, and no exit handler
 * runs then). A SIGTERM to the shell stops the server too.
 */
const STOPS_WITH_PARENT = [
  'exec 3<&0',
  '"$@" </dev/null 3<&- & pid=$!',
  '{ cat <&3 >/dev/null; kill $pid 2>/dev/null; } & watcher=$!',
  'exec 3<&-',
  "trap 'kill $pid 2>/dev/null' TERM INT",
  'wait $pid; st=$?',
  'if [ $st -gt 128 ]; then wait $pid; st=$?; fi',
  'kill $watcher 2>/dev/null',
  'exit $st',
].join('\n');

export interface DevServer {
  address: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `temporal server start-dev` with promptback's search attributes registered and waits until its
 * frontend answers.
 */
export async function startDevServer(o: DevServerOptions): Promise<DevServer> {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(o.port), '--namespace', o.namespace, '--log-level', 'warn'];
  for (const ns of o.extraNamespaces ?? []) args.push('--namespace', ns);
  if (o.headless) args.push('--headless');
  else args.push('--ui-port', String(o.uiPort));
  if (o.dbFile) {
    fs.mkdirSync(path.dirname(o.dbFile), { recursive: true });
    args.push('--db-filename', o.dbFile);
    for (const [k, v] of Object.entries(o.sqlitePragmas ?? FILE_PRAGMAS)) args.push('--sqlite-pragma', `${k}=${v}`);
  }
  for (const key of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${key.name}=Keyword`);
  for (const [k, v] of Object.entries({ ...DEV_DYNAMIC_CONFIG, ...o.dynamicConfig }))
    args.push('--dynamic-config-value', `${k}=${JSON.stringify(v)}`);
  const child = o.ownProcessGroup
    ? spawn('sh', ['-c', STOPS_WITH_PARENT, 'sh', o.cli, ...args], { stdio: ['pipe', 'pipe', 'pipe'], detached: true })
    : spawn(o.cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const forward = (buf: Buffer) =>
    buf
      .toString()
      .split('\n')
      .filter(Boolean)
      .forEach((l) => o.onOutput?.(l));
  child.stdout?.on('data', forward);
  child.stderr?.on('data', forward);
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code;
      resolve();
    }),
  );
  const address = `127.0.0.1:${o.port}`;
  const stop = async (): Promise<void> => {
    if (exited !== undefined) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exit;
    clearTimeout(t);
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== undefined)
      throw new Error(`temporal dev server exited with code ${String(exited)} (is port ${o.port} or ${o.uiPort} in use?)`);
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      await conn.workflowService.describeNamespace({ namespace: o.namespace });
      await conn.close();
      return { address, process: child, stop };
    } catch (e) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`temporal dev server did not become ready at ${address}: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
