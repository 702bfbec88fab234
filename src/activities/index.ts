import { ApplicationFailure } from '@temporalio/activity';
import { DomainError, isDomainError } from '../domain/errors';
import type { RollbackView } from '../domain/rollback';
import type { Verdict, WindowStats } from '../domain/verdict';
import { judgeRecovery, type VerificationPolicy } from '../domain/verification';
import type { Clock } from '../ports/clock';
import type { MetricsSource } from '../ports/metrics';
import type { Notification, Notifier } from '../ports/notifier';
import type { Registry, SwitchResult } from '../ports/registry';
import type { RollbackStore } from '../ports/rollbacks';
import { knownGoodTarget } from '../domain/known-good';

export interface ActivityDeps {
  registry: Registry;
  rollbacks: RollbackStore;
  metrics: MetricsSource;
  notifier: Notifier;
  clock: Clock;
  /** Builds the links every page carries: status URL and Web UI workflow. */
  links: (prompt: string, rollbackId: string) => Record<string, string>;
}

/** Domain errors a retry cannot fix become non-retryable failures whose `type` the workflow can read. */
async function domain<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isDomainError(e)) throw ApplicationFailure.nonRetryable(e.message, e.type, e.details);
    throw e;
  }
}

export interface TargetChoice {
  from_version: string | null;
  to_version: string;
  /** Versions passed over on the way to the target, and why: shown in the timeline. */
  skipped: { version: string; why: string }[];
}

export function createActivities(deps: ActivityDeps) {
  const { registry, rollbacks, metrics, notifier, clock } = deps;
  return {
    /** Validates the requested target, or picks the last known-good version when none was named. */
    async chooseTarget(input: { prompt: string; target_version?: string }): Promise<TargetChoice> {
      return domain(async () => {
        const prompt = await registry.getPrompt(input.prompt);
        if (!prompt) throw new DomainError('UnknownPrompt', `no prompt named ${input.prompt}`, { prompt: input.prompt });
        const versions = await registry.listVersions(input.prompt);
        if (input.target_version !== undefined) {
          if (!versions.some((v) => v.version === input.target_version)) {
            throw new DomainError('UnknownVersion', `prompt ${input.prompt} has no version ${input.target_version}`, {
              prompt: input.prompt,
              version: input.target_version,
            });
          }
          return { from_version: prompt.active_version, to_version: input.target_version, skipped: [] };
        }
        const choice = knownGoodTarget(versions, prompt.active_version);
        if (!choice.target) {
          throw new DomainError(
            'NoKnownGoodVersion',
            `prompt ${input.prompt} has no known-good version before ${prompt.active_version ?? 'the active one'}`,
            {
              prompt: input.prompt,
              skipped: choice.skipped,
            },
          );
        }
        return { from_version: prompt.active_version, to_version: choice.target, skipped: choice.skipped };
      });
    },

    /** Metrics of one version over the last `window_s` seconds. */
    async readWindow(input: { prompt: string; version: string; window_s: number }): Promise<WindowStats> {
      const to = clock.now();
      return metrics.window(input.prompt, input.version, new Date(to.getTime() - input.window_s * 1000), to);
    },

    /** Switches all traffic, writes the audit row; keyed by the rollback id, so a retry changes nothing. */
    async switchActiveVersion(input: {
      prompt: string;
      to: string;
      rollback_id: string;
      actor: string;
      reason: string;
    }): Promise<SwitchResult> {
      return domain(() =>
        registry.switchActive({
          prompt: input.prompt,
          to: input.to,
          action: 'rollback',
          key: input.rollback_id,
          actor: input.actor,
          reason: input.reason,
          detail: { rollback_id: input.rollback_id },
        }),
      );
    },

    /** One verification check: the target version's traffic since the switch, over at most `window_s`. */
    async checkRecovery(input: {
      prompt: string;
      version: string;
      since: string;
      window_s: number;
      policy: VerificationPolicy;
    }): Promise<Verdict> {
      const to = clock.now();
      const from = new Date(Math.max(Date.parse(input.since), to.getTime() - input.window_s * 1000));
      const stats = await metrics.window(input.prompt, input.version, from, to);
      return judgeRecovery(stats, input.policy);
    },

    async notify(n: Omit<Notification, 'links'> & { rollback_id: string }): Promise<{ id: string; channel: string }> {
      return notifier.notify({ ...n, links: deps.links(n.prompt, n.rollback_id) });
    },

    /** Persists the workflow's view so the API can list and read rollbacks without a running worker. */
    async saveRollback(view: RollbackView): Promise<void> {
      await rollbacks.save(view);
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
