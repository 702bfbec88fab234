/** Metrics: a version's traffic next to its baseline, and sending events from a file. */
import type { Command } from 'commander';
import type { Window } from '../api';
import { run, type Io } from '../context';
import { ms, percent, score, table } from '../format';
import { positiveInt, readEvents } from '../input';

const windowRow = (label: string, w: Window): unknown[] => [
  label,
  w.version,
  w.requests,
  w.errors,
  percent(w.error_rate),
  ms(w.latency_ms?.p50),
  ms(w.latency_ms?.p95),
  ms(w.latency_ms?.p99),
  score(w.quality_mean),
];

export function registerMetrics(program: Command, io: Io): void {
  const metrics = program
    .command('metrics')
    .description('a prompt version’s traffic over a window, next to its baseline (last known-good version)')
    .argument('<prompt>')
    .option('--version <version>', 'version (default: the active one)')
    .option('--window <seconds>', 'window length in seconds', positiveInt, 300)
    .action((prompt: string, o: { version?: string; window: number }, cmd: Command) =>
      run(
        io,
        cmd,
        async (c) => {
          const m = await c.api.metrics(prompt, { version: o.version, window_s: o.window });
          c.emit(m, () => {
            const rows = [windowRow('current', m), ...(m.baseline ? [windowRow('baseline', m.baseline)] : [])];
            c.print(`${prompt}, last ${o.window}s`);
            c.print(table(['', 'VERSION', 'REQUESTS', 'ERRORS', 'ERROR RATE', 'P50', 'P95', 'P99', 'QUALITY'], rows));
            if (m.requests === 0) c.print('no requests in the window: inconclusive');
          });
        },
        { prompt, ...(o.version !== undefined ? { version: o.version } : {}) },
      ),
    );
  metrics
    .command('ingest')
    .description('send metric events from a JSON file ({"events": [...]}, - for stdin)')
    .argument('<file>')
    .action((file: string, _o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const body = readEvents(file);
        // The API validates each event and names the bad ones.
        const r = await c.api.ingest(body as Parameters<typeof c.api.ingest>[0]);
        c.emit(r, () => c.print(`accepted ${r.accepted} of ${body.events.length} events`));
      }),
    );
}
