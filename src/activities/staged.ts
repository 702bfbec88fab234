import { ApplicationFailure } from '@temporalio/activity';
import { isDomainError } from '../domain/errors';
import { assess } from '../domain/assess';
import { resolvePolicy } from '../domain/policy';
import { canaryUnreadable, judgeCanary, type CanaryJudgement, type CanaryPlan } from '../domain/stages';
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

/**
 * The reason a metrics provider gave for not answering (MetricsUnavailable); any other failure is rethrown, for
 * Temporal to retry as before.
 */
export function unavailableReason(e: unknown): string {
  if (isDomainError(e) && e.type === 'MetricsUnavailable') return e.message;
  throw e;
}

/** One read of a version's traffic, or why the provider could not give it (never an exception a retry would repeat). */
export type TrafficReading = { kind: 'read'; window: WindowStats; blended?: WindowStats } | { kind: 'error'; error: string };

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
     * The last `window_s` of `version`, and of `blended_with` + `version` as one window when asked: a gradual
     * stage's check. A provider that cannot answer gives `error` with its reason at once, so the workflow can hold
     * and ask again at its next interval instead of retrying inside one activity.
     */
    async readTraffic(input: { prompt: string; version: string; window_s: number; blended_with?: string[] }): Promise<TrafficReading> {
      const to = clock.now();
      const from = new Date(to.getTime() - input.window_s * 1000);
      const others = input.blended_with ?? [];
      try {
        const [own, ...rest] = await Promise.all([input.version, ...others].map((v) => metrics.window(input.prompt, v, from, to)));
        return { kind: 'read', window: own!, ...(others.length > 0 ? { blended: combine([own!, ...rest], input.window_s) } : {}) };
      } catch (e) {
        return { kind: 'error', error: unavailableReason(e) };
      }
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
      /**
       * `report`: a provider that cannot answer is the judgement `error` (the rollout holds). Absent (rollouts
       * started before): the activity fails and Temporal retries it, as it always did.
       */
      unreadable?: 'report';
    }): Promise<CanaryJudgement> {
      const to = clock.now();
      const from = new Date(input.since);
      const prompt = await registry.getPrompt(input.prompt);
      let c: WindowStats;
      let b: WindowStats;
      try {
        [c, b] = await Promise.all([
          metrics.window(input.prompt, input.canary, from, to),
          metrics.window(input.prompt, input.baseline, from, to),
        ]);
      } catch (e) {
        if (input.unreadable !== 'report') throw e;
        return canaryUnreadable(unavailableReason(e));
      }
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
