import { ActivityFailure, ApplicationFailure, condition, patched, proxyActivities, setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Deployment } from '../ports/registry';
import { BLIND_STAGE_CHECKS, type CanaryJudgement, type CanaryPlan } from '../domain/stages';
import { progressCurrentDetails } from '../domain/workflow-summary';
import { abortSignal, progressQuery, type DecisionPayload, type StageProgress } from './messages';

const { setTraffic, judgeCanaryStage, recordDeployment, switchForDeploy, notify } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

const failureType = (e: unknown): string | undefined => {
  const cause = e instanceof ActivityFailure ? e.cause : e;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
};
const failureMessage = (e: unknown): string => {
  const cause = e instanceof ActivityFailure && e.cause ? e.cause : e;
  return cause instanceof Error ? cause.message : String(cause);
};

export interface CanaryInput {
  deployment_id: string;
  prompt: string;
  version: string;
  /** The version serving now; it keeps the rest of the traffic and gets it all back on an abort. */
  from_version: string;
  plan: CanaryPlan;
  actor: string;
  created_at: string;
}

export interface CanaryResult {
  status: 'completed' | 'aborted';
  reason: string;
  stages: { percent: number; judgement?: CanaryJudgement; at: string }[];
}

/**
 * A canary rollout (`deploy/{prompt}/{deployment_id}`): 1 → 5 → 25 → 100 % of traffic on the new version, each
 * stage baked and judged against the version it would replace (trigger table + two-proportion test on error
 * rates, p < 0.05). A failed stage, too few samples after the extra bakes, or an `abort` signal puts all
 * traffic back on the old version, with the reason. The final stage is the audited deploy switch.
 */
export async function canaryWorkflow(input: CanaryInput): Promise<CanaryResult> {
  // A stage whose metrics cannot be read holds and, after a bound, pages (rollouts started before retry the read).
  const holdWhenUnreadable = patched('metrics-unreadable');
  let unreadableInRow = 0;
  const stages: CanaryResult['stages'] = [];
  const progress: StageProgress = { stage: 0, of: input.plan.stages.length, percent: 0, paused: false, next_step: 'starting', checks: [] };
  let abortedBy: string | undefined;
  setHandler(progressQuery, () => progress);
  setHandler(abortSignal, (p: DecisionPayload) => {
    abortedBy = p?.by || 'unknown';
  });

  const record = async (status: string, reason: string): Promise<void> => {
    const d: Deployment = {
      deployment_id: input.deployment_id,
      prompt: input.prompt,
      version: input.version,
      strategy: 'canary',
      status,
      requested_by: input.actor,
      created_at: input.created_at,
      updated_at: new Date().toISOString(),
      from_version: input.from_version,
      detail: { progress, stages, reason, plan: input.plan },
    };
    setCurrentDetails(
      `**${status}** · ${input.prompt} ${input.from_version} → ${input.version}\n\n${progressCurrentDetails(progress, input.version)}\n\n${reason}`,
    );
    await recordDeployment(d);
  };
  const abort = async (reason: string): Promise<CanaryResult> => {
    await setTraffic({
      prompt: input.prompt,
      split: [{ version: input.from_version, percent: 100 }],
      key: `${input.deployment_id}/abort`,
      actor: abortedBy ?? 'system',
      reason: `canary of ${input.version} aborted: ${reason}`,
      action: 'canary',
    });
    progress.percent = 0;
    progress.next_step = `aborted: all traffic back on ${input.from_version}`;
    await record('aborted', reason);
    await notify({
      key: `${input.deployment_id}/aborted`,
      kind: 'alert',
      severity: 'high',
      prompt: input.prompt,
      rollback_id: '',
      title: `CANARY ABORTED: ${input.prompt} ${input.version}`,
      message: `${reason}. All traffic is back on ${input.from_version}.`,
      data: { stages },
    });
    return { status: 'aborted', reason, stages };
  };
  /**
   * The deployment was aborted outside this workflow (a rollback opened on the prompt): the store refused this
   * stage or the promotion. Traffic belongs to the rollback now, so it is left untouched.
   */
  const abortedElsewhere = async (why: string): Promise<CanaryResult> => {
    progress.next_step = 'aborted: traffic left to the rollback that aborted this canary';
    delete progress.next_at;
    await record('aborted', why);
    return { status: 'aborted', reason: why, stages };
  };

  try {
    for (let i = 0; i < input.plan.stages.length; i++) {
      const percent = input.plan.stages[i]!;
      progress.stage = i;
      progress.percent = percent;
      if (percent >= 100) break;
      await setTraffic({
        prompt: input.prompt,
        split: [
          { version: input.from_version, percent: 100 - percent },
          { version: input.version, percent },
        ],
        key: `${input.deployment_id}/stage-${i}`,
        actor: input.actor,
        reason: `canary stage ${i + 1}/${input.plan.stages.length}: ${percent} % on ${input.version}`,
        action: 'canary',
      });
      const since = new Date().toISOString();
      for (let bake = 0; ; bake++) {
        progress.next_step = `bake ${bake + 1} of stage ${i + 1} (${percent} %), then judge`;
        progress.next_at = new Date(Date.now() + input.plan.bake_s * 1000).toISOString();
        await record('rolling_out', progress.next_step);
        await condition(() => abortedBy !== undefined, input.plan.bake_s * 1000, {
          summary: `stage ${i + 1}/${input.plan.stages.length} bake ${bake + 1} (${percent} % on ${input.version})`,
        });
        if (abortedBy !== undefined) return await abort(`aborted by ${abortedBy} at ${percent} %`);
        const judgement = await judgeCanaryStage({
          prompt: input.prompt,
          canary: input.version,
          baseline: input.from_version,
          since,
          plan: input.plan,
          ...(holdWhenUnreadable ? { unreadable: 'report' as const } : {}),
        });
        stages.push({ percent, judgement, at: new Date().toISOString() });
        if (judgement.outcome === 'error') {
          // Nothing judged: neither promoted nor aborted on no evidence, and not an extra bake either. The stage
          // holds where it is, re-judged each bake, until metrics can be read or a person aborts.
          unreadableInRow += 1;
          bake -= 1;
          if (unreadableInRow >= BLIND_STAGE_CHECKS) {
            progress.paused = true;
            progress.paused_reason = `metrics could not be read for ${unreadableInRow} checks in a row, so stage ${i + 1} (${percent} %) cannot be judged: ${judgement.reason}`;
          }
          if (unreadableInRow === BLIND_STAGE_CHECKS) {
            await notify({
              key: `${input.deployment_id}/blind/${stages.length}`,
              kind: 'page',
              severity: 'high',
              prompt: input.prompt,
              rollback_id: '',
              title: `CANARY HOLDING, METRICS UNREADABLE: ${input.prompt} ${input.version}`,
              message: `${progress.paused_reason}. Traffic stays at ${percent} % on ${input.version}; the stage is judged again every ${input.plan.bake_s} s. Abort: POST /api/deployments/${input.deployment_id}/abort.`,
              data: { stages },
            });
          }
          continue;
        }
        if (unreadableInRow > 0) {
          unreadableInRow = 0;
          progress.paused = false;
          delete progress.paused_reason;
        }
        if (judgement.outcome === 'abort') return await abort(`stage ${i + 1} (${percent} %) failed: ${judgement.reason}`);
        if (judgement.outcome === 'promote') break;
        if (bake >= input.plan.max_extra_bakes) return await abort(`stage ${i + 1} (${percent} %) inconclusive: ${judgement.reason}`);
      }
    }
    await switchForDeploy({ prompt: input.prompt, to: input.version, deployment_id: input.deployment_id, actor: input.actor });
    progress.percent = 100;
    progress.next_step = 'done';
    delete progress.next_at;
    stages.push({ percent: 100, at: new Date().toISOString() });
    await record('completed', `promoted through ${input.plan.stages.join(' → ')} %`);
  } catch (e) {
    if (failureType(e) !== 'DeploymentAborted') throw e;
    return abortedElsewhere(failureMessage(e));
  }
  return { status: 'completed', reason: 'promoted', stages };
}
