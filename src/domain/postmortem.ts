import { isEvent, switchCommittedAt } from './timeline';
import type { RollbackMode, RollbackStatus, RollbackView, Severity, TimelineEntry, Trigger } from './rollback';

/**
 * The seed's last runbook step: "Post-mortem. Document what happened; plan preventive measures." Built from a
 * finished rollback's own record (its timeline), never from guesses: a number the record cannot give is null.
 */

/** One audit row of the rollback, as the registry stored it. */
export interface PostMortemAuditRow {
  at: string;
  actor: string;
  action: string;
  reason: string;
}

/** What the rollback's view does not hold, looked up by the caller. */
export interface PostMortemContext {
  /** When the version rolled back from was deployed (registry), if known. */
  deployed_at?: string | null;
  /** The start of each version's template, to show what changed. */
  from_template_excerpt?: string;
  to_template_excerpt?: string;
  /** The baseline-test result recorded for the version rolled back from: passed, failed, or never tested (null). */
  from_known_good?: boolean | null;
  audit?: PostMortemAuditRow[];
}

/** Metrics at one moment, from a verdict (detection, re-confirmation, verification) or a raw window (operator's rollback). */
export interface MetricsSnapshot {
  at: string;
  /** The timeline event it comes from. */
  source: string;
  version: string | null;
  /** The verdict's kind; null for a raw window. */
  kind: string | null;
  /** The metric a verdict judged (error_rate, quality_drop, latency_p99_ratio, …); null for a raw window. */
  metric: string | null;
  observed: number | null;
  threshold: number | null;
  baseline: number | null;
  requests: number | null;
  window_s: number | null;
  error_rate: number | null;
  latency_p99_ms: number | null;
  quality_mean: number | null;
  summary: string;
}

export interface PostMortemDecision {
  at: string;
  who: string;
  what: string;
  comment: string | null;
}

export type PostMortemQuestionId = 'what_changed' | 'did_it_pass_tests' | 'how_to_prevent';

/** One of the seed's post-mortem questions, pre-filled with what the record knows; people answer the rest. */
export interface PostMortemQuestion {
  id: PostMortemQuestionId;
  question: string;
  /** Facts from the record. */
  known: string[];
  /** The answer when the record has it; null: to be answered. */
  answer: string | null;
  /** What a person still has to answer, whatever the record says. */
  follow_up: string | null;
  /** Ideas to consider (prevention), drawn from the seed. */
  suggestions: string[];
  /** Template excerpts (what changed), when the caller had them. */
  excerpts: { version: string | null; text: string }[];
}

/**
 * A type alias, not an interface, so it is assignable to `RollbackView.post_mortem` (a plain JSON object).
 * Durations are seconds; null when the record cannot tell.
 */
export type PostMortem = {
  rollback_id: string;
  prompt: string;
  status: RollbackStatus;
  /** The event that ended it: recovered, not_recovered, verification_inconclusive, closed, cleared, switch_failed, … */
  outcome: string;
  severity: Severity;
  summary: string;
  from_version: string | null;
  to_version: string | null;
  reason: string;
  mode: RollbackMode;
  trigger: (Trigger & { rule: string | null }) | null;
  requested_by: string;
  decided_by: string | null;
  /** How the rollback was decided: operator (the request is the decision), approved, rejected, deadline, automatic, cleared. */
  decision: string | null;
  deployed_at: string | null;
  detected_at: string | null;
  decided_at: string | null;
  switched_at: string | null;
  recovered_at: string | null;
  ended_at: string | null;
  /** Deploy of the bad version → the incident's detection; null for an operator's rollback (nothing was detected). */
  time_to_detect_s: number | null;
  /** Detection → decision (approve, reject, deadline default, or the automatic rollback). */
  time_to_decide_s: number | null;
  /** Detection → traffic switched: the seed's goal is under 5 min, ideally under 1. */
  time_to_switch_s: number | null;
  /** Switch → recovery verified. */
  time_to_restore_s: number | null;
  /** First → last timeline entry. */
  total_s: number | null;
  metrics_before: MetricsSnapshot | null;
  metrics_after: MetricsSnapshot | null;
  decisions: PostMortemDecision[];
  audit: PostMortemAuditRow[];
  timeline: TimelineEntry[];
  questions: PostMortemQuestion[];
};

/** Events that end a rollback, most specific first when several are present. */
const ENDING_EVENTS = [
  'recovered',
  'not_a_prompt_regression',
  'not_recovered',
  'verification_inconclusive',
  'group_failed_compensated',
  'closed',
  'cleared',
  'aborted',
  'switch_failed',
  'target_rejected',
  'start_failed',
] as const;

/** Events whose detail describes the bad version's metrics before the switch. */
const BEFORE_EVENTS = ['metrics_before', 'detected', 'worsened', 'breach_update', 'observation_ended', 'reconfirmed'];

const str = (d: Record<string, unknown>, k: string): string | null => {
  const v = d[k];
  return typeof v === 'string' ? v : null;
};
const num = (d: Record<string, unknown>, k: string): number | null => {
  const v = d[k];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};
const obj = (d: Record<string, unknown>, k: string): Record<string, unknown> | null => {
  const v = d[k];
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
};

/** Seconds from a to b; null when either is missing or unparsable, or b is before a (clocks disagree: not a number to trust). */
export function secondsBetween(a: string | null | undefined, b: string | null | undefined): number | null {
  if (!a || !b) return null;
  const ms = Date.parse(b) - Date.parse(a);
  if (!Number.isFinite(ms) || ms < 0) return null;
  return Math.round(ms) / 1000;
}

const pct = (x: number): string => `${(x * 100).toFixed(2)} %`;

/** A metric's value as people read it. */
export function formatMetric(metric: string | null, v: number | null): string {
  if (v === null) return '—';
  if (metric === 'error_rate' || metric === 'quality_drop') return pct(v);
  if (metric === 'latency_p99_ratio') return `${v.toFixed(2)}×`;
  return String(v);
}

/** A verdict's baseline is in the baseline's own unit: an error rate, a p99 in ms, a mean quality score. */
const formatBaseline = (metric: string, b: number): string =>
  metric === 'error_rate'
    ? pct(b)
    : metric === 'latency_p99_ratio'
      ? `p99 ${b} ms`
      : metric === 'quality_drop'
        ? `quality ${b.toFixed(3)}`
        : String(b);

function snapshot(e: TimelineEntry, version: string | null): MetricsSnapshot {
  const d = e.detail;
  const latency = obj(d, 'latency_ms');
  if (e.event === 'metrics_before') {
    const requests = num(d, 'requests');
    const errorRate = num(d, 'error_rate');
    const windowS = num(d, 'window_s');
    const p99 = latency ? num(latency, 'p99') : null;
    return {
      at: e.at,
      source: e.event,
      version: str(d, 'version') ?? version,
      kind: null,
      metric: null,
      observed: null,
      threshold: null,
      baseline: null,
      requests,
      window_s: windowS,
      error_rate: errorRate,
      latency_p99_ms: p99,
      quality_mean: num(d, 'quality_mean'),
      summary:
        errorRate === null
          ? `no requests in ${windowS ?? '?'} s`
          : `error rate ${pct(errorRate)} over ${requests ?? '?'} requests in ${windowS ?? '?'} s${p99 !== null ? `, p99 ${p99} ms` : ''}`,
    };
  }
  const metric = str(d, 'metric');
  const observed = num(d, 'observed');
  return {
    at: e.at,
    source: e.event,
    version,
    kind: str(d, 'kind'),
    metric,
    observed,
    threshold: num(d, 'threshold'),
    baseline: num(d, 'baseline'),
    requests: num(d, 'samples'),
    window_s: num(d, 'window_s'),
    error_rate: metric === 'error_rate' ? observed : null,
    latency_p99_ms: null,
    quality_mean: null,
    summary: str(d, 'summary') ?? `${metric ?? 'metric'} ${formatMetric(metric, observed)}`,
  };
}

function triggerFromVerdict(e: TimelineEntry | undefined): (Trigger & { rule: string | null }) | null {
  if (!e) return null;
  const d = e.detail;
  const metric = str(d, 'metric');
  const threshold = num(d, 'threshold');
  const window_s = num(d, 'window_s');
  const samples = num(d, 'samples');
  if (metric === null || threshold === null || window_s === null || samples === null) return null;
  return { metric, threshold, observed: num(d, 'observed'), window_s, samples, rule: str(d, 'rule') };
}

const describeTrigger = (t: Trigger & { rule: string | null }): string =>
  `${t.metric} ${formatMetric(t.metric, t.observed)} vs threshold ${formatMetric(t.metric, t.threshold)}${t.rule ? ` (${t.rule})` : ''} over ${t.samples} requests in ${t.window_s} s`;

/** Who decided what, read off the timeline. */
function decisionsOf(view: RollbackView, timeline: readonly TimelineEntry[], incident: boolean): PostMortemDecision[] {
  const out: PostMortemDecision[] = [];
  let decided = false;
  for (const e of timeline) {
    const d = e.detail;
    switch (e.event) {
      case 'requested':
        out.push({
          at: e.at,
          who: str(d, 'by') ?? view.requested_by,
          what: incident
            ? 'opened an incident'
            : `requested ${str(d, 'mode') ?? view.mode} rollback${view.to_version ? ` to ${view.to_version}` : ''}`,
          comment: str(d, 'reason') ?? view.reason,
        });
        if (!incident) decided = true;
        break;
      case 'approved':
      case 'rejected':
        out.push({
          at: e.at,
          who: str(d, 'by') ?? view.decided_by ?? 'not recorded',
          what: e.event === 'approved' ? 'approved the rollback ("execute rollback")' : 'rejected the rollback ("investigate")',
          comment: str(d, 'comment'),
        });
        decided = true;
        break;
      case 'deadline_passed': {
        const rollback = str(d, 'default_action') === 'rollback';
        out.push({
          at: e.at,
          who: 'system',
          what: `no decision by the deadline: escalated to tier ${num(d, 'tier') ?? '?'}${rollback ? ' and applied the default action (roll back)' : ', kept waiting'}`,
          comment: null,
        });
        if (rollback) decided = true;
        break;
      }
      case 'worsened':
        out.push({
          at: e.at,
          who: 'system',
          what: `breach worsened from ${str(d, 'from') ?? '?'} to ${str(d, 'severity') ?? '?'}`,
          comment: str(d, 'summary'),
        });
        break;
      case 'rolling_back':
        if (!decided) {
          out.push({
            at: e.at,
            who: str(d, 'decided_by') ?? 'system',
            what: `rolled back automatically (trigger table${str(d, 'mode') === 'gradual' ? ', gradual' : ''})`,
            comment: null,
          });
          decided = true;
        }
        break;
      case 'cleared':
        out.push({ at: e.at, who: 'system', what: 'cleared without a rollback', comment: str(d, 'why') });
        break;
      case 'paused': {
        const reason = str(d, 'reason');
        const by = reason ? /^paused by (.+)$/.exec(reason)?.[1] : undefined;
        const stage = num(d, 'stage');
        out.push({
          at: e.at,
          who: by ?? 'system',
          what: `paused the gradual rollback${stage !== null ? ` at stage ${stage + 1}` : ''}`,
          comment: by ? null : reason,
        });
        break;
      }
      case 'resumed':
        // Who resumed is in the `resume_requested` entry (API); a signal's resume is not attributed.
        if (!timeline.some((r) => r.event === 'resume_requested')) {
          out.push({ at: e.at, who: 'not recorded', what: 'resumed the gradual rollback', comment: null });
        }
        break;
      case 'pause_requested':
      case 'resume_requested':
      case 'abort_requested':
        if (isEvent(e, 'pause_requested', 'resume_requested', 'abort_requested')) {
          out.push({
            at: e.at,
            who: e.detail.by,
            what: `${{ pause_requested: 'paused', resume_requested: 'resumed', abort_requested: 'aborted' }[e.event]} the gradual rollback (API)`,
            comment: null,
          });
        }
        break;
      case 'gradual_cut_short':
        if (isEvent(e, 'gradual_cut_short')) {
          out.push({ at: e.at, who: 'system', what: `cut the gradual stages short: ${e.detail.traffic}`, comment: e.detail.summary });
        }
        break;
      case 'aborted':
        out.push({ at: e.at, who: str(d, 'by') ?? 'not recorded', what: 'aborted the gradual rollback', comment: str(d, 'traffic') });
        break;
    }
  }
  return out;
}

/** When and how the decision was made, and by whom. */
function decisionPoint(
  timeline: readonly TimelineEntry[],
  incident: boolean,
  requestedAt: string | null,
  requestedBy: string,
): { at: string | null; kind: string | null; by: string | null } {
  if (!incident) return { at: requestedAt, kind: 'operator', by: requestedBy };
  for (const e of timeline) {
    const d = e.detail;
    if (e.event === 'approved' || e.event === 'rejected') return { at: e.at, kind: e.event, by: str(d, 'by') };
    if (e.event === 'deadline_passed' && str(d, 'default_action') === 'rollback') return { at: e.at, kind: 'deadline', by: 'system' };
    if (e.event === 'rolling_back') return { at: e.at, kind: 'automatic', by: str(d, 'decided_by') ?? 'system' };
    if (e.event === 'cleared') return { at: e.at, kind: 'cleared', by: 'system' };
  }
  return { at: null, kind: null, by: null };
}

function summarize(
  view: RollbackView,
  outcome: string,
  incident: boolean,
  decision: { kind: string | null; by: string | null },
  restoreS: number | null,
  ending: TimelineEntry | undefined,
): string {
  const d = ending?.detail ?? {};
  const versions = `${view.from_version ?? '(version not recorded)'} → ${view.to_version ?? '(no target)'}`;
  const opened = incident
    ? `A ${view.severity} incident on ${view.prompt} (${view.reason})`
    : `${view.requested_by} rolled back ${view.prompt} ${versions} (${view.reason})`;
  const how = !incident
    ? ''
    : decision.kind === 'approved'
      ? `; ${decision.by ?? 'on-call'} approved the rollback ${versions}`
      : decision.kind === 'deadline'
        ? `; no decision by the deadline, so the system rolled back ${versions}`
        : decision.kind === 'automatic'
          ? `; the system rolled back ${versions} automatically`
          : '';
  switch (outcome) {
    case 'recovered':
      return `${opened}${how}. Recovery was verified${restoreS !== null ? ` ${restoreS} s after the switch` : ''}: ${str(d, 'summary') ?? 'recovered'}.`;
    case 'verification_inconclusive':
      return `${opened}${how}. Traffic was switched, but recovery could not be verified: ${str(d, 'summary') ?? 'no data'}.`;
    case 'not_recovered':
      return `${opened}${how}. Metrics did not recover after the switch (${str(d, 'summary') ?? 'no summary'}); escalated to on-call as critical.`;
    case 'group_failed_compensated':
      return `${opened}${how}. The coordinated rollback failed on ${str(d, 'failed') ?? 'a related prompt'} (${str(d, 'error') ?? 'no error recorded'}); every switch was undone, escalated as critical.`;
    case 'closed':
      return `${opened}; ${decision.by ?? 'on-call'} rejected the rollback to investigate. Nothing was switched.`;
    case 'cleared':
      return `${opened} cleared without a rollback: ${str(d, 'why') ?? 'no reason recorded'}.`;
    case 'aborted':
      return `${opened}${how}. The gradual rollback was aborted by ${str(d, 'by') ?? 'someone not recorded'}; ${str(d, 'traffic') ?? 'traffic stayed on the bad version'}.`;
    case 'switch_failed':
      return `${opened}${how}. The switch failed (${str(d, 'error') ?? 'no error recorded'}); traffic stayed on ${view.from_version ?? 'the bad version'}, escalated as critical.`;
    case 'target_rejected':
      return `${opened}${how}. No rollback target could be used: ${str(d, 'error') ?? 'no error recorded'}.`;
    case 'start_failed':
      return `${opened}. The rollback workflow could not be started: ${str(d, 'error') ?? 'no error recorded'}.`;
    default:
      return `${opened}${how}. It ended ${view.status}.`;
  }
}

function questionsOf(
  view: RollbackView,
  ctx: PostMortemContext,
  pm: Pick<PostMortem, 'outcome' | 'trigger' | 'time_to_detect_s' | 'time_to_switch_s' | 'deployed_at' | 'decision'>,
  timeline: readonly TimelineEntry[],
): PostMortemQuestion[] {
  const from = view.from_version;
  const to = view.to_version;
  const switched = timeline.some((e) => e.event === 'switched');

  const changed: string[] = [];
  changed.push(
    switched
      ? `${view.prompt} was switched from ${from ?? '(none)'} to ${to ?? '(none)'}.`
      : `Nothing was switched; ${from ? `${from} kept serving` : 'the version serving was not recorded in this incident'}.`,
  );
  if (pm.deployed_at && from) changed.push(`${from} was deployed at ${pm.deployed_at}.`);
  for (const m of view.group?.members ?? []) {
    changed.push(
      `Related prompt ${m.prompt} ${m.switched ? 'rolled back with it' : 'was to roll back with it'}: ${m.from_version} → ${m.to_version} (${m.summary}).`,
    );
  }
  for (const n of view.group?.not_joining ?? []) changed.push(`Related prompt ${n.prompt} did not join: ${n.why}.`);
  if (pm.trigger) changed.push(`Trigger: ${describeTrigger(pm.trigger)}.`);
  const excerpts: PostMortemQuestion['excerpts'] = [];
  if (ctx.from_template_excerpt !== undefined) excerpts.push({ version: from, text: ctx.from_template_excerpt });
  if (ctx.to_template_excerpt !== undefined) excerpts.push({ version: to, text: ctx.to_template_excerpt });

  const tested: string[] = [];
  const target = timeline.find((e) => e.event === 'target_selected');
  // An immediate rollback's named target is tested after the switch (its own event); otherwise with the choice.
  const testedAfter = timeline.find((e) => e.event === 'baseline_tested');
  const targetTest = testedAfter ? testedAfter.detail : target ? obj(target.detail, 'baseline_test') : null;
  if (targetTest) {
    const passed = targetTest.passed;
    tested.push(
      `Rollback target ${to ?? '?'} baseline test: ${passed === true ? 'passed' : passed === false ? 'failed' : 'not judged'}${str(targetTest, 'detail') ? ` (${str(targetTest, 'detail')})` : ''}.`,
    );
  }
  const knownGood = ctx.from_known_good;
  const answer =
    knownGood === true
      ? `yes — ${from ?? 'it'} passed its baseline test`
      : knownGood === false
        ? `no — ${from ?? 'it'} failed its baseline test`
        : 'unknown — no baseline test recorded';
  const followUp =
    knownGood === true
      ? "Why didn't the tests catch it?"
      : knownGood === false
        ? 'Why was it deployed although it failed its baseline test?'
        : "Was it tested another way (A/B test, staging)? If yes, why didn't that catch it?";

  const suggestions: string[] = [];
  if (pm.trigger || switched) {
    suggestions.push(
      `Roll new versions out as a canary (1 % → 5 % → 25 % → 100 %) instead of all at once: POST /api/prompts/${view.prompt}/deploy with strategy "canary".`,
    );
  }
  const metric = pm.trigger?.metric ?? null;
  if (metric === 'error_rate')
    suggestions.push('Run the version in staging for 24 h against real traffic before promoting; errors show there first.');
  if (metric === 'quality_drop') {
    suggestions.push('Gate promotion on an A/B test with strict criteria (p < 0.05, no quality regression).');
    suggestions.push('Add the cases that regressed to the baseline test suite (seed: accuracy ≥ 75 %).');
  }
  if (metric === 'latency_p99_ratio')
    suggestions.push('Load-test the version in staging and compare its p99 latency with the baseline before promoting.');
  if (pm.time_to_detect_s !== null && pm.time_to_detect_s < 3600) {
    suggestions.push(
      'It broke within its first hour: check that the stricter new-version alert thresholds (error > 0.5 %, p99 +10 %, quality −5 %) alerted before the trigger table acted; tighten them for this prompt if not.',
    );
  } else {
    suggestions.push(
      'Watch new versions closely for their first hour with stricter alert thresholds (error > 0.5 %, p99 +10 %, quality −5 %).',
    );
  }
  if (knownGood !== true) suggestions.push('Record a baseline test result for every version before it is deployed.');
  if (timeline.some((e) => e.event === 'deadline_passed')) {
    suggestions.push('The decision deadline passed without an answer: check the on-call paging route and rota for this prompt.');
  }
  if (pm.time_to_switch_s !== null && pm.time_to_switch_s > 300) {
    suggestions.push(
      `Detection to switch took ${pm.time_to_switch_s} s, over the seed's 5-minute goal: automate the decision for this trigger or shorten its deadline.`,
    );
  }
  if (view.severity === 'critical' && pm.decision === 'automatic') {
    suggestions.push('Critical breaches roll back automatically; review why the version reached full traffic at an error rate above 5 %.');
  }
  if (pm.outcome === 'not_recovered') {
    suggestions.push(
      `The target ${to ?? ''} did not recover: check whether the cause lies outside the prompt (model, upstream service, data) and re-test the known-good versions.`,
    );
  }
  if (pm.outcome === 'verification_inconclusive') {
    suggestions.push(
      `Verification saw too little traffic: make sure metrics are sent for ${to ?? 'the target version'}, or verify over a longer window.`,
    );
  }
  if (pm.outcome === 'closed') {
    suggestions.push(
      'On-call chose to investigate: record the finding; fix the regression, or tune the rule for this prompt if it was a false alarm.',
    );
  }

  return [
    {
      id: 'what_changed',
      question: `What changed in ${from ?? 'the version that was serving'} that caused the regression?`,
      known: changed,
      answer: null,
      follow_up: null,
      suggestions: [],
      excerpts,
    },
    {
      id: 'did_it_pass_tests',
      question: `Did ${from ?? 'it'} pass its tests? (If yes, why didn't the tests catch it?)`,
      known: tested,
      answer,
      follow_up: followUp,
      suggestions: [],
      excerpts: [],
    },
    {
      id: 'how_to_prevent',
      question: 'How do we prevent this next time?',
      known: [],
      answer: null,
      follow_up: 'Action items, each with an owner and a due date.',
      suggestions,
      excerpts: [],
    },
  ];
}

/** The post-mortem of a finished rollback, from its view and what the caller looked up (ctx). Pure. */
export function buildPostMortem(view: RollbackView, ctx: PostMortemContext = {}): PostMortem {
  const timeline = view.timeline.map((e) => ({ ...e, detail: { ...e.detail } }));
  const first = (name: string): TimelineEntry | undefined => timeline.find((e) => e.event === name);
  const incident = first('detected') !== undefined;

  const requested = first('requested');
  const detectedAt = first('detected')?.at ?? requested?.at ?? view.requested_at ?? null;
  const decision = decisionPoint(timeline, incident, requested?.at ?? view.requested_at ?? null, view.requested_by);
  const switchedAt = switchCommittedAt(timeline) ?? null;
  const recoveredAt = first('recovered')?.at ?? null;
  let ending: TimelineEntry | undefined;
  for (const name of ENDING_EVENTS) {
    ending = [...timeline].reverse().find((e) => e.event === name);
    if (ending) break;
  }
  const outcome = ending?.event ?? view.status;
  const startedAt = timeline[0]?.at ?? view.requested_at ?? null;
  const endedAt = timeline[timeline.length - 1]?.at ?? null;
  const deployedAt = ctx.deployed_at ?? null;

  const switchIndex = timeline.findIndex((e) => e.event === 'switched');
  const beforeCandidates = (switchIndex < 0 ? timeline : timeline.slice(0, switchIndex)).filter((e) => BEFORE_EVENTS.includes(e.event));
  const before =
    [...beforeCandidates].reverse().find((e) => e.event === 'metrics_before' || e.detail.kind === 'breached') ??
    beforeCandidates[beforeCandidates.length - 1];
  const after = [...timeline].reverse().find((e) => e.event === 'verification_check');

  // An incident's trigger is its detection verdict; older records may lack `trigger`, the `detected` event has it.
  const trigger = view.trigger ? { ...view.trigger, rule: view.incident_rule ?? null } : triggerFromVerdict(first('detected'));
  const restoreS = secondsBetween(switchedAt, recoveredAt);
  const base = {
    rollback_id: view.rollback_id,
    prompt: view.prompt,
    status: view.status,
    outcome,
    severity: view.severity,
    from_version: view.from_version,
    to_version: view.to_version,
    reason: view.reason,
    mode: view.mode,
    trigger,
    requested_by: view.requested_by,
    decided_by: view.decided_by ?? (decision.kind === 'automatic' ? 'system' : decision.kind === 'operator' ? view.requested_by : null),
    decision: decision.kind,
    deployed_at: deployedAt,
    detected_at: detectedAt,
    decided_at: decision.at,
    switched_at: switchedAt,
    recovered_at: recoveredAt,
    ended_at: endedAt,
    // An operator's rollback detected nothing: its request time is not a detection time.
    time_to_detect_s: incident ? secondsBetween(deployedAt, detectedAt) : null,
    time_to_decide_s: secondsBetween(detectedAt, decision.at),
    time_to_switch_s: secondsBetween(detectedAt, switchedAt),
    time_to_restore_s: restoreS,
    total_s: secondsBetween(startedAt, endedAt),
    metrics_before: before ? snapshot(before, view.from_version) : null,
    metrics_after: after ? snapshot(after, view.to_version) : null,
  };
  return {
    ...base,
    summary: summarize(view, outcome, incident, decision, restoreS, ending),
    decisions: decisionsOf(view, timeline, incident),
    audit: (ctx.audit ?? []).map((a) => ({ at: a.at, actor: a.actor, action: a.action, reason: a.reason })),
    timeline,
    questions: questionsOf(view, ctx, base, timeline),
  };
}

// ---- Markdown ----

const TO_BE_ANSWERED = '_to be answered_';

/** A table cell: one line, pipes escaped, long text cut. */
const cell = (s: string, max = 240): string => {
  const one = s.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
};

/** Seconds as people read them: 4.2 s, 3 min 5 s, 2 h 10 min. */
export function formatDuration(s: number | null): string {
  if (s === null) return 'unknown';
  if (s < 60) return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
  const total = Math.round(s);
  if (total < 3600) return `${Math.floor(total / 60)} min ${total % 60} s`;
  if (total < 86400) return `${Math.floor(total / 3600)} h ${Math.floor((total % 3600) / 60)} min`;
  return `${Math.floor(total / 86400)} d ${Math.floor((total % 86400) / 3600)} h`;
}

/** One line saying what a timeline entry's detail holds. */
function describeDetail(e: TimelineEntry): string {
  const d = e.detail;
  const summary = str(d, 'summary');
  if (summary) return summary;
  const title = str(d, 'title');
  if (title) return `${str(d, 'channel') ?? 'notified'}: ${title}`;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(d)) {
    if (v === null || v === undefined) continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') parts.push(`${k}: ${String(v)}`);
    else if (Array.isArray(v)) {
      if (v.length > 0) parts.push(`${k}: ${JSON.stringify(v)}`);
    } else parts.push(`${k}: ${JSON.stringify(v)}`);
  }
  return parts.join(', ');
}

const fence = (text: string): string => {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const f = '`'.repeat(longest + 1);
  return `${f}\n${text}\n${f}`;
};

function metricsTable(before: MetricsSnapshot | null, after: MetricsSnapshot | null): string[] {
  if (!before && !after) return ['No metrics were recorded before or after.'];
  const col = (s: MetricsSnapshot | null, f: (m: MetricsSnapshot) => string): string => (s ? cell(f(s)) : '—');
  const row = (label: string, f: (m: MetricsSnapshot) => string): string => `| ${label} | ${col(before, f)} | ${col(after, f)} |`;
  return [
    '| | before | after |',
    '|---|---|---|',
    row('from', (m) => `${m.source} at ${m.at}`),
    row('version', (m) => m.version ?? 'not recorded'),
    row('judged', (m) =>
      m.metric === null
        ? 'raw window'
        : `${m.metric} ${formatMetric(m.metric, m.observed)} (threshold ${formatMetric(m.metric, m.threshold)}${m.baseline !== null ? `, baseline ${formatBaseline(m.metric, m.baseline)}` : ''})`,
    ),
    row('verdict', (m) => m.kind ?? '—'),
    row('requests', (m) => `${m.requests ?? '—'}${m.window_s !== null ? ` in ${m.window_s} s` : ''}`),
    row('error rate', (m) => formatMetric('error_rate', m.error_rate)),
    row('p99 latency', (m) => (m.latency_p99_ms === null ? '—' : `${m.latency_p99_ms} ms`)),
    row('quality mean', (m) => (m.quality_mean === null ? '—' : m.quality_mean.toFixed(3))),
    row('summary', (m) => m.summary),
  ];
}

/** The post-mortem as a Markdown document, ready to paste into the incident review. */
export function renderPostMortemMarkdown(pm: PostMortem): string {
  const lines: string[] = [];
  const versions = `${pm.from_version ?? '?'} → ${pm.to_version ?? '?'}`;
  lines.push(`# Post-mortem: ${pm.prompt} ${versions} (rollback ${pm.rollback_id})`, '');
  lines.push(
    `**Status:** ${pm.status} (${pm.outcome}) · **Severity:** ${pm.severity} · **Mode:** ${pm.mode} · **Requested by:** ${pm.requested_by} · **Decided by:** ${pm.decided_by ?? 'no one'}`,
    '',
  );
  lines.push('## Summary', '', pm.summary, '');

  lines.push('## Impact', '', '| measure | value |', '|---|---|');
  lines.push(
    `| trigger | ${pm.trigger ? cell(describeTrigger(pm.trigger)) : pm.decision === 'operator' ? 'none (operator rollback)' : 'not recorded'} |`,
  );
  lines.push(`| reason | ${cell(pm.reason)} |`);
  lines.push(`| deployed | ${pm.deployed_at ?? 'unknown'} |`);
  lines.push(`| time to detect (deploy → detection) | ${formatDuration(pm.time_to_detect_s)} |`);
  lines.push(`| time to decide (detection → ${pm.decision ?? 'decision'}) | ${formatDuration(pm.time_to_decide_s)} |`);
  lines.push(`| time to switch (detection → switch) | ${formatDuration(pm.time_to_switch_s)} |`);
  lines.push(`| time to restore (switch → recovered) | ${formatDuration(pm.time_to_restore_s)} |`);
  lines.push(`| total (first → last event) | ${formatDuration(pm.total_s)} |`, '');

  lines.push('## Timeline', '', '| time | event | detail |', '|---|---|---|');
  for (const e of pm.timeline) lines.push(`| ${e.at} | ${cell(e.event)} | ${cell(describeDetail(e))} |`);
  if (pm.timeline.length === 0) lines.push('| — | — | no events recorded |');
  lines.push('');

  lines.push('## Decisions', '');
  if (pm.decisions.length === 0) lines.push('No decisions were recorded.');
  else {
    lines.push('| time | who | what | comment |', '|---|---|---|---|');
    for (const d of pm.decisions) lines.push(`| ${d.at} | ${cell(d.who)} | ${cell(d.what)} | ${d.comment ? cell(d.comment) : '—'} |`);
  }
  lines.push('');

  if (pm.audit.length > 0) {
    lines.push('## Audit trail', '', '| time | actor | action | reason |', '|---|---|---|---|');
    for (const a of pm.audit) lines.push(`| ${a.at} | ${cell(a.actor)} | ${cell(a.action)} | ${cell(a.reason)} |`);
    lines.push('');
  }

  lines.push('## Metrics before and after', '', ...metricsTable(pm.metrics_before, pm.metrics_after), '');

  lines.push('## Questions', '');
  pm.questions.forEach((q, i) => {
    lines.push(`### ${i + 1}. ${q.question}`, '');
    for (const k of q.known) lines.push(`- ${k}`);
    if (q.known.length > 0) lines.push('');
    for (const x of q.excerpts) lines.push(`Template of ${x.version ?? 'unknown version'} (excerpt):`, '', fence(x.text), '');
    if (q.suggestions.length > 0) {
      lines.push('Suggestions to consider:', '');
      for (const s of q.suggestions) lines.push(`- ${s}`);
      lines.push('');
    }
    if (q.id !== 'how_to_prevent') lines.push(`**Answer:** ${q.answer ?? TO_BE_ANSWERED}`, '');
    if (q.follow_up) lines.push(`**${q.follow_up}** ${TO_BE_ANSWERED}`, '');
  });
  return `${lines.join('\n').trimEnd()}\n`;
}
