import { condition, getExternalWorkflowHandle, patched, proxyActivities, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { TrafficReading } from '../activities/staged';
import { BLIND_STAGE_CHECKS, type GradualPlan } from '../domain/stages';
import { progressCurrentDetails } from '../domain/workflow-summary';
import {
  abortSignal,
  finishNowSignal,
  pauseSignal,
  progressQuery,
  progressSignal,
  resumeSignal,
  type DecisionPayload,
  type StageProgress,
} from './messages';
import { gradualRollbackWorkflowV1 } from './legacy/gradual-v1';

const { setTraffic, readCombinedWindow, readWindow, readTraffic, notify } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

export interface GradualInput {
  /** 2: started by a v2 rollback. Absent: a v1 parent (frozen protocol in src/workflows/legacy). */
  v?: 2;
  rollback_id: string;
  prompt: string;
  /** The version traffic moves away from, and the one it moves to. */
  from_version: string;
  to_version: string;
  plan: GradualPlan;
  actor: string;
  reason: string;
}

export interface GradualResult {
  outcome: 'completed' | 'aborted';
  by?: string;
  progress: StageProgress;
}

/**
 * A gradual rollback (reverse canary), child of `rollback/{prompt}/{id}`: leave 75 / 50 / 25 / 0 % on the
 * bad version, a stage at a time, checking every interval. An error rate above the plan's maximum pauses and
 * escalates; `pause`, `resume` and `abort` signals come from people. Abort puts all traffic back on the
 * version the rollback started from. Progress goes to the parent (signal) and the `progress` query.
 * The last stage (0 %) is the parent's audited switch, so this returns before it.
 */
export async function gradualRollbackWorkflow(input: GradualInput): Promise<GradualResult> {
  if (input.v !== 2) return gradualRollbackWorkflowV1(input);
  return gradualRollbackWorkflowV2(input);
}

async function gradualRollbackWorkflowV2(input: GradualInput): Promise<GradualResult> {
  const parent = workflowInfo().parent;
  // A check whose metrics cannot be read holds the stage and, after a bound, pauses and pages (gradual rollbacks
  // started before retry the read until the provider answers).
  const holdWhenUnreadable = patched('metrics-unreadable');
  let unreadableInRow = 0;
  const stages = input.plan.stages.filter((s) => s.percent_on_bad > 0);
  const progress: StageProgress = {
    stage: 0,
    of: input.plan.stages.length,
    percent: 100,
    paused: false,
    next_step: 'starting',
    checks: [],
  };
  let pausedBy: string | undefined;
  let abortedBy: string | undefined;
  let finishNow: string | undefined;
  setHandler(progressQuery, () => progress);
  setHandler(finishNowSignal, (p) => {
    finishNow = p?.reason || 'critical breach';
  });
  setHandler(pauseSignal, (p: DecisionPayload) => {
    pausedBy = p?.by || 'unknown';
  });
  setHandler(resumeSignal, () => {
    pausedBy = undefined;
  });
  setHandler(abortSignal, (p: DecisionPayload) => {
    abortedBy = p?.by || 'unknown';
  });

  const report = async (): Promise<void> => {
    setCurrentDetails(progressCurrentDetails(progress, input.from_version));
    if (parent) await getExternalWorkflowHandle(parent.workflowId).signal(progressSignal, progress);
  };
  const abort = async (by: string): Promise<GradualResult> => {
    await setTraffic({
      prompt: input.prompt,
      split: [{ version: input.from_version, percent: 100 }],
      key: `${input.rollback_id}/gradual/abort`,
      actor: by,
      reason: `gradual rollback aborted by ${by}`,
      action: 'traffic',
    });
    progress.percent = 100;
    progress.next_step = `aborted by ${by}: all traffic back on ${input.from_version}`;
    await report();
    return { outcome: 'aborted', by, progress };
  };

  const cutShort = async (): Promise<GradualResult> => {
    progress.cut_short = finishNow!;
    progress.paused = false;
    delete progress.paused_reason;
    progress.next_step = `cut short (${finishNow!}): final switch, all traffic to ${input.to_version} now`;
    delete progress.next_at;
    await report();
    return { outcome: 'completed', progress };
  };

  for (let i = 0; i < stages.length; i++) {
    if (finishNow !== undefined) return cutShort();
    const stage = stages[i]!;
    await setTraffic({
      prompt: input.prompt,
      split: [
        { version: input.from_version, percent: stage.percent_on_bad },
        { version: input.to_version, percent: 100 - stage.percent_on_bad },
      ],
      key: `${input.rollback_id}/gradual/${i}`,
      actor: input.actor,
      reason: `gradual rollback stage ${i + 1}/${input.plan.stages.length}: ${stage.percent_on_bad} % left on ${input.from_version}`,
      action: 'traffic',
    });
    progress.stage = i;
    progress.percent = stage.percent_on_bad;
    const rounds = Math.max(1, Math.ceil(stage.duration_s / input.plan.check_interval_s));
    for (let r = 0; r < rounds; r++) {
      progress.next_step = `check ${r + 1}/${rounds} of stage ${i + 1}, then ${i + 1 < stages.length ? `${stages[i + 1]!.percent_on_bad} %` : '0 % (switch)'}`;
      progress.next_at = new Date(Date.now() + input.plan.check_interval_s * 1000).toISOString();
      await report();
      await condition(
        () => abortedBy !== undefined || pausedBy !== undefined || finishNow !== undefined,
        input.plan.check_interval_s * 1000,
        {
          summary: `stage ${i + 1}/${input.plan.stages.length} hold (${stage.percent_on_bad} % on ${input.from_version}), check ${r + 1}/${rounds}`,
        },
      );
      if (finishNow !== undefined) return cutShort();
      if (abortedBy !== undefined) return abort(abortedBy);
      if (pausedBy === undefined) {
        // Judge the target: it receives the moved traffic, and its health is what this rollback risks. The
        // blended rate (both versions) is shown beside it; judging that would pause on the bad version's errors.
        const reading: TrafficReading = holdWhenUnreadable
          ? await readTraffic({
              prompt: input.prompt,
              version: input.to_version,
              window_s: input.plan.check_interval_s,
              blended_with: [input.from_version],
            })
          : await Promise.all([
              readWindow({ prompt: input.prompt, version: input.to_version, window_s: input.plan.check_interval_s }),
              readCombinedWindow({
                prompt: input.prompt,
                versions: [input.from_version, input.to_version],
                window_s: input.plan.check_interval_s,
              }),
            ]).then(([window, blended]) => ({ kind: 'read' as const, window, blended }));
        if (reading.kind === 'error') {
          // Judged nothing: shown, not counted toward the stage, so the stage holds until checks can read again.
          unreadableInRow += 1;
          r -= 1;
          progress.checks.push({
            at: new Date().toISOString(),
            version: input.to_version,
            requests: 0,
            errors: 0,
            error_rate: null,
            error: reading.error,
          });
          if (unreadableInRow >= BLIND_STAGE_CHECKS) {
            pausedBy = 'system';
            const why = `metrics could not be read for ${unreadableInRow} checks in a row, so stage ${i + 1} cannot be judged: ${reading.error}`;
            unreadableInRow = 0;
            progress.paused_reason = why;
            await notify({
              key: `${input.rollback_id}/gradual/blind/${i}/${progress.checks.length}`,
              kind: 'page',
              severity: 'high',
              prompt: input.prompt,
              rollback_id: input.rollback_id,
              title: `GRADUAL ROLLBACK PAUSED, METRICS UNREADABLE: ${input.prompt}`,
              message: `Stage ${i + 1} (${stage.percent_on_bad} % on ${input.from_version}) holds: ${why}. Traffic stays as it is. Once metrics can be read, resume (checks start again) or abort: POST /api/rollbacks/${input.rollback_id}/resume|abort.`,
              data: { error: reading.error, errors_in_row: BLIND_STAGE_CHECKS },
            });
          }
        } else {
          unreadableInRow = 0;
          const t = reading.window;
          const blended = reading.blended ?? t;
          progress.checks.push({
            at: new Date().toISOString(),
            version: input.to_version,
            requests: t.requests,
            errors: t.errors,
            error_rate: t.error_rate,
            blended: { requests: blended.requests, errors: blended.errors, error_rate: blended.error_rate },
          });
          const w = t;
          if (w.requests >= input.plan.min_samples && (w.error_rate ?? 0) > input.plan.max_error_rate) {
            pausedBy = 'system';
            const why = `error rate of ${input.to_version} (the target) ${((w.error_rate ?? 0) * 100).toFixed(2)} % > ${(input.plan.max_error_rate * 100).toFixed(2)} % over ${w.requests} requests (both versions: ${((blended.error_rate ?? 0) * 100).toFixed(2)} %)`;
            progress.paused_reason = why;
            await notify({
              key: `${input.rollback_id}/gradual/pause/${i}/${r}`,
              kind: 'page',
              severity: 'critical',
              prompt: input.prompt,
              rollback_id: input.rollback_id,
              title: `GRADUAL ROLLBACK PAUSED: ${input.prompt}`,
              message: `Stage ${i + 1} (${stage.percent_on_bad} % on ${input.from_version}): ${why}. Resume or abort: POST /api/rollbacks/${input.rollback_id}/resume|abort.`,
              data: { check: w },
            });
          }
        }
      }
      if (pausedBy !== undefined) {
        progress.paused = true;
        progress.paused_reason ??= `paused by ${pausedBy}`;
        progress.next_step = 'paused: waiting for resume or abort';
        delete progress.next_at;
        await report();
        await condition(() => pausedBy === undefined || abortedBy !== undefined || finishNow !== undefined);
        if (finishNow !== undefined) return cutShort();
        if (abortedBy !== undefined) return abort(abortedBy);
        progress.paused = false;
        delete progress.paused_reason;
      }
    }
  }
  progress.stage = input.plan.stages.length - 1;
  progress.next_step = `final switch: all traffic to ${input.to_version}`;
  delete progress.next_at;
  await report();
  return { outcome: 'completed', progress };
}
