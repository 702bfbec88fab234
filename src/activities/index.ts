import { createHash } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { DomainError, isDomainError, STORE_UNAVAILABLE } from '../domain/errors';
import { SEVERITY_RANK } from '../domain/policy';
import { formatRollbackId, initialView, triggerOf, type RollbackInput, type RollbackView } from '../domain/rollback';
import type { Verdict, WindowStats } from '../domain/verdict';
import { judgeIncidentMetric, judgeRecovery, unreadableCheck, type IncidentTrigger, type VerificationPolicy } from '../domain/verification';
import { resolvePolicy } from '../domain/policy';
import type { Clock } from '../ports/clock';
import type { MonitorStore } from '../ports/monitors';
import { assessPrompt, type Assessment } from './assessment';
import { auditedSwitch } from './audited-switch';
import { noteBlindness } from './blind';
import { bounded, runMonitorChecks, type MonitorChecksInput, type MonitorChecksResult } from './monitor-loop';
import type { GradualPlan } from '../domain/stages';
import { createStagedActivities, unavailableReason } from './staged';
import { createRetentionActivities } from './retention';
import { createStorageActivities } from './storage';
import type { StorageMaintenance } from '../ports/storage';
import { createGroupActivities } from './group';
import type { MetricsSource } from '../ports/metrics';
import { directDeliveriesIn, type DirectDelivery, type DirectPager, type Notification, type Notifier } from '../ports/notifier';
import type { Registry, SwitchResult, VersionRecord } from '../ports/registry';
import type { Evaluation, Evaluator } from '../ports/evaluator';
import type { RollbackStore } from '../ports/rollbacks';
import { knownGoodTarget } from '../domain/known-good';
import { switchInOneStep, type OneStepInput, type OneStepResult } from './one-step';
import type { ChooseTargetInput, TargetChoice, TargetState } from './target-choice';

export type { TargetChoice };

export interface ActivityDeps {
  registry: Registry;
  rollbacks: RollbackStore;
  monitors: MonitorStore;
  /** Verification settings given to the rollbacks monitors open. */
  verification: VerificationPolicy;
  /** Stages of the gradual rollbacks monitors open (medium severity). */
  gradualPlan?: GradualPlan;
  /** Runs a version's baseline test before it becomes a rollback target. */
  evaluator?: Evaluator;
  /** Random suffix for new rollback ids (activities may use randomness; workflows may not). */
  randomId?: () => string;
  metrics: MetricsSource;
  /** Roll-up and deletion of old rows (the storage schedule); absent, its activity fails as not configured. */
  storage?: StorageMaintenance;
  notifier: Notifier;
  /** Sends a page directly when the store cannot be used to queue it (the worker's dispatcher). */
  directPager?: DirectPager;
  /** Whether an error says the store cannot be used (not a bad request, not a bug). */
  isStoreOutage?: (e: unknown) => boolean;
  clock: Clock;
  /** Builds the links every page carries: status URL and Web UI workflow. */
  links: (prompt: string, rollbackId: string) => Record<string, string>;
  /** Monitor checks in a row that could not read metrics before the on-call is paged (default 3). */
  blindAfterErrors?: number;
  /** How long a baseline test may take before a target is chosen without it (critical: the 2-min budget). */
  evaluationBudgetMs?: { critical: number; other: number };
}

const DEFAULT_EVALUATION_BUDGET = { critical: 10_000, other: 60_000 };

/** What an attempt of the notify activity keeps of its start-to-close timeout, so that it ends before the server gives up on it. */
const ATTEMPT_MARGIN_MS = 2_000;
/** How long an attempt waits for the store to queue a notification: a store that stops answering leaves time to page. */
const STORE_ANSWER_MS = 10_000;
/** Below this much time left, an attempt sends nothing directly (the next one does). */
const MIN_DIRECT_MS = 1_000;

/** The store's answer came too late for the attempt: it counts as the store being down. */
class DeadlinePassed extends Error {}

/** What the notify activity's heartbeat carries: where its page already went directly. */
interface DirectPageProgress {
  sent_directly: DirectDelivery[];
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

export type MonitorAction = 'none' | 'alert' | 'open_incident' | 'signal_incident' | 'suppressed';

export interface MonitorCheck {
  verdict: Verdict;
  active_version: string | null;
  action: MonitorAction;
  /** open_incident: the rollback workflow to start. */
  incident?: RollbackInput;
  /** signal_incident: the open rollback to tell about the worse breach. */
  open?: { rollback_id: string; workflow_id: string };
  note?: string;
}

/**
 * The running attempt's identity when called by Temporal: the same for every retry of one scheduled activity
 * (workflow run + activity id), so that what a first attempt claimed is recognised by its retry.
 */
interface CheckIdentity {
  suffix: string;
  scheduledMs: number;
  /** An identity no earlier check had (a monitor's loop of checks, per attempt): nothing it claimed can have ended. */
  fresh?: boolean;
}

/** The part of a rollback id that names the check (or loop attempt) that claimed it. */
const claimSuffix = (key: string): string => createHash('sha256').update(key).digest('hex').slice(0, 8);

function checkIdentity(): CheckIdentity | undefined {
  let info: ReturnType<typeof Context.current>['info'];
  try {
    info = Context.current().info;
  } catch {
    return undefined; // not inside an activity (direct calls in tests, tools)
  }
  return { suffix: claimSuffix(`${info.workflowExecution?.runId ?? ''}/${info.activityId}`), scheduledMs: info.scheduledTimestampMs };
}

/** How long a monitor's claimed incident may go without its workflow saving anything before a check starts it. */
export const UNSTARTED_AFTER_MS = 5_000;

/** A baseline test that gave no answer in time: not judged, saying why. */
const notJudged = (detail: string): Evaluation => ({ evaluator: 'timeout', passed: null, score: null, detail });

const defaultRandomId = (): string => Math.random().toString(16).slice(2, 10).padEnd(8, '0');

export function createActivities(deps: ActivityDeps) {
  const { registry, rollbacks, metrics, notifier, clock, monitors } = deps;
  const randomId = deps.randomId ?? defaultRandomId;
  /**
   * A broken or slow evaluator must not block a rollback: its failure, or no answer within the budget, is
   * reported as "not judged".
   */
  const evaluateSafely = async (prompt: string, v: VersionRecord, waitMs: number, late$: string): Promise<Evaluation> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Evaluation>((resolve) => {
      timer = setTimeout(() => resolve(notJudged(late$)), waitMs);
    });
    try {
      return await Promise.race([deps.evaluator!.evaluate(prompt, v), late]);
    } catch (e) {
      return { evaluator: 'unavailable', passed: null, score: null, detail: `baseline test could not run: ${(e as Error).message}` };
    } finally {
      clearTimeout(timer);
    }
  };
  /**
   * Why the monitor stays quiet about a breach, if it should: the on-call rejected this rule recently
   * ("investigate"), or the prompt's last incident escalated (not recovered) and nothing was deployed since —
   * another incident would cascade pages and switches onto a problem people already hold.
   */
  const cooldownOf = async (prompt: string, rule: string, a: Assessment, now: Date): Promise<string | undefined> => {
    const recentlyClosed = (r: RollbackView, seconds: number) => now.getTime() - Date.parse(r.updated_at) < seconds * 1000;
    const rejected = await rollbacks.list({ prompt, status: 'rejected', limit: 5 });
    const cooling = rejected.find(
      (r) => r.trigger !== undefined && r.incident_rule === rule && recentlyClosed(r, a.policy.reject_cooldown_s),
    );
    if (cooling) return `rejected by ${cooling.decided_by ?? 'on-call'} in ${cooling.rollback_id}; not paging again within the cool-down`;
    const [escalated] = await rollbacks.list({ prompt, status: 'escalated', limit: 1 });
    if (escalated && recentlyClosed(escalated, a.policy.escalation_cooldown_s)) {
      const active = a.active_version ? await registry.getVersion(prompt, a.active_version) : undefined;
      const deployedSince = active?.deployed_at != null && Date.parse(active.deployed_at) > Date.parse(escalated.updated_at);
      if (!deployedSince) {
        return `rollback ${escalated.rollback_id} escalated at ${escalated.updated_at}; no new incident within the escalation cool-down (${a.policy.escalation_cooldown_s} s)`;
      }
    }
    return undefined;
  };
  /**
   * One monitor check: judge the active version by the trigger table, record it, and decide what the monitor
   * does — nothing, an alert (deduplicated per cool-down), open an incident (claimed in the store, so at most
   * one is open per prompt), tell the open incident about a worse breach, or stay quiet after a reject.
   */
  const checkMonitor = async (
    input: {
      prompt: string;
      source: 'tick' | 'fast_path';
      /**
       * How old a monitor's claim that no workflow has saved must be before this check starts it (default
       * UNSTARTED_AFTER_MS). The API's fast path passes 0: on a critical breach it starts such a claim at once, as the
       * monitor that claimed it may have ended within that very task (terminated, say) and nobody else would before
       * the reconciler's grace. Starting one its monitor started meanwhile is refused by the engine and changes nothing.
       */
      unstarted_after_ms?: number;
    },
    attempt: CheckIdentity | undefined,
  ): Promise<MonitorCheck> => {
    /** A monitor's incident claimed a while ago that no workflow has saved since: its start input, to start it. */
    const unstartedClaim = async (open: RollbackView, now: Date): Promise<RollbackInput | undefined> => {
      if (open.requested_by !== 'monitor' || open.updated_at !== open.requested_at) return undefined;
      if (now.getTime() - Date.parse(open.requested_at) < (input.unstarted_after_ms ?? UNSTARTED_AFTER_MS)) return undefined;
      return rollbacks.startInput(open.rollback_id);
    };
    const a = await assessPrompt(deps, input.prompt);
    const now = clock.now();
    const v = await noteBlindness(deps, input.prompt, a.verdict);
    // One id per scheduled check, the same on every retry of it: a retry continues the incident it claimed.
    const ownId = attempt ? formatRollbackId(new Date(attempt.scheduledMs), attempt.suffix) : undefined;
    let result: MonitorCheck = { verdict: v, active_version: a.active_version, action: 'none' };
    const openId = await rollbacks.openFor(input.prompt);
    const tableBreach = v.kind === 'breached' && v.severity !== undefined && v.severity !== 'low';
    // Matched on the attempt's part of the id: a check the monitor runs in its workflow task and runs again after
    // a worker crash is scheduled anew (a later time) but keeps its run and activity id.
    const ours = openId !== undefined && attempt !== undefined && (openId === ownId || openId.endsWith(`-${attempt.suffix}`));
    const claimedByThisCheck = ours ? await rollbacks.startInput(openId) : undefined;
    // A retry that comes after its incident already ran to the end (started by the reconciler) opens nothing again.
    // Found by the attempt's part of the id too: a re-run after a worker crash was scheduled at another time.
    const endedFromThisCheck =
      openId === undefined && attempt !== undefined && !attempt.fresh
        ? await rollbacks.getBySuffix(input.prompt, attempt.suffix)
        : undefined;
    if (endedFromThisCheck) {
      result = {
        ...result,
        note: `rollback ${endedFromThisCheck.rollback_id} from this check already ended (${endedFromThisCheck.status})`,
      };
    } else if (claimedByThisCheck) {
      result = { ...result, action: 'open_incident', incident: claimedByThisCheck, note: `continuing ${openId}, claimed by this check` };
    } else if (openId !== undefined) {
      const open = await rollbacks.get(openId);
      const unstarted = open ? await unstartedClaim(open, now) : undefined;
      if (open && tableBreach && SEVERITY_RANK[v.severity!] > SEVERITY_RANK[open.severity]) {
        result = { ...result, action: 'signal_incident', open: { rollback_id: openId, workflow_id: open.workflow_id } };
      } else if (unstarted) {
        // Claimed elsewhere (the API's fast path) and its start was lost: the monitor starts it now, rather than the
        // reconciler after its grace. Starting one already running is refused, and the monitor goes on.
        result = { ...result, action: 'open_incident', incident: unstarted, note: `starting ${openId}, claimed but not started` };
      } else {
        result = { ...result, note: `rollback ${openId} is open` };
      }
    } else if (tableBreach) {
      const quiet = await cooldownOf(input.prompt, v.rule, a, now);
      if (quiet) {
        result = { ...result, action: 'suppressed', note: quiet };
      } else {
        const id = ownId ?? formatRollbackId(now, randomId());
        const incident: RollbackInput = {
          rollback_id: id,
          prompt: input.prompt,
          reason: v.summary,
          severity: v.severity!,
          mode: 'immediate',
          trigger: triggerOf(v),
          requested_by: 'monitor',
          requested_at: now.toISOString(),
          verification: deps.verification,
          ...(deps.gradualPlan ? { gradual_plan: deps.gradualPlan } : {}),
          incident: {
            ...(a.active_version !== null ? { version: a.active_version } : {}),
            verdict: v,
            action: v.action as 'rollback',
            deadline_s: v.deadline_s ?? 300,
            default_action: v.default_action ?? 'rollback',
          },
        };
        const claim = await rollbacks.claim(initialView(incident), incident);
        result = claim.ok
          ? { ...result, action: 'open_incident', incident }
          : { ...result, note: `rollback ${claim.open_rollback_id} opened meanwhile` };
      }
    } else if (v.kind === 'breached' && v.severity === 'low') {
      const bucket = Math.floor(now.getTime() / 1000 / a.policy.alert_cooldown_s);
      await notifier.notify({
        key: `alert/${input.prompt}/${a.active_version ?? ''}/${v.rule}/${bucket}`,
        kind: 'alert',
        severity: 'low',
        prompt: input.prompt,
        title: `Watch: ${input.prompt} ${a.active_version ?? ''}`,
        message: v.summary,
        links: deps.links(input.prompt, ''),
        data: { verdict: v },
      });
      result = { ...result, action: 'alert' };
    }
    await monitors.recordCheck(input.prompt, {
      at: now.toISOString(),
      active_version: a.active_version,
      verdict: v,
      action: result.action,
    });
    return result;
  };
  const budget = deps.evaluationBudgetMs ?? DEFAULT_EVALUATION_BUDGET;
  const readTargetState = async (name: string): Promise<TargetState> => {
    const [prompt, versions] = await Promise.all([registry.getPrompt(name), registry.listVersions(name)]);
    return { prompt, versions };
  };
  const activities = {
    /** Re-judges a prompt's active version now: the incident's re-confirmation before an automatic switch. */
    async assessNow(input: { prompt: string }): Promise<Verdict> {
      return (await assessPrompt(deps, input.prompt)).verdict;
    },

    /**
     * A monitor's periodic checks in one long-running activity (MONITOR_CHECKS=activity; see monitor-loop.ts): it
     * returns when a check needs the workflow, or after `max_checks`. Each attempt claims incidents under an identity
     * of its own (run, activity id and attempt): an attempt that claimed one and was lost leaves a monitor's claim no
     * workflow saved, which the next check, the fast path or the reconciler starts.
     */
    monitorChecks(input: MonitorChecksInput): Promise<MonitorChecksResult<MonitorCheck>> {
      const ctx = Context.current();
      const { info } = ctx;
      const suffix = claimSuffix(`${info.workflowExecution?.runId ?? ''}/${info.activityId}/${info.attempt}`);
      return runMonitorChecks(
        input,
        () => checkMonitor({ prompt: input.prompt, source: 'tick' }, { suffix, scheduledMs: clock.now().getTime(), fresh: true }),
        {
          sleep: (ms) => ctx.sleep(ms),
          heartbeat: (d) => ctx.heartbeat(d),
          nowMs: () => clock.now().getTime(),
          cancelled: () => ctx.cancellationSignal.aborted,
          stoppedBy: async () => {
            const m = await monitors.get(input.prompt);
            return m?.status === 'stopped' ? { by: m.stopped_by ?? 'unknown', at: m.updated_at } : undefined;
          },
        },
      );
    },

    /** One monitor check (see checkMonitor), by the monitor's workflow (a local activity) or the API's fast path. */
    monitorCheck(input: Parameters<typeof checkMonitor>[0]): Promise<MonitorCheck> {
      return checkMonitor(input, checkIdentity());
    },

    /** What choosing a rollback's target reads: the prompt and its versions, together (one round trip, not two). */
    readTargetState(input: { prompt: string }): Promise<TargetState> {
      return readTargetState(input.prompt);
    },

    /**
     * Validates the requested target, or picks the last known-good version when none was named. From `state` when the
     * caller read it already (readTargetState, the one step: with its other reads), else read now.
     */
    async chooseTarget(input: ChooseTargetInput, state?: TargetState): Promise<TargetChoice> {
      // One budget for the whole choice, however many candidates fail their tests: once it is spent, the next
      // candidate is chosen without its test (the activity's own timeout is well above the budget).
      const budgetMs = input.critical ? budget.critical : budget.other;
      const deadline = Date.now() + budgetMs;
      const late = `the baseline tests gave no answer within their budget (${Math.round(budgetMs / 1000)} s); chosen without it`;
      // A version whose baseline test already passed is not tested again: a critical rollback cannot wait for it.
      const evaluate = async (prompt: string, v: VersionRecord): Promise<Evaluation | undefined> => {
        if (!deps.evaluator || v.known_good === true) return undefined;
        const left = deadline - Date.now();
        if (left <= 0) return notJudged(late);
        return evaluateSafely(prompt, v, left, late);
      };
      return domain(async () => {
        const { prompt, versions } = state ?? (await readTargetState(input.prompt));
        if (!prompt) throw new DomainError('UnknownPrompt', `no prompt named ${input.prompt}`, { prompt: input.prompt });
        if (input.target_version !== undefined) {
          if (!versions.some((v) => v.version === input.target_version)) {
            throw new DomainError('UnknownVersion', `prompt ${input.prompt} has no version ${input.target_version}`, {
              prompt: input.prompt,
              version: input.target_version,
            });
          }
          // An operator's named target is not refused: its test result goes into the timeline (after the switch, for
          // workflows that ask so: testTarget).
          const named = versions.find((v) => v.version === input.target_version)!;
          const evaluation = input.named_test_after_switch ? undefined : await evaluate(input.prompt, named);
          return {
            from_version: prompt.active_version,
            to_version: input.target_version,
            skipped: [],
            ...(evaluation ? { evaluation } : {}),
          };
        }
        // No target named: the newest earlier known-good version. Its baseline test runs first; one that fails is
        // marked and skipped, and the next candidate is tried.
        let list = versions;
        const failed = new Map<string, string>();
        for (;;) {
          const choice = knownGoodTarget(list, prompt.active_version);
          const skipped = choice.skipped.map((s) =>
            failed.has(s.version) ? { version: s.version, why: `failed its baseline test: ${failed.get(s.version)}` } : s,
          );
          if (!choice.target) {
            throw new DomainError(
              'NoKnownGoodVersion',
              `prompt ${input.prompt} has no known-good version before ${prompt.active_version ?? 'the active one'}`,
              {
                prompt: input.prompt,
                skipped,
              },
            );
          }
          const candidate = list.find((v) => v.version === choice.target)!;
          const evaluation = await evaluate(input.prompt, candidate);
          if (evaluation?.passed === false) {
            await registry.setKnownGood(input.prompt, candidate.version, false, `evaluator:${evaluation.evaluator}`, evaluation.detail);
            failed.set(candidate.version, evaluation.detail);
            list = list.map((v) => (v.version === candidate.version ? { ...v, known_good: false } : v));
            continue;
          }
          if (evaluation?.passed === true && candidate.known_good !== true) {
            await registry.setKnownGood(input.prompt, candidate.version, true, `evaluator:${evaluation.evaluator}`, evaluation.detail);
          }
          return { from_version: prompt.active_version, to_version: candidate.version, skipped, ...(evaluation ? { evaluation } : {}) };
        }
      });
    },

    /**
     * A named target's baseline test, after the switch: its result for the timeline (null when no evaluator is
     * configured, or the version already passed one). Never throws for the evaluator: a broken or slow one is "not
     * judged", within the budget.
     */
    async testTarget(input: { prompt: string; version: string }): Promise<Evaluation | null> {
      if (!deps.evaluator) return null;
      const v = await registry.getVersion(input.prompt, input.version);
      if (!v || v.known_good === true) return null;
      return evaluateSafely(input.prompt, v, budget.other, `baseline test gave no answer within ${Math.round(budget.other / 1000)} s`);
    },

    /** Metrics of one version over the last `window_s` seconds. */
    async readWindow(input: { prompt: string; version: string; window_s: number }): Promise<WindowStats> {
      const to = clock.now();
      return metrics.window(input.prompt, input.version, new Date(to.getTime() - input.window_s * 1000), to);
    },

    /** The switch a rollback already made, read from its audit row (one per rollback id); undefined before it. */
    async switchMade(input: { prompt: string; rollback_id: string }): Promise<SwitchResult | undefined> {
      const row = await auditedSwitch(registry, input.rollback_id);
      return row && row.prompt === input.prompt && row.to_version !== null
        ? { switched: false, from: row.from_version, to: row.to_version, at: row.at }
        : undefined;
    },

    /** Switches all traffic, writes the audit row; keyed by the rollback id, so a retry changes nothing. */
    async switchActiveVersion(input: {
      prompt: string;
      to: string;
      rollback_id: string;
      actor: string;
      reason: string;
      /** The from-version's own metrics breached (or an operator rolled it back): mark it rolled back from. */
      mark_from_rolled_back?: boolean;
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
          ...(input.mark_from_rolled_back !== undefined ? { mark_from_rolled_back: input.mark_from_rolled_back } : {}),
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
      const prompt = await registry.getPrompt(input.prompt);
      // One meaning of "enough samples": the prompt's policy, as its monitor judges it.
      const minSamples = resolvePolicy(prompt?.policy ?? {}).min_samples;
      let stats: WindowStats;
      try {
        stats = await metrics.window(input.prompt, input.version, from, to);
      } catch (e) {
        // A provider that cannot answer is this check's `error`; the workflow asks again at its next interval.
        const window_s = Math.round((to.getTime() - from.getTime()) / 1000);
        return unreadableCheck(
          { rule: 'verification.error_rate', metric: 'error_rate', threshold: input.policy.max_error_rate, window_s },
          unavailableReason(e),
        );
      }
      return judgeRecovery(stats, { ...input.policy, min_samples: minSamples });
    },

    /**
     * The metric that triggered the incident (p99 latency, quality), on the target version over the policy
     * window since the switch, judged against the incident's baseline and the alert threshold.
     */
    async checkIncidentMetric(input: {
      prompt: string;
      version: string;
      since: string;
      trigger: IncidentTrigger;
    }): Promise<Verdict & { same_breach: boolean }> {
      const prompt = await registry.getPrompt(input.prompt);
      const policy = resolvePolicy(prompt?.policy ?? {});
      const to = clock.now();
      const from = new Date(Math.max(Date.parse(input.since), to.getTime() - policy.window_s * 1000));
      const a = policy.alerts.mature;
      const alert =
        input.trigger.metric === 'latency_p99_ratio'
          ? 1 + a.latency_p99_increase
          : input.trigger.metric === 'quality_drop'
            ? a.quality_drop
            : a.error_rate;
      let stats: WindowStats;
      try {
        stats = await metrics.window(input.prompt, input.version, from, to);
      } catch (e) {
        const base = {
          rule: `verification.${input.trigger.rule}`,
          metric: input.trigger.metric,
          threshold: alert,
          window_s: policy.window_s,
        };
        return { ...unreadableCheck(base, unavailableReason(e)), same_breach: false };
      }
      return judgeIncidentMetric(stats, input.trigger, alert, policy.min_samples);
    },

    /**
     * Queues a notification with its links (status URL, Web UI workflow); returns where it went and the links. A page
     * the store cannot take (an outage, or no answer within the attempt's time) is sent directly (directPager) and the
     * attempt still fails, so that a later one queues it once the store answers. Where it went rides in the attempt's
     * heartbeat details (recorded after each channel that took it), which the next attempt gets on whichever worker it
     * runs, so that each channel is sent the page once and the row records it. Everything this attempt does ends before
     * its start-to-close timeout: an attempt the server gave up on sends nothing.
     */
    async notify(
      n: Omit<Notification, 'links' | 'sent_directly'> & { rollback_id: string },
    ): Promise<{ id: string; channel: string; links: Record<string, string> }> {
      const links = deps.links(n.prompt, n.rollback_id);
      const ctx = Context.current();
      // What an earlier attempt's heartbeat recorded (none if it recorded nothing usable).
      const already = directDeliveriesIn((ctx.info.heartbeatDetails as Partial<DirectPageProgress> | undefined)?.sent_directly);
      const full: Notification = { ...n, links, ...(already.length > 0 ? { sent_directly: already } : {}) };
      // The timeout runs from the attempt's start: measured here, on this clock (the server's may differ).
      const timeout = ctx.info.startToCloseTimeoutMs;
      const until = timeout > 0 ? Date.now() + timeout - ATTEMPT_MARGIN_MS : Number.POSITIVE_INFINITY;
      try {
        // Past storeUntil the insert is not committed even if the store answers later (the page may have gone directly).
        const storeUntil = Math.min(until, Date.now() + STORE_ANSWER_MS);
        const queued = bounded(
          notifier.notify(full, { until: storeUntil }),
          storeUntil - Date.now(),
          () => new DeadlinePassed('the store did not answer in time'),
        );
        return { ...(await queued), links };
      } catch (e) {
        const timedOut = e instanceof DeadlinePassed;
        if (n.kind === 'page' && deps.directPager && (timedOut || deps.isStoreOutage?.(e)) && Date.now() < until - MIN_DIRECT_MS) {
          try {
            await deps.directPager.page(full, already, {
              until,
              sent: (list) => ctx.heartbeat({ sent_directly: list } satisfies DirectPageProgress),
            });
          } catch (pageError) {
            ctx.log.error('the page could not be sent directly', { key: n.key, error: String(pageError) });
          }
        }
        if (timedOut) throw ApplicationFailure.retryable(e.message, STORE_UNAVAILABLE);
        throw e;
      }
    },

    async monitorStopped(input: { prompt: string; by: string }): Promise<void> {
      const m = await monitors.get(input.prompt);
      if (m) await monitors.upsert({ ...m, status: 'stopped', stopped_by: input.by, updated_at: clock.now().toISOString() });
    },

    /** Persists the workflow's view so the API can list and read rollbacks without a running worker. */
    async saveRollback(view: RollbackView): Promise<void> {
      await rollbacks.save(view);
    },

    ...createStagedActivities(deps),
    ...createRetentionActivities(deps),
    ...createStorageActivities(deps),
    ...createGroupActivities(deps),
  };
  return {
    ...activities,
    /** Re-confirmation, target, group plan and switch in one activity (see one-step.ts): the switch path's shortcut. */
    switchInOneStep: (input: OneStepInput): Promise<OneStepResult> => switchInOneStep(activities, input),
  };
}

export type Activities = ReturnType<typeof createActivities>;
