/** Rollbacks: start one (and follow it), list, show, decide, steer a gradual one, read its post-mortem; approvals. */
import { Option, type Command } from 'commander';
import { ROLLBACK_STATUSES, type RollbackStatus } from '../../domain/rollback';
import type { RollbackDetail } from '../api';
import { run, type Ctx, type Io } from '../context';
import { cell, fields, gradualFields, metricValue, table, timeLeft, timelineLine, when } from '../format';
import { positiveInt } from '../input';
import { follow } from '../progress';

export function registerRollbacks(program: Command, io: Io): void {
  program
    .command('rollback')
    .description('roll a prompt back (to its last known-good version unless --to names one)')
    .argument('<prompt>')
    .option('--to <version>', 'target version')
    .option('--reason <text>', 'why, for the timeline and the post-mortem')
    .addOption(new Option('--mode <mode>', 'how to switch (API default: immediate)').choices(['immediate', 'gradual']))
    .option('--wait', 'follow the rollback with live progress until it ends; exit 0 only if it completed and recovery was verified')
    .action((prompt: string, o: { to?: string; reason?: string; mode?: string; wait?: boolean }, cmd: Command) =>
      run(
        io,
        cmd,
        async (c) => {
          const r = await c.api.startRollback({
            prompt,
            ...(o.to !== undefined ? { target_version: o.to } : {}),
            ...(o.reason !== undefined ? { reason: o.reason } : {}),
            ...(o.mode !== undefined ? { mode: o.mode as 'immediate' | 'gradual' } : {}),
          });
          // With --wait --json, the one JSON document printed is the final view.
          if (!(o.wait && c.json)) {
            c.emit(r, () => {
              c.print(`rollback ${r.rollback_id} ${r.status}`);
              c.print(
                fields([
                  ['  status', r.status_url],
                  ['  web ui', r.web_ui_url],
                ]),
              );
            });
          }
          return o.wait ? follow(c, r.rollback_id) : 0;
        },
        { prompt, ...(o.to !== undefined ? { version: o.to } : {}) },
      ),
    );

  const rollbacks = program.command('rollbacks').description('list, inspect and decide rollbacks');
  rollbacks
    .command('list')
    .description('rollbacks, newest first')
    .option('--prompt <prompt>', 'only this prompt')
    .addOption(new Option('--status <status>', 'only this status').choices(ROLLBACK_STATUSES))
    .option('--limit <n>', 'at most n', positiveInt)
    .action((o: { prompt?: string; status?: RollbackStatus; limit?: number }, cmd: Command) =>
      run(io, cmd, async (c) => {
        const data = await c.api.listRollbacks(o);
        c.emit(data, () =>
          c.print(
            data.rollbacks.length === 0
              ? 'no rollbacks'
              : table(
                  ['ROLLBACK', 'PROMPT', 'FROM', 'TO', 'STATUS', 'OUTCOME', 'SEVERITY', 'REQUESTED (UTC)', 'BY'],
                  data.rollbacks.map((r) => [
                    r.rollback_id,
                    r.prompt,
                    r.from_version,
                    r.to_version,
                    r.status,
                    r.outcome,
                    r.severity,
                    when(r.requested_at),
                    r.requested_by,
                  ]),
                ),
          ),
        );
      }),
    );
  rollbacks
    .command('show')
    .description('one rollback with its timeline')
    .argument('<id>')
    .action((id: string, _o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const r = await c.api.getRollback(id);
        c.emit(r, () => showRollback(c, r));
      }),
    );
  for (const [decision, done] of [
    ['approve', 'approved'],
    ['reject', 'rejected'],
  ] as const) {
    rollbacks
      .command(decision)
      .description(`${decision} a rollback that is awaiting approval`)
      .argument('<id>')
      .option('--comment <text>', 'recorded with the decision')
      .action((id: string, o: { comment?: string }, cmd: Command) =>
        run(io, cmd, async (c) => {
          const r = await c.api.decide(id, decision, o);
          c.emit(r, () => c.print(`rollback ${id} ${done}${r?.status ? `; now ${r.status}` : ''}`));
        }),
      );
  }
  for (const [control, description] of [
    ['pause', 'pause a gradual rollback at its current stage'],
    ['resume', 'resume a paused gradual rollback'],
    ['abort', 'abort a gradual rollback: all traffic goes back to the version it was rolling back from'],
  ] as const) {
    rollbacks
      .command(control)
      .description(description)
      .argument('<id>')
      .action((id: string, _o, cmd: Command) =>
        run(io, cmd, async (c) => {
          const r = await c.api.control(id, control);
          c.emit(r, () => {
            c.print(`rollback ${r.rollback_id} ${r.status}: ${r.prompt} ${cell(r.from_version)} → ${cell(r.to_version)}`);
            if (r.gradual) c.print(fields(gradualFields(r.gradual, r.from_version, '  ')));
          });
        }),
      );
  }
  rollbacks
    .command('postmortem')
    .description('the post-mortem of a rollback, as Markdown')
    .argument('<id>')
    .action((id: string, _o, cmd: Command) =>
      run(io, cmd, async (c) => {
        // The API answers text/markdown; `--json` prints it as a JSON string.
        const doc = await c.api.postMortem(id);
        c.emit(doc, () => c.write(doc.endsWith('\n') ? doc : `${doc}\n`));
      }),
    );

  program
    .command('approvals')
    .description('rollbacks waiting for a decision, their deadlines and what happens at the deadline')
    .action((_o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const data = await c.api.approvals();
        c.emit(data, () => {
          if (data.approvals.length === 0) return c.print('no pending approvals');
          const now = Date.now();
          c.print(
            table(
              ['ROLLBACK', 'PROMPT', 'SEVERITY', 'STATUS', 'DEADLINE (UTC)', 'LEFT', 'TIER', 'AT DEADLINE'],
              data.approvals.map((a) => [
                a.rollback_id,
                a.prompt,
                a.severity,
                a.status,
                when(a.deadline),
                timeLeft(a.deadline, now),
                a.tier,
                a.default_action,
              ]),
            ),
          );
          c.print('\ndecide with: promptback rollbacks approve|reject <rollback> [--comment <text>]');
        });
      }),
    );
}

function showRollback(c: Ctx, r: RollbackDetail): void {
  const t = r.trigger;
  const v = r.verification;
  const checks = v?.checks ?? [];
  c.print(
    fields([
      ['rollback', `${r.rollback_id}  ${r.status}${r.outcome && r.outcome !== r.status ? ` (${r.outcome})` : ''}`],
      ['prompt', `${r.prompt}  ${cell(r.from_version)} → ${cell(r.to_version)}`],
      ['mode', r.mode],
      ['severity', r.severity],
      ['reason', r.reason],
      [
        'trigger',
        t &&
          `${t.metric} observed ${metricValue(t.metric, t.observed)} vs threshold ${metricValue(t.metric, t.threshold)} over ${t.window_s}s (${t.samples} samples)`,
      ],
      ['requested', `${when(r.requested_at)} by ${r.requested_by}`],
      ['decided by', r.decided_by],
      ['deadline', r.deadline && when(r.deadline)],
      ['verification', v && `${v.result}${checks.length > 0 ? `, ${checks.length} checks` : ''}`],
      ...(r.gradual ? gradualFields(r.gradual, r.from_version) : []),
    ]),
  );
  if (checks.length > 0) {
    c.print(
      `\n${table(
        ['CHECK', 'VERDICT', 'METRIC', 'OBSERVED', 'THRESHOLD', 'SAMPLES'],
        checks.map((k, i) => [i + 1, k.kind, k.metric, metricValue(k.metric, k.observed), metricValue(k.metric, k.threshold), k.samples]),
      )}`,
    );
  }
  if (r.timeline.length > 0) c.print(['', 'timeline (UTC):', ...r.timeline.map((e) => `  ${timelineLine(e)}`)].join('\n'));
}
