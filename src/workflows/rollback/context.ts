import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { initialView, type RollbackInput, type RollbackStatus, type RollbackView, type Severity } from '../../domain/rollback';
import { timelineEntry, type TimelineDetails, type TimelineEvent } from '../../domain/timeline';
import type { Verdict } from '../../domain/verdict';
import { rollbackCurrentDetails } from '../../domain/workflow-summary';
import { RollbackSeverityKey, RollbackStateKey } from '../messages';

const SAVE = { startToCloseTimeout: '15 seconds', retry: { initialInterval: '500 milliseconds', maximumInterval: '5 seconds' } } as const;
const { saveRollback } = proxyActivities<Activities>(SAVE);
// Lean runs save as a local activity: one idempotent write to the store, one marker in the history.
const local = proxyLocalActivities<Activities>(SAVE);
// The notify activity only enqueues into the outbox (delivery is the dispatcher's); it retries until it is
// queued, and nothing on the way to a switch waits for it.
const { notify } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute' },
});

export const failureType = (e: unknown): string | undefined => {
  const cause = e instanceof ActivityFailure ? e.cause : e;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
};
export const failureMessage = (e: unknown): string => {
  const cause = e instanceof ActivityFailure && e.cause ? e.cause : e;
  return cause instanceof Error ? cause.message : String(cause);
};

/**
 * What every phase of a rollback shares: its view (the `state` query and the store's record), the timeline
 * writer, saves on state changes, notifications that never block, and the monitor's worse breach.
 */
export class RollbackRun {
  readonly view: RollbackView;
  /** The latest worse breach the monitor told us (signal `breach`), until a phase acts on it. */
  worse: Verdict | undefined;
  /** The incident's breach as it stands (the latest worse one); undefined for an operator's rollback. */
  verdict: Verdict | undefined;
  /** The status the store holds (the last save completed): a decision is answered once what it did is readable. */
  persistedStatus: RollbackStatus;
  /**
   * Saves on state changes only (versioned: runs before it saved every step): steps that follow each other with no
   * wait between them are saved once, and what happens during verification is saved with its next check.
   */
  readonly lean: boolean;
  /**
   * An immediate rollback's named target is tested after the switch, beside verification (versioned: runs before it
   * tested it before switching, as gradual rollbacks still do). Decided in the first workflow task.
   */
  namedTestAfterSwitch = false;
  /** A notification queued during verification that the store does not show yet (lean runs). */
  unsavedNotice = false;
  private notifications = 0;
  private inFlight = 0;
  /**
   * Notifications enter the outbox one after another, in the order they were raised (the dispatcher delivers a
   * rollback's events in outbox order); runs started before this change queued them all at once.
   */
  private readonly inOrder: boolean;
  /** The last notification on its way into the outbox: the next one is queued once it is there. */
  private lastQueued: Promise<unknown> | undefined;
  /** Notifications raised and not yet in the outbox. */
  private queuing = 0;

  constructor(readonly input: RollbackInput) {
    this.view = initialView(input);
    this.verdict = input.incident?.verdict;
    this.persistedStatus = this.view.status;
    this.lean = patched('lean-history');
    this.inOrder = patched('metrics-unreadable');
  }

  /** Appends to the timeline: only an event of the union (src/domain/timeline.ts), with that event's detail. */
  event<K extends TimelineEvent>(name: K, detail: TimelineDetails[K]): void {
    const at = new Date().toISOString();
    this.view.timeline.push(timelineEntry(at, name, detail));
    this.view.updated_at = at;
    // The Web UI's "current details": what a person needs at a glance (no history event).
    setCurrentDetails(rollbackCurrentDetails(this.view));
  }

  async save(): Promise<void> {
    const status = this.view.status;
    this.unsavedNotice = false;
    if (this.lean)
      await local.saveRollback.executeWithOptions({ summary: `save: ${status} (${this.view.timeline.at(-1)?.event ?? 'start'})` }, [
        this.view,
      ]);
    else await saveRollback(this.view);
    this.persistedStatus = status;
  }

  /**
   * A state change: status, timeline, search attributes, and the store. `then` names the step that follows at
   * once with no wait between (lean runs save once, at the later step).
   */
  async enter<K extends TimelineEvent>(
    status: RollbackStatus,
    name: K,
    detail: TimelineDetails[K],
    opts: { then?: 'next_step' } = {},
  ): Promise<void> {
    this.view.status = status;
    this.event(name, detail);
    const attrs = workflowInfo().typedSearchAttributes;
    if (!this.lean || attrs.get(RollbackStateKey) !== status || attrs.get(RollbackSeverityKey) !== this.view.severity) {
      upsertSearchAttributes([
        { key: RollbackStateKey, value: status },
        { key: RollbackSeverityKey, value: this.view.severity },
      ]);
    }
    if (this.lean && opts.then === 'next_step') return;
    await this.save();
  }

  /**
   * Enqueues a page or an alert without waiting for it: the timeline records `paged`/`notified` once it is
   * queued. The run ends only after every notification is queued (finish()). Notifications are queued in the
   * order raised, each once the one before it is in the outbox; nothing the run does waits for them. One sent
   * `atOnce` (the page about waiting for the store) does not wait for those before it; those after it wait for it too.
   */
  send(
    kind: 'page' | 'alert',
    severity: Severity,
    title: string,
    message: string,
    data: Record<string, unknown>,
    opts: { atOnce?: boolean } = {},
  ): void {
    const seq = ++this.notifications;
    const request = {
      key: `${this.input.rollback_id}/n${seq}/${kind}`,
      kind,
      severity,
      prompt: this.input.prompt,
      rollback_id: this.input.rollback_id,
      title,
      message,
      // The tier the run is at: a page sent while the store cannot be read carries its PagerDuty key's tier itself.
      data: this.view.tier !== undefined && !('tier' in data) ? { ...data, tier: this.view.tier } : data,
    };
    // With nothing ahead of it, it is queued at once (the same command as before); otherwise after the one ahead.
    // `atOnce` goes out of that order: a page that must not wait behind a notification the store cannot take.
    const ahead = this.inOrder && this.queuing > 0 ? this.lastQueued : undefined;
    this.inFlight += 1;
    const queued = ahead && !opts.atOnce ? ahead.then(() => notify(request)) : notify(request);
    if (this.inOrder) {
      this.queuing += 1;
      const done = queued.catch(() => undefined);
      this.lastQueued = (opts.atOnce && ahead ? Promise.all([ahead, done]) : done).finally(() => {
        this.queuing -= 1;
      });
    }
    void queued
      .then(
        async (sent) => {
          this.event(kind === 'page' ? 'paged' : 'notified', {
            channel: sent.channel,
            outbox_id: sent.id,
            title,
            message,
            links: sent.links ?? {},
          });
          // During verification the next check saves it (a small history); a decision's page is saved at once.
          if (this.lean && this.view.status === 'verifying') this.unsavedNotice = true;
          else await this.save();
        },
        (e: unknown) => {
          this.event('notify_failed', { kind, title, error: failureMessage(e) });
        },
      )
      .finally(() => {
        this.inFlight -= 1;
      });
  }

  /** Work beside the run's phases (a named target's test after the switch): the run ends once it has. */
  alongside(work: Promise<unknown>): void {
    this.inFlight += 1;
    void work
      .catch((e: unknown) => {
        // Never an unhandled rejection (it would fail the workflow task on every replay): the run goes on without it.
        log.warn('work beside the rollback failed', { error: failureMessage(e) });
      })
      .finally(() => {
        this.inFlight -= 1;
      });
  }

  /** Ends the run where it stands (its last state change already recorded), once every notification is queued. */
  async end(): Promise<RollbackView> {
    delete this.view.deadline;
    await condition(() => this.inFlight === 0);
    await this.save();
    await condition(allHandlersFinished);
    return this.view;
  }

  /** Ends the run: final status saved after every notification is queued and every decision handler answered. */
  async finish<K extends TimelineEvent>(status: RollbackStatus, name: K, detail: TimelineDetails[K]): Promise<RollbackView> {
    delete this.view.deadline;
    // The status changes with its closing event, after every notification is queued: a reader never sees the
    // final status without the event that says why.
    await condition(() => this.inFlight === 0);
    await this.enter(status, name, detail);
    await condition(allHandlersFinished);
    return this.view;
  }
}
