/** Deploys: make a version serve traffic (at once or as a canary), follow and abort a canary. */
import { Option, type Command } from 'commander';
import type { DeploymentView, StageProgress } from '../api';
import { run, type Ctx, type Io } from '../context';
import { cell, fields, nextStep, table, when } from '../format';

export function registerDeployments(program: Command, io: Io): void {
  program
    .command('deploy')
    .description('make a version serve traffic')
    .argument('<prompt>')
    .argument('<version>')
    .addOption(new Option('--strategy <strategy>', 'how to switch (API default: immediate)').choices(['immediate', 'canary']))
    .action((prompt: string, version: string, o: { strategy?: string }, cmd: Command) =>
      run(
        io,
        cmd,
        async (c) => {
          const d = await c.api.deploy(prompt, { version, ...(o.strategy ? { strategy: o.strategy as 'immediate' | 'canary' } : {}) });
          c.emit(d, () => {
            c.print(
              `deployment ${d.deployment_id} ${cell(d.status)}: ${prompt} ${cell(d.from_version)} → ${version} (${cell(d.strategy)})`,
            );
            const monitor = d.monitor;
            c.print(
              fields([
                ['  status', d.status_url],
                ['  workflow', d.workflow_id],
                ['  monitor', monitor && ('error' in monitor ? monitor.error : monitor.workflow_id)],
              ]),
            );
            if (d.status === 'rolling_out') c.print(`follow it with: promptback deployments show ${d.deployment_id}`);
          });
        },
        { prompt, version },
      ),
    );
  const deployments = program.command('deployments').description('inspect and abort deployments (canary rollouts)');
  deployments
    .command('show')
    .description('one deployment: status, canary stage and judgements')
    .argument('<id>')
    .action((id: string, _o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const d = await c.api.getDeployment(id);
        c.emit(d, () => showDeployment(c, d));
      }),
    );
  deployments
    .command('abort')
    .description('abort a canary rollout: all traffic goes back to the version it started from')
    .argument('<id>')
    .action((id: string, _o, cmd: Command) =>
      run(io, cmd, async (c) => {
        const d = await c.api.abortDeployment(id);
        c.emit(d, () => {
          c.print(`deployment ${d.deployment_id} ${d.status}: ${d.prompt} ${d.version}`);
          const reason = (d.detail as DeploymentDetail | undefined)?.reason;
          if (reason) c.print(`  reason  ${reason}`);
        });
      }),
    );
}

/** What a deployment's `detail` holds (the document leaves it open): a canary's progress and judged stages, or why it ended. */
interface DeploymentDetail {
  reason?: string;
  error?: string;
  /** Canary: `percent` is the share on the new version. */
  progress?: StageProgress;
  stages?: { percent: number; at: string; judgement?: { outcome: string; reason: string } }[];
}

function showDeployment(c: Ctx, d: DeploymentView): void {
  const detail = (d.detail ?? {}) as DeploymentDetail;
  const p = detail.progress;
  c.print(
    fields([
      ['deployment', `${d.deployment_id}  ${d.status}`],
      ['prompt', `${d.prompt}  ${cell(d.from_version)} → ${d.version}`],
      ['strategy', d.strategy],
      ['requested', d.created_at && `${when(d.created_at)} by ${cell(d.requested_by)}`],
      ['updated', d.updated_at && when(d.updated_at)],
      ['reason', detail.reason ?? detail.error],
      ['canary', p && `stage ${p.stage + 1}/${p.of}: ${p.percent}% of traffic on ${d.version}`],
      ['next', p && d.status === 'rolling_out' ? nextStep(p) : undefined],
    ]),
  );
  const stages = detail.stages ?? [];
  if (stages.length > 0) {
    const rows = stages.map((s) => [`${s.percent}%`, when(s.at), s.judgement?.outcome, s.judgement?.reason]);
    c.print(`\n${table(['STAGE', 'JUDGED (UTC)', 'OUTCOME', 'REASON'], rows)}`);
  }
}
