/** Monitors: the workflows that judge each prompt's active version by the trigger table. */
import type { Command } from 'commander';
import type { MonitorView } from '../api';
import { run, type Ctx, type Io } from '../context';
import { cell, fields, table, when } from '../format';
import { positiveInt } from '../input';

export function registerMonitors(program: Command, io: Io): void {
  const monitors = program.command('monitors').description('start, stop and inspect the monitors that watch prompts');
  monitors
    .command('list')
    .description('all monitors with their last check')
    .action((_o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const data = await c.api.listMonitors();
        c.emit(data, () =>
          c.print(
            data.monitors.length === 0
              ? 'no monitors'
              : table(
                  ['PROMPT', 'STATUS', 'INTERVAL', 'CHECKS', 'LAST CHECK (UTC)', 'LAST ACTION', 'OPEN ROLLBACK', 'LAST VERDICT'],
                  data.monitors.map((m) => [
                    m.prompt,
                    m.status,
                    `${m.interval_s}s`,
                    m.checks,
                    when(m.last_check_at),
                    m.last_action,
                    m.open_rollback_id,
                    m.last_verdict && `${m.last_verdict.kind}: ${m.last_verdict.summary}`,
                  ]),
                ),
          ),
        );
      }),
    );
  monitors
    .command('show')
    .description('one monitor: its last check, verdict and open incident')
    .argument('<prompt>')
    .action((prompt: string, _o, cmd: Command) =>
      run(
        io,
        cmd,
        async (c) => {
          const m = await c.api.getMonitor(prompt);
          c.emit(m, () => showMonitor(c, m));
        },
        { prompt },
      ),
    );
  monitors
    .command('start')
    .description('start watching a prompt (a no-op if its monitor runs already)')
    .argument('<prompt>')
    .option('--interval <seconds>', 'seconds between checks (API default applies if omitted)', positiveInt)
    .action((prompt: string, o: { interval?: number }, cmd: Command) =>
      run(
        io,
        cmd,
        async (c) => {
          const m = await c.api.startMonitor({ prompt, ...(o.interval !== undefined ? { interval_s: o.interval } : {}) });
          c.emit(m, () =>
            c.print(
              `monitor ${prompt} ${m.created === false ? 'already running' : 'started'}: ${m.workflow_id}, every ${cell(m.interval_s)}s`,
            ),
          );
        },
        { prompt },
      ),
    );
  monitors
    .command('stop')
    .description('stop watching a prompt')
    .argument('<prompt>')
    .action((prompt: string, _o, cmd: Command) =>
      run(
        io,
        cmd,
        async (c) => {
          const m = await c.api.stopMonitor(prompt);
          c.emit(m, () => c.print(`monitor ${prompt} ${m?.status ?? 'stopping'}`));
        },
        { prompt },
      ),
    );
}

function showMonitor(c: Ctx, m: MonitorView): void {
  const v = m.last_verdict;
  c.print(
    fields([
      ['monitor', `${m.prompt}  ${m.status}`],
      ['workflow', m.workflow_id],
      ['interval', `${m.interval_s}s`],
      ['active version', m.active_version],
      ['checks', m.checks],
      ['last check', m.last_check_at && when(m.last_check_at)],
      ['last verdict', v && `${v.kind}: ${v.summary}`],
      ['last action', m.last_action],
      ['open rollback', m.open_rollback_id],
      ['incident', m.open_incident_url],
      ['started', m.started_at && `${when(m.started_at)} by ${cell(m.started_by)}`],
      ['stopped by', m.stopped_by],
      ['web ui', m.web_ui_url],
    ]),
  );
}
