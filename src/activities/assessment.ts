import { assess } from '../domain/assess';
import { isDomainError } from '../domain/errors';
import { knownGoodTarget } from '../domain/known-good';
import { resolvePolicy, type Policy } from '../domain/policy';
import type { Verdict, WindowStats } from '../domain/verdict';
import type { Clock } from '../ports/clock';
import type { MetricsSource } from '../ports/metrics';
import type { Registry } from '../ports/registry';

export interface Assessment {
  verdict: Verdict;
  active_version: string | null;
  baseline_version: string | null;
  current: WindowStats | null;
  baseline: WindowStats | null;
  policy: Policy;
}

/**
 * Judges the active version of a prompt by its trigger table: the last `window_s` of its traffic against the
 * baseline — the last known-good version's own last active window (it has no traffic now that it is replaced).
 */
export async function assessPrompt(
  deps: { registry: Registry; metrics: MetricsSource; clock: Clock },
  promptName: string,
): Promise<Assessment> {
  const prompt = await deps.registry.getPrompt(promptName);
  const policy = resolvePolicy(prompt?.policy ?? {});
  const active = prompt?.active_version ?? null;
  const none = (summary: string): Assessment => ({
    verdict: {
      kind: 'inconclusive',
      rule: 'active_version',
      metric: 'requests',
      threshold: policy.min_samples,
      observed: 0,
      window_s: policy.window_s,
      samples: 0,
      summary,
    },
    active_version: active,
    baseline_version: null,
    current: null,
    baseline: null,
    policy,
  });
  if (!prompt) return none(`inconclusive: no prompt named ${promptName}`);
  if (active === null) return none('inconclusive: nothing deployed');

  const now = deps.clock.now();
  const versions = await deps.registry.listVersions(promptName);
  // The provider the record just read names: no second look-up of the prompt for each window.
  const metrics = deps.metrics.forPrompt?.(promptName, prompt.metrics) ?? deps.metrics;
  const baselineVersion = knownGoodTarget(versions, active).target ?? null;
  let current: WindowStats;
  let baseline: WindowStats | null;
  try {
    current = await metrics.window(promptName, active, new Date(now.getTime() - policy.window_s * 1000), now);
    baseline = baselineVersion === null ? null : ((await metrics.lastWindow(promptName, baselineVersion, policy.window_s)) ?? null);
  } catch (e) {
    // A provider that cannot answer is `error`: no action, shown to the operator; the monitor asks again on its
    // next tick instead of this activity retrying against a provider that is down.
    if (!isDomainError(e) || e.type !== 'MetricsUnavailable') throw e;
    return {
      verdict: {
        kind: 'error',
        rule: 'metrics_provider',
        metric: 'requests',
        threshold: policy.min_samples,
        observed: null,
        window_s: policy.window_s,
        samples: 0,
        summary: `error: metrics could not be read, nothing judged and no action taken (${e.message})`,
      },
      active_version: active,
      baseline_version: baselineVersion,
      current: null,
      baseline: null,
      policy,
    };
  }
  const activeRecord = versions.find((v) => v.version === active);
  const since = Date.parse(activeRecord?.deployed_at ?? activeRecord?.created_at ?? now.toISOString());
  const ageMinutes = (now.getTime() - since) / 60_000;
  return {
    verdict: assess(current, baseline, policy, ageMinutes),
    active_version: active,
    baseline_version: baselineVersion,
    current,
    baseline,
    policy,
  };
}
