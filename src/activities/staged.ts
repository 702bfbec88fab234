import { ApplicationFailure } from '@temporalio/activity';
import { isDomainError } from '../domain/errors';
import { assess } from '../domain/assess';
import { resolvePolicy } from '../domain/policy';
import { judgeCanary, type CanaryJudgement, type CanaryPlan } from '../domain/stages';
import { emptyWindow, type WindowStats } from '../domain/verdict';
import type { Clock } from '../ports/clock';
import type { MetricsSource } from '../ports/metrics';
import type { Deployment, Registry, TrafficRequest } from '../ports/registry';

interface Deps {
  registry: Registry;
  metrics: MetricsSource;
  clock: Clock;
}

/** Sums windows of several versions (a prompt's traffic across a split). Latency quantiles are not combined. */
function combine(windows: WindowStats[], window_s: number): WindowStats {
  const out = emptyWindow(window_s);
  let qSum = 0;
  for (const w of windows) {
    out.requests += w.requests;
    out.errors += w.errors;
    out.quality_samples += w.quality_samples;
    qSum += (w.quality_mean ?? 0) * w.quality_samples;
  }
  out.error_rate = out.requests === 0 ? null : out.errors / out.requests;
  out.quality_mean = out.quality_samples === 0 ? null : qSum / out.quality_samples;
  return out;
}

/** A refusal a retry cannot change (e.g. DeploymentAborted) fails at once, with its type for the workflow to read. */
async function nonRetryableDomain<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isDomainError(e)) throw ApplicationFailure.nonRetryable(e.message, e.type, e.details);
    throw e;
  }
}

/** Activities of staged traffic moves: gradual rollbacks and canary rollouts. */
export function createStagedActivities(deps: Deps) {
  const { registry, metrics, clock } = deps;
  return {
    /** Sets a traffic split, audited, once per key (a retried stage changes nothing the second time). */
    async setTraffic(req: TrafficRequest): Promise<{ changed: boolean }> {
      return nonRetryableDomain(() => registry.setTraffic(req));
    },

    /** The prompt's traffic over the last `window_s` across `versions`, as one window. */
    async readCombinedWindow(input: { prompt: string; versions: string[]; window_s: number }): Promise<WindowStats> {
      const to = clock.now();
      const from = new Date(to.getTime() - input.window_s * 1000);
      const windows = await Promise.all(input.versions.map((v) => metrics.window(input.prompt, v, from, to)));
      return combine(windows, input.window_s);
    },

    /**
     * Judges a canary stage on the traffic since the stage began: the trigger table (canary against the
     * version it would replace, same period) and the two-proportion test on error rates.
     */
    async judgeCanaryStage(input: {
      prompt: string;
      canary: string;
      baseline: string;
      since: string;
      plan: CanaryPlan;
    }): Promise<CanaryJudgement> {
      const to = clock.now();
      const from = new Date(input.since);
      const [c, b, prompt] = await Promise.all([
        metrics.window(input.prompt, input.canary, from, to),
        metrics.window(input.prompt, input.baseline, from, to),
        registry.getPrompt(input.prompt),
      ]);
      const policy = { ...resolvePolicy(prompt?.policy ?? {}), min_samples: input.plan.min_samples };
      // A canary is a new version: judged at the stricter new-version thresholds (age 0).
      const v = assess(c, b, policy, 0);
      const breach = v.kind === 'breached' && v.severity !== undefined && v.severity !== 'low' ? v.summary : undefined;
      return judgeCanary(c, b, input.plan, breach);
    },

    /** The last step of a rollout: all traffic to the new version, audited as a deploy, once per deployment. */
    async switchForDeploy(input: { prompt: string; to: string; deployment_id: string; actor: string }) {
      return nonRetryableDomain(() =>
        registry.switchActive({
          prompt: input.prompt,
          to: input.to,
          action: 'deploy',
          key: input.deployment_id,
          actor: input.actor,
          reason: `canary of ${input.to} promoted to 100 %`,
        }),
      );
    },

    async recordDeployment(d: Deployment): Promise<void> {
      await registry.recordDeployment(d);
    },
  };
}
