import { condition, getExternalWorkflowHandle, setHandler, startChild } from '@temporalio/workflow';
import { DEFAULT_GRADUAL } from '../../domain/stages';
import { gradualDetails, gradualSummary } from '../../domain/workflow-summary';
import { isTerminal, type RollbackStatus } from '../../domain/rollback';
import { gradualRollbackWorkflow, type GradualResult } from '../gradual';
import {
  abortSignal,
  abortUpdate,
  finishNowSignal,
  pauseSignal,
  pauseUpdate,
  progressSignal,
  resumeSignal,
  resumeUpdate,
  type DecisionPayload,
} from '../messages';
import type { RollbackRun } from './context';
import { refuse } from './decide';

/** How the stages ended: all moved, aborted by a person (traffic back on the bad version), or cut short by a critical breach. */
export type StagesOutcome = { kind: 'completed' } | { kind: 'aborted'; by: string } | { kind: 'cut_short'; reason: string };

/**
 * The gradual part of a rollback: a child workflow moves traffic off the bad version in stages; this mirrors its
 * progress into the view (status `paused` while it is paused), takes pause / resume / abort as Updates, and
 * cuts the stages short when a critical breach arrives (the final switch then happens at once).
 */
export class Stages {
  private childId: string | undefined;
  private ended = false;

  constructor(private readonly run: RollbackRun) {
    const validate = (control: 'pause' | 'resume' | 'abort') => (p: DecisionPayload) => {
      const v = run.view;
      const fields = { rollback_id: v.rollback_id, rollback_status: v.status, mode: v.mode };
      if (v.mode !== 'gradual') {
        refuse(
          `rollback ${v.rollback_id} is an immediate rollback (${v.status}); only a running gradual rollback can be paused, resumed or aborted`,
          fields,
        );
      }
      if (this.childId === undefined || this.ended) {
        refuse(`rollback ${v.rollback_id} is ${v.status}; its gradual stages are ${this.ended ? 'over' : 'not running yet'}`, fields);
      }
      if (control === 'resume' && v.status !== 'paused') refuse(`rollback ${v.rollback_id} is ${v.status}, not paused`, fields);
      if (typeof p?.by !== 'string' || p.by === '') refuse('a control needs the deciding actor in `by`', {});
    };
    const handle = (control: 'pause' | 'resume' | 'abort') => async (p: DecisionPayload) => {
      const signal = control === 'pause' ? pauseSignal : control === 'resume' ? resumeSignal : abortSignal;
      // Pausing what is already paused changes nothing (idempotent), and says so in the view it returns.
      if (!(control === 'pause' && run.view.status === 'paused')) {
        run.event(`${control}_requested`, { by: p.by, via: 'api' });
        await getExternalWorkflowHandle(this.childId!).signal(signal, { by: p.by });
      }
      // Answered once the store shows what the control did.
      await condition(() =>
        control === 'abort'
          ? isTerminal(run.persistedStatus) || (this.ended && run.persistedStatus === 'verifying')
          : this.ended || (control === 'pause' ? run.persistedStatus === 'paused' : run.persistedStatus !== 'paused'),
      );
      return run.view;
    };
    setHandler(pauseUpdate, handle('pause'), { validator: validate('pause') });
    setHandler(resumeUpdate, handle('resume'), { validator: validate('resume') });
    setHandler(abortUpdate, handle('abort'), { validator: validate('abort') });
  }

  async move(from: string, to: string): Promise<StagesOutcome> {
    const { run } = this;
    const { view, input } = run;
    let progressed = false;
    setHandler(progressSignal, (p) => {
      view.gradual = p;
      progressed = true;
    });
    const plan = input.gradual_plan ?? DEFAULT_GRADUAL;
    run.event('gradual_started', { stages: plan.stages, check_interval_s: plan.check_interval_s, max_error_rate: plan.max_error_rate });
    const childId = `${view.workflow_id}/gradual`;
    const described = { prompt: input.prompt, from_version: from, to_version: to, plan, reason: view.reason };
    const child = await startChild(gradualRollbackWorkflow, {
      workflowId: childId,
      staticSummary: gradualSummary(described),
      staticDetails: gradualDetails(described),
      args: [
        {
          v: 2,
          rollback_id: input.rollback_id,
          prompt: input.prompt,
          from_version: from,
          to_version: to,
          plan,
          actor: view.decided_by ?? input.requested_by,
          reason: view.reason,
        },
      ],
    });
    this.childId = childId;
    let result: GradualResult | undefined;
    let failure: unknown;
    child.result().then(
      (r) => (result = r),
      (e: unknown) => (failure = e ?? new Error('gradual rollback failed')),
    );
    let cutShort: string | undefined;
    let stage = -1;
    while (result === undefined && failure === undefined) {
      await condition(() => progressed || run.worse !== undefined || result !== undefined || failure !== undefined);
      if (run.worse !== undefined && result === undefined && failure === undefined) {
        const w = run.worse;
        run.worse = undefined;
        if (w.severity === 'critical' && cutShort === undefined) {
          // A critical breach during the stages: no more waiting, all traffic to the target now.
          cutShort = w.summary;
          run.event('gradual_cut_short', { ...w, traffic: `all traffic to ${to} now` });
          await getExternalWorkflowHandle(childId).signal(finishNowSignal, { reason: w.summary });
        } else {
          run.event('breach_update', { ...w });
        }
        continue;
      }
      if (!progressed) continue;
      progressed = false;
      const status: RollbackStatus = view.gradual?.paused ? 'paused' : 'rolling_back';
      if (status !== view.status) {
        await run.enter(status, status === 'paused' ? 'paused' : 'resumed', {
          stage: view.gradual?.stage,
          reason: view.gradual?.paused_reason,
        });
      } else if (view.gradual && view.gradual.stage !== stage) {
        // The store sees each new stage; the checks within it are in the state query (a small history).
        stage = view.gradual.stage;
        await run.save();
      }
    }
    this.ended = true;
    if (failure !== undefined) throw failure;
    if (view.status === 'paused') view.status = 'rolling_back';
    const r = result!;
    if (r.outcome === 'aborted') return { kind: 'aborted', by: r.by ?? 'unknown' };
    return cutShort !== undefined ? { kind: 'cut_short', reason: cutShort } : { kind: 'completed' };
  }
}
