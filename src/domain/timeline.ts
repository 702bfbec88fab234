/**
 * A rollback's timeline as a typed union: each event name with the detail it carries. The JSON the API shows is
 * unchanged (`{ at, event, detail }`); what changes is that the workflow can only write an event that exists,
 * with the detail that event has, and a reader can narrow on `event` to read a detail without guessing.
 */
import type { RollbackMode } from './modes';
import type { Severity } from './severity';
import type { Verdict, WindowStats } from './verdict';

type Via = 'api' | 'slack' | 'temporal-signal';
type GroupPlanMember = { prompt: string; from_version: string; to_version: string; summary: string; switched: boolean };
type Page = { channel: string; outbox_id: string; title: string; message: string; links: Record<string, string> };
type Ask = { deadline: string; tier: number | undefined; default_action: string | undefined; verdict: string };

export interface TimelineDetails {
  requested: { by: string; reason: string; mode: RollbackMode };
  start_failed: { error: string };
  detected: Verdict;
  awaiting_approval: Ask;
  observing: Ask;
  approved: { by: string; comment: string | null; via: Via };
  rejected: { by: string; comment: string | null; via: Via };
  /** A signal's decision that came when none was awaited (a signal cannot be refused; an Update is). */
  decision_ignored: { decision: 'approve' | 'reject'; by: string | undefined; via: Via; status: string };
  worsened: Verdict & { from: Severity; from_reason: string };
  breach_update: Verdict & { version?: string };
  deadline_passed: { tier: number | undefined; default_action: string };
  observation_ended: Verdict;
  reconfirmed: Verdict & { note?: string };
  rolling_back: { decided_by: string; mode: RollbackMode };
  target_selected: { from_version: string | null; to_version: string; skipped: { version: string; why: string }[]; baseline_test: unknown };
  target_rejected: { type: string; error: string };
  /** A named target's baseline test, run after the switch (its result never changes the target). */
  baseline_tested: { version: string; evaluator: string; passed: boolean | null; score: number | null; detail: string };
  /** `error`: the metrics provider could not answer (the switch went ahead). */
  metrics_before: (WindowStats & { version: string }) | { version: string; error: string };
  gradual_started: { stages: unknown; check_interval_s: number; max_error_rate: number };
  gradual_cut_short: Verdict & { traffic: string };
  pause_requested: { by: string; via: 'api' };
  resume_requested: { by: string; via: 'api' };
  abort_requested: { by: string; via: 'api' };
  paused: { stage: number | undefined; reason: string | undefined };
  resumed: { stage: number | undefined; reason: string | undefined };
  aborted: { by: string; traffic: string };
  group_planned: { members: GroupPlanMember[]; not_joining: { prompt: string; why: string }[] };
  group_plan_failed: { error: string; consequence: string };
  /** A step that could not use the store (its retries spent): the rollback waits for it and tries again (5 s, doubling to 1 min). */
  store_unavailable: { step: string; error: string; retry_every_s: number };
  group_failed_compensated: { failed: string; error: string; undone: string[] };
  switched: { from_version: string | null; to_version: string; at: string; marked_rolled_back_from: boolean; group?: string[] };
  switch_failed: { error: string; type: string };
  verification_check: Verdict & { check: number | 'incident_metric'; of?: number };
  recovered: { summary: string | undefined };
  verification_inconclusive: { summary: string | undefined };
  not_recovered: { summary: string | undefined };
  not_a_prompt_regression: { summary: string | undefined; kept: string };
  paged: Page;
  notified: Page;
  notify_failed: { kind: 'page' | 'alert'; title: string; error: string };
  closed: { decided_by?: string | undefined };
  cleared: { why: string };
}

export type TimelineEvent = keyof TimelineDetails;

/** One entry, narrowed by its `event`. */
export type TypedTimelineEntry = { [K in TimelineEvent]: { at: string; event: K; detail: TimelineDetails[K] } }[TimelineEvent];

/** The wire shape of an entry (records written before the union, or by older workflows, may hold other events). */
export interface TimelineEntry {
  at: string;
  event: string;
  detail: Record<string, unknown>;
}

/** Builds an entry: the event name and its detail are checked against the union. */
export function timelineEntry<K extends TimelineEvent>(at: string, event: K, detail: TimelineDetails[K]): TimelineEntry {
  return { at, event, detail: detail as unknown as Record<string, unknown> };
}

/** Narrows a stored entry to the union when its event is one of `events` (a reader's typed view). */
export function isEvent<K extends TimelineEvent>(
  e: TimelineEntry,
  ...events: K[]
): e is TimelineEntry & { event: K; detail: TimelineDetails[K] & Record<string, unknown> } {
  return (events as string[]).includes(e.event);
}

/**
 * When the switch committed: the `switched` entry's `detail.at` (the audit row's time). The entry's own `at` is when
 * the workflow recorded it: for a switch made inside the workflow task, that task's start, before the switch. Older
 * entries without `detail.at` give their own `at`; undefined before a switch.
 */
export function switchCommittedAt(timeline: readonly TimelineEntry[]): string | undefined {
  const e = timeline.find((t) => t.event === 'switched');
  return typeof e?.detail.at === 'string' ? e.detail.at : e?.at;
}
