import { ApplicationFailure } from '@temporalio/common';
import type { Verdict } from '../domain/verdict';
import { marksFromVersion } from '../domain/rollback';
import type { SwitchResult } from '../ports/registry';
import type { GroupPlan } from './group';
import type { TrafficReading } from './staged';
import type { ChooseTargetInput, TargetChoice, TargetState } from './target-choice';

/** The steps a rollback takes before its switch, each the activity of the same name. */
export interface OneStepParts {
  assessNow(input: { prompt: string }): Promise<Verdict>;
  /** What choosing the target reads (the prompt and its versions): read with the step's other reads. */
  readTargetState(input: { prompt: string }): Promise<TargetState>;
  /** The target, chosen from that state: with a baseline evaluator it tests candidates and marks versions. */
  chooseTarget(input: ChooseTargetInput, state?: TargetState): Promise<TargetChoice>;
  readTraffic(input: { prompt: string; version: string; window_s: number }): Promise<TrafficReading>;
  planGroup(input: { prompt: string }): Promise<GroupPlan>;
  /** The switch this rollback already made (its audit row), if any. */
  switchMade(input: { prompt: string; rollback_id: string }): Promise<SwitchResult | undefined>;
  switchActiveVersion(input: {
    prompt: string;
    to: string;
    rollback_id: string;
    actor: string;
    reason: string;
    mark_from_rolled_back?: boolean;
  }): Promise<SwitchResult>;
}

export interface OneStepInput {
  prompt: string;
  rollback_id: string;
  actor: string;
  reason: string;
  /** An automatic incident's switch: re-judge first and switch only on a breach that still holds (or a critical one). */
  reconfirm?: { critical: boolean };
  critical?: boolean;
  target_version?: string;
  /** The named target's baseline test runs after the switch, not in this step (see ChooseTargetInput). */
  named_test_after_switch?: boolean;
  /** An operator's rollback: the from-version's last 5 minutes go into the timeline. */
  read_before?: boolean;
  /** The incident's version (monitor incidents); absent for an operator's rollback. */
  incident?: { version?: string };
}

interface Decided {
  reconfirmed?: Verdict;
  target: TargetChoice;
  /** The operator's metrics before: a provider that cannot answer is recorded, it never holds up the switch. */
  before?: TrafficReading;
  group: GroupPlan;
  group_error?: string;
  /** The from-version is marked rolled back from: its own metrics are the evidence. */
  mark_from: boolean;
}
export type OneStepResult =
  /**
   * A critical breach whose re-check is healthy: cleared. Any other re-check that is not a confirmed breach
   * (healthy, low, metrics unreadable) of a high or medium incident: nothing is switched, and the workflow's own
   * re-confirmation decides from this reading (clear, read again, or ask on-call).
   */
  | { kind: 'cleared'; reconfirmed: Verdict }
  | { kind: 'unconfirmed'; reconfirmed: Verdict }
  | { kind: 'no_target'; reconfirmed?: Verdict; type: string; error: string }
  /** Related prompts join: the workflow switches them with the prompt (all or none). */
  | ({ kind: 'planned' } & Decided)
  | ({ kind: 'switched'; switched: SwitchResult } & Decided)
  | ({ kind: 'switch_failed'; type: string; error: string } & Decided);

/** A read's answer or its failure, kept until the step decides whether it needs it (never an unheard rejection). */
type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
const settled = <T>(p: Promise<T>): Promise<Settled<T>> =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
const unwrap = <T>(s: Settled<T>): T => {
  if (!s.ok) throw s.error;
  return s.value;
};

const refusal = (e: unknown): { type: string; error: string } | undefined =>
  e instanceof ApplicationFailure && e.nonRetryable ? { type: e.type ?? 'Error', error: e.message } : undefined;

/**
 * Everything a rollback does up to its switch, in one activity: one workflow task and one activity instead of a
 * round trip through the engine for each. Re-confirmation, target, the group plan, then the switch (keyed by the
 * rollback id, so a retried attempt switches once), and last the operator's metrics before, which the switch does not
 * wait for. A refusal (no target, a switch the registry refuses) is returned for the workflow to record; anything else
 * fails the attempt and it is retried.
 */
export async function switchInOneStep(parts: OneStepParts, input: OneStepInput): Promise<OneStepResult> {
  // The operator's metrics before are read once the switch is made (or refused): the from-version's last 5 minutes are
  // the same a moment later, and the switch waits for no window query (nor for a slow provider).
  const readBefore = async (from: string | null): Promise<{ before?: TrafficReading }> =>
    input.read_before && from !== null ? { before: await parts.readTraffic({ prompt: input.prompt, version: from, window_s: 300 }) } : {};
  // Every read the switch needs is asked for at once, so that the switch waits for the slowest of them rather than for
  // each in turn (on a busy store every round trip counts): whether this rollback already switched, the re-check, what
  // the target is chosen from, and the group plan. The answers that are not needed are dropped. The choice itself
  // (with a baseline evaluator it tests candidates, for up to a minute, and marks versions known-good or failed) waits
  // until the step knows it switches: never after a switch already made, nor for a re-check that no longer holds. The
  // state is as old as the re-check's read (milliseconds): the switch takes the prompt's lock, refuses a version that
  // is gone, and audits the version serving under the lock as the one it replaced.
  const made$ = parts.switchMade({ prompt: input.prompt, rollback_id: input.rollback_id });
  const reconfirming = input.reconfirm ? settled(parts.assessNow({ prompt: input.prompt })) : undefined;
  const reading = settled(parts.readTargetState({ prompt: input.prompt }));
  const planning: Promise<{ group: GroupPlan; group_error?: string }> = parts.planGroup({ prompt: input.prompt }).then(
    (group) => ({ group }),
    (e: unknown) => ({ group: { members: [], not_joining: [] }, group_error: e instanceof Error ? e.message : String(e) }),
  );
  // Run again after this rollback already switched (the workflow task that ran the step was lost: a worker crash, a
  // task timeout), the step must not judge the state it created: a re-check of the rolled-back version reads healthy
  // and would clear the incident, a new target choice would start from the new version. The switch made is the result.
  // The reads whose answers are dropped are not left running past the step: it ends when they have.
  const drain = () => Promise.all([reconfirming, reading, planning]);
  let made: SwitchResult | undefined;
  try {
    made = await made$;
  } catch (e) {
    await drain();
    throw e;
  }
  if (made) {
    await drain();
    const target: TargetChoice = { from_version: made.from, to_version: made.to, skipped: [] };
    const group: GroupPlan = { members: [], not_joining: [] };
    return {
      kind: 'switched',
      switched: made,
      target,
      group,
      mark_from: marksFromVersion(input.incident, made.from),
      ...(await readBefore(made.from)),
    };
  }
  let reconfirmed: Verdict | undefined;
  if (input.reconfirm && reconfirming) {
    const r = await reconfirming;
    if (!r.ok) {
      await drain();
      throw r.error;
    }
    const verdict = r.value;
    reconfirmed = verdict;
    const holds = verdict.kind === 'breached' && verdict.severity !== 'low';
    const keepCritical = input.reconfirm.critical && verdict.kind !== 'healthy';
    if (!holds && (!input.reconfirm.critical || !keepCritical)) {
      await drain();
      return { kind: input.reconfirm.critical ? 'cleared' : 'unconfirmed', reconfirmed: verdict };
    }
  }
  const with_ = <T extends object>(o: T) => (reconfirmed ? { ...o, reconfirmed } : o);
  let target: TargetChoice;
  try {
    const state = unwrap(await reading);
    target = await parts.chooseTarget(
      {
        prompt: input.prompt,
        ...(input.target_version !== undefined ? { target_version: input.target_version } : {}),
        ...(input.critical ? { critical: true } : {}),
        ...(input.named_test_after_switch ? { named_test_after_switch: true } : {}),
      },
      state,
    );
  } catch (e) {
    await planning;
    const r = refusal(e);
    if (r) return with_({ kind: 'no_target' as const, ...r });
    throw e;
  }
  const { group, group_error } = await planning;
  const mark_from = marksFromVersion(input.incident, target.from_version);
  const decided = async (): Promise<Decided> =>
    with_({
      target,
      group,
      mark_from,
      ...(await readBefore(target.from_version)),
      ...(group_error !== undefined ? { group_error } : {}),
    });
  if (group.members.length > 0) return { kind: 'planned', ...(await decided()) };
  let switched: SwitchResult;
  try {
    switched = await parts.switchActiveVersion({
      prompt: input.prompt,
      to: target.to_version,
      rollback_id: input.rollback_id,
      actor: input.actor,
      reason: input.reason,
      mark_from_rolled_back: mark_from,
    });
  } catch (e) {
    const r = refusal(e);
    if (r) return { kind: 'switch_failed', ...r, ...(await decided()) };
    throw e;
  }
  return { kind: 'switched', switched, ...(await decided()) };
}
