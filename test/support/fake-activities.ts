import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { runMonitorChecks, type MonitorChecksInput } from '../../src/activities/monitor-loop';
import type { Activities, MonitorCheck } from '../../src/activities';
import { switchInOneStep, type OneStepInput } from '../../src/activities/one-step';
import type { GroupPlan } from '../../src/activities/group';
import type { Verdict } from '../../src/domain/verdict';
import type { CanaryJudgement } from '../../src/domain/stages';
import type { Deployment } from '../../src/ports/registry';
import type { RollbackView } from '../../src/domain/rollback';
import { STORE_UNAVAILABLE } from '../../src/domain/errors';
import { judgeRecovery, unreadableCheck, type VerificationPolicy } from '../../src/domain/verification';
import type { WindowStats } from '../../src/domain/verdict';
import type { Notification } from '../../src/ports/notifier';

export interface FakeWorld {
  active: string;
  versions: string[];
  /** What each verification check sees, in order; the last one repeats. `unreadable`: the metrics provider did not answer. */
  checks: Array<Pick<WindowStats, 'requests' | 'errors'> | typeof UNREADABLE>;
  /** Every `switchActiveVersion` call that switched, duplicates included: two for one rollback is a bug a test must see. */
  switches: { to: string; rollback_id: string }[];
  notifications: Array<Omit<Notification, 'links'>>;
  saved: RollbackView[];
  switchFails?: boolean;
  /** What `assessNow` answers (re-confirmation, end of observation), in order; the last one repeats. */
  assessments?: Verdict[];
  /** What each monitor check answers, in order; the last one repeats. */
  monitorChecks?: MonitorCheck[];
  monitorCheckCalls?: { prompt: string; source: string }[];
  /** Every `monitorChecks` (a monitor's loop of checks) started, in order. */
  loopCalls?: MonitorChecksInput[];
  /** Every `monitorChecks` fails for good with this message (as a timeout no retry fixes would). */
  loopFails?: string;
  /** The monitor's row says stopped, by this person (the loop reads it before every check). */
  storeStoppedBy?: string;
  /** How long the loop sleeps between checks at most (default 20 ms: real time, the test server cannot skip it). */
  loopSleepMs?: number;
  stoppedBy?: string;
  /** Every successful `switchActiveVersion` call with the actor the audit row records (additive to `switches`). */
  switchCalls?: { to: string; rollback_id: string; actor: string; reason: string }[];
  /** How many times `assessNow` was called (re-confirmation, end of observation). */
  assessNowCalls?: number;
  /** Traffic splits set by staged moves, in order. */
  splits?: { split: { version: string; percent: number }[]; key: string }[];
  /** What each combined-window read (gradual checks) sees, in order; the last one repeats. */
  combined?: Array<Pick<WindowStats, 'requests' | 'errors'>>;
  /** What each canary stage judgement answers, in order; the last one repeats. */
  canary?: CanaryJudgement[];
  deployments?: Deployment[];
  /** What `planGroup` answers (coordinated rollbacks). */
  group?: GroupPlan;
  /** Prompts whose switch fails (group members). */
  switchFailsFor?: string[];
  reverts?: { prompt: string; to: string; key: string }[];
  /** The switch each rollback id made (what the audit row keeps), as `switchMade` reads it. */
  made?: Record<string, { switched: false; from: string | null; to: string; at: string }>;
  /** The store refuses canary steps after this many splits (a rollback aborted the deployment), with this reason. */
  deploymentAborted?: { afterSplits: number; reason: string };
  /**
   * What `readWindow` / `readTraffic` see per version, in order; the last one repeats. Default: the bad v2.0.0 at 30 %
   * errors, others healthy. `unreadable` (readTraffic only): the metrics provider did not answer.
   */
  windows?: Record<string, Array<Pick<WindowStats, 'requests' | 'errors'> | typeof UNREADABLE>>;
  /** What `checkIncidentMetric` answers (incidents on latency or quality), in order; the last one repeats. */
  incidentMetric?: Array<Verdict & { same_breach: boolean }>;
  /** `mark_from_rolled_back` of each main switch, in order. */
  marks?: (boolean | undefined)[];
  /** `critical` (and a test deferred past the switch) of each chooseTarget call. */
  targetCalls?: { critical?: boolean; named_test_after_switch?: boolean }[];
  /** What `testTarget` (a named target's test after the switch) answers; default null (no evaluator). 'fails': it throws. */
  targetTest?: { evaluator: string; passed: boolean | null; score: number | null; detail: string } | null | 'fails';
  /** The versions `testTarget` was asked about, in order. */
  targetTests?: string[];
  /** How long (wall clock) `testTarget` takes to answer. */
  targetTestDelayMs?: number;
  /**
   * The store cannot be used for this many calls of chooseTarget and switchActiveVersion (together): each fails with
   * the failure type the worker gives a store outage (STORE_UNAVAILABLE), then the store answers again.
   */
  storeDownCalls?: number;
  /** Fail this many revertSwitch calls (retryably) before undoing (a registry briefly down). */
  revertFailures?: number;
  /** planGroup fails (retryably) every time. */
  planGroupFails?: boolean;
  /** Fail this many notify calls (retryably) before queuing. */
  notifyFailures?: number;
  /** Every notify call fails (retryably) while the store is down (storeDownCalls left): the outbox is in the store. */
  outboxInStore?: boolean;
  /** Every notify call in order, and whether it queued the notification. */
  notifyAttempts?: { title: string; queued: boolean }[];
}

/** A read the metrics provider could not answer (Prometheus down): the activities' `error` answer. */
export const UNREADABLE = 'unreadable' as const;
const PROVIDER_DOWN = 'prometheus could not answer: connect ECONNREFUSED 127.0.0.1:9090';

/** The incident's own metric (latency, quality) back within its alert threshold on the target. */
export const RECOVERED_METRIC: Verdict & { same_breach: boolean } = {
  kind: 'healthy',
  rule: 'verification.incident_metric',
  metric: 'latency_p99_ratio',
  threshold: 1.2,
  observed: 1.0,
  window_s: 300,
  samples: 400,
  summary: 'recovered: p99 latency ratio 1.00× ≤ 1.20× over 400 samples',
  same_breach: false,
};

/** customer-support on v2.0.0 with v1.9.0 before it; verification sees healthy traffic unless told otherwise. */
export const fakeWorld = (over: Partial<FakeWorld> = {}): FakeWorld => ({
  active: 'v2.0.0',
  versions: ['v1.9.0', 'v2.0.0'],
  checks: [{ requests: 100, errors: 0 }],
  switches: [],
  notifications: [],
  saved: [],
  ...over,
});

/** Plain in-memory activities for workflow tests on the time-skipping server. */
export function fakeActivities(world: FakeWorld): Activities {
  let check = 0;
  let assessment = 0;
  let monitorCheck = 0;
  const stats = (s: Pick<WindowStats, 'requests' | 'errors'>, window_s: number): WindowStats => ({
    ...s,
    error_rate: s.requests === 0 ? null : s.errors / s.requests,
    latency_ms: { p50: 100, p95: 200, p99: 300 },
    quality_mean: null,
    quality_samples: 0,
    window_s,
  });
  let combined = 0;
  /** Throws as the worker throws a store outage while the fake store is down (world.storeDownCalls). */
  const storeAnswers = (): void => {
    if ((world.storeDownCalls ?? 0) <= 0) return;
    world.storeDownCalls! -= 1;
    throw ApplicationFailure.retryable('the database did not answer: connect ECONNREFUSED 127.0.0.1:5432', STORE_UNAVAILABLE);
  };
  let incidentMetric = 0;
  const windowReads: Record<string, number> = {};
  let canary = 0;
  const nextWindow = (version: string): Pick<WindowStats, 'requests' | 'errors'> | typeof UNREADABLE => {
    const list = world.windows?.[version];
    if (!list) return version === 'v2.0.0' ? { requests: 100, errors: 30 } : { requests: 100, errors: 0 };
    const n = (windowReads[version] = (windowReads[version] ?? -1) + 1);
    return list[Math.min(n, list.length - 1)]!;
  };
  const fakes = {
    setTraffic(req: { split: { version: string; percent: number }[]; key: string }) {
      const splits = (world.splits ??= []);
      if (world.deploymentAborted && splits.length >= world.deploymentAborted.afterSplits) {
        return Promise.reject(ApplicationFailure.nonRetryable(world.deploymentAborted.reason, 'DeploymentAborted'));
      }
      if (splits.some((s) => s.key === req.key)) return Promise.resolve({ changed: false });
      splits.push({ split: req.split, key: req.key });
      const whole = req.split.filter((s) => s.percent > 0);
      if (whole.length === 1) world.active = whole[0]!.version;
      return Promise.resolve({ changed: true });
    },
    readCombinedWindow(input: { window_s: number }) {
      const list = world.combined ?? [{ requests: 100, errors: 0 }];
      const c = list[Math.min(combined, list.length - 1)]!;
      combined += 1;
      return Promise.resolve(stats(c, input.window_s));
    },
    judgeCanaryStage(input: { unreadable?: 'report' }) {
      const list = world.canary ?? [];
      const j = list[Math.min(canary, list.length - 1)];
      canary += 1;
      if (!j) throw ApplicationFailure.nonRetryable('no canary judgement scripted', 'TestSetup');
      // As the real activity: an unreadable provider is an answer only when the rollout asks for one, else a retried failure.
      if (j.outcome === 'error' && input.unreadable !== 'report') return Promise.reject(new Error(PROVIDER_DOWN));
      return Promise.resolve(j);
    },
    switchForDeploy(input: { to: string; deployment_id: string }) {
      if (world.deploymentAborted && (world.splits ?? []).length >= world.deploymentAborted.afterSplits) {
        return Promise.reject(ApplicationFailure.nonRetryable(world.deploymentAborted.reason, 'DeploymentAborted'));
      }
      const from = world.active;
      world.active = input.to;
      (world.splits ??= []).push({ split: [{ version: input.to, percent: 100 }], key: input.deployment_id });
      return Promise.resolve({ switched: true, from, to: input.to, at: new Date().toISOString() });
    },
    retentionPass() {
      return Promise.resolve({ prompts: 0, archived: [], purged: [], kept: [] });
    },
    storagePass() {
      const none = { rows: 0, batches: 0, more: false, before: new Date(0).toISOString() };
      return Promise.resolve({
        at: new Date().toISOString(),
        metrics_rolled_up: none,
        metrics_dropped: none,
        outbox_deleted: none,
        rollbacks_deleted: none,
        duration_ms: 0,
      });
    },
    recordDeployment(d: Deployment) {
      (world.deployments ??= []).push(structuredClone(d));
      return Promise.resolve();
    },
    assessNow() {
      world.assessNowCalls = (world.assessNowCalls ?? 0) + 1;
      const list = world.assessments ?? [];
      const v = list[Math.min(assessment, list.length - 1)];
      assessment += 1;
      if (!v) throw ApplicationFailure.nonRetryable('no assessment scripted', 'TestSetup');
      return Promise.resolve(v);
    },
    monitorCheck(input: { prompt: string; source: 'tick' | 'fast_path' }) {
      (world.monitorCheckCalls ??= []).push(input);
      const list = world.monitorChecks ?? [];
      const r = list[Math.min(monitorCheck, list.length - 1)];
      monitorCheck += 1;
      if (!r) throw ApplicationFailure.nonRetryable('no monitor check scripted', 'TestSetup');
      return Promise.resolve(r);
    },
    /** The real loop of checks (monitor-loop.ts) over the scripted checks, with short sleeps. */
    monitorChecks(input: MonitorChecksInput) {
      (world.loopCalls ??= []).push(input);
      if (world.loopFails) throw ApplicationFailure.nonRetryable(world.loopFails, 'TestSetup');
      const ctx = Context.current();
      return runMonitorChecks(input, () => fakes.monitorCheck({ prompt: input.prompt, source: 'tick' }), {
        sleep: (ms) => ctx.sleep(Math.min(ms, world.loopSleepMs ?? 20)),
        heartbeat: (d) => ctx.heartbeat(d),
        nowMs: () => Date.now(),
        cancelled: () => ctx.cancellationSignal.aborted,
        // Recorded after the run started: when this attempt was scheduled, on the server's (skipped) clock.
        stoppedBy: () =>
          Promise.resolve(
            world.storeStoppedBy
              ? { by: world.storeStoppedBy, at: new Date(ctx.info.currentAttemptScheduledTimestampMs).toISOString() }
              : undefined,
          ),
      });
    },
    monitorStopped(input: { prompt: string; by: string }) {
      world.stoppedBy = input.by;
      return Promise.resolve();
    },
    // The world is the fake's registry: the state read for the choice carries nothing the choice needs.
    readTargetState() {
      return Promise.resolve({ prompt: undefined, versions: [] });
    },
    chooseTarget(input: { prompt: string; target_version?: string; critical?: boolean; named_test_after_switch?: boolean }) {
      storeAnswers();
      (world.targetCalls ??= []).push({
        ...(input.critical !== undefined ? { critical: input.critical } : {}),
        ...(input.named_test_after_switch !== undefined ? { named_test_after_switch: input.named_test_after_switch } : {}),
      });
      if (input.target_version !== undefined && !world.versions.includes(input.target_version)) {
        throw ApplicationFailure.nonRetryable(`no version ${input.target_version}`, 'UnknownVersion');
      }
      return Promise.resolve({ from_version: world.active, to_version: input.target_version ?? world.versions[0]!, skipped: [] });
    },
    async testTarget(input: { prompt: string; version: string }) {
      (world.targetTests ??= []).push(input.version);
      if (world.targetTestDelayMs) await new Promise((r) => setTimeout(r, world.targetTestDelayMs));
      if (world.targetTest === 'fails') throw ApplicationFailure.nonRetryable('registry unreachable', 'Error');
      return world.targetTest ?? null;
    },
    readWindow(input: { version: string; window_s: number }) {
      const w = nextWindow(input.version);
      if (w === UNREADABLE) return Promise.reject(new Error(PROVIDER_DOWN));
      return Promise.resolve(stats(w, input.window_s));
    },
    readTraffic(input: { version: string; window_s: number; blended_with?: string[] }) {
      const w = nextWindow(input.version);
      if (w === UNREADABLE) return Promise.resolve({ kind: 'error' as const, error: PROVIDER_DOWN });
      const list = world.combined ?? [{ requests: 100, errors: 0 }];
      const c = list[Math.min(combined, list.length - 1)]!;
      if (input.blended_with) combined += 1;
      return Promise.resolve({
        kind: 'read' as const,
        window: stats(w, input.window_s),
        ...(input.blended_with ? { blended: stats(c, input.window_s) } : {}),
      });
    },
    checkIncidentMetric() {
      const list = world.incidentMetric ?? [RECOVERED_METRIC];
      const v = list[Math.min(incidentMetric, list.length - 1)]!;
      incidentMetric += 1;
      return Promise.resolve(v);
    },
    planGroup() {
      if (world.planGroupFails) return Promise.reject(new Error('related prompts could not be read'));
      return Promise.resolve(world.group ?? { members: [], not_joining: [] });
    },
    revertSwitch(input: { prompt: string; to: string; key: string }) {
      if ((world.revertFailures ?? 0) > 0) {
        world.revertFailures! -= 1;
        return Promise.reject(new Error('registry unavailable'));
      }
      (world.reverts ??= []).push({ prompt: input.prompt, to: input.to, key: input.key });
      return Promise.resolve({ switched: true, from: null, to: input.to, at: new Date().toISOString() });
    },
    switchActiveVersion(input: {
      prompt: string;
      to: string;
      rollback_id: string;
      actor: string;
      reason: string;
      mark_from_rolled_back?: boolean;
    }) {
      storeAnswers();
      if (world.switchFails) throw new Error('registry unavailable');
      if (world.switchFailsFor?.includes(input.prompt))
        throw ApplicationFailure.nonRetryable(`registry refused ${input.prompt}`, 'UnknownVersion');
      (world.switchCalls ??= []).push({ to: input.to, rollback_id: input.rollback_id, actor: input.actor, reason: input.reason });
      if (!input.rollback_id.includes('/')) (world.marks ??= []).push(input.mark_from_rolled_back);
      const from = world.active;
      // Every call is recorded (no dedupe here): a test that sees two switches for one rollback fails.
      world.switches.push({ to: input.to, rollback_id: input.rollback_id });
      const at = new Date().toISOString();
      (world.made ??= {})[input.rollback_id] = { switched: false, from, to: input.to, at };
      world.active = input.to;
      return Promise.resolve({ switched: true, from, to: input.to, at });
    },
    /** The store's answer: the switch recorded for this rollback id, as the audit row keeps it. */
    switchMade(input: { prompt: string; rollback_id: string }) {
      return Promise.resolve(world.made?.[input.rollback_id]);
    },
    checkRecovery(input: { window_s: number; policy: VerificationPolicy }) {
      const s = world.checks[Math.min(check, world.checks.length - 1)] ?? { requests: 0, errors: 0 };
      check += 1;
      if (s === UNREADABLE) {
        const base = {
          rule: 'verification.error_rate',
          metric: 'error_rate',
          threshold: input.policy.max_error_rate,
          window_s: input.window_s,
        };
        return Promise.resolve(unreadableCheck(base, PROVIDER_DOWN));
      }
      return Promise.resolve(judgeRecovery(stats(s, input.window_s), input.policy));
    },
    notify(n: Omit<Notification, 'links'> & { rollback_id: string }) {
      const attempts = (world.notifyAttempts ??= []);
      if (world.outboxInStore && (world.storeDownCalls ?? 0) > 0) {
        attempts.push({ title: n.title, queued: false });
        return Promise.reject(
          ApplicationFailure.retryable('the database did not answer: connect ECONNREFUSED 127.0.0.1:5432', STORE_UNAVAILABLE),
        );
      }
      attempts.push({ title: n.title, queued: true });
      if ((world.notifyFailures ?? 0) > 0) {
        world.notifyFailures! -= 1;
        return Promise.reject(new Error('outbox unavailable'));
      }
      world.notifications.push(n);
      return Promise.resolve({ id: String(world.notifications.length), channel: n.kind === 'page' ? 'on-call' : '#incidents', links: {} });
    },
    saveRollback(view: RollbackView) {
      world.saved.push(structuredClone(view));
      return Promise.resolve();
    },
  };
  // The one-step switch composed of the fakes above, as the real one is of the real activities.
  return { ...fakes, switchInOneStep: (input: OneStepInput) => switchInOneStep(fakes, input) };
}
