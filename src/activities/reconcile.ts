import { ApplicationFailure } from '@temporalio/activity';
import { isAlreadyStarted, isDomainError } from '../domain/errors';
import { monitorWorkflowId } from '../domain/names';
import type { RollbackView } from '../domain/rollback';
import type { Clock } from '../ports/clock';
import type { MonitorRecord, MonitorStore } from '../ports/monitors';
import type { AuditEntry, Deployment, Registry } from '../ports/registry';
import type { RollbackStore } from '../ports/rollbacks';
import type { Workflows } from '../ports/workflows';
import { auditedSwitch } from './audited-switch';

/** Who the reconciler's changes are attributed to, in timelines and audit rows. */
export const RECONCILER = 'system:reconciler';

export interface ReconcileDeps {
  registry: Registry;
  rollbacks: RollbackStore;
  monitors: MonitorStore;
  clock: Clock;
  /** The engine, to see which workflows run and to start the missing ones. */
  engine: Workflows;
  /** A claimed rollback whose workflow has not started after this long is started from its stored input. */
  graceS: number;
  /** Check interval of monitors the reconciler starts for prompts that never had one. */
  monitorIntervalS: number;
}

export interface ReconcileSummary {
  /** Claimed rollbacks whose workflow never started, started now. */
  started: string[];
  /** Open rollback rows whose workflow is gone, released (status failed) with why. */
  released: { rollback_id: string; why: string }[];
  /** Canary deployments recorded as rolling out whose workflow is gone, marked failed (they would block deploys). */
  deployments_failed: { deployment_id: string; why: string }[];
  /** Prompts whose monitor was not running and was (re)started. */
  monitors_started: string[];
  /** Prompts whose monitor ran but whose row did not say so (missing, pending), recorded as running. */
  monitors_recorded: string[];
  /** What could not be repaired this pass (retried at the next). */
  errors: string[];
}

/**
 * Makes the store and the engine agree. Every open rollback row has a workflow running (one claimed but never
 * started is started from its stored input once the grace period passed; one whose workflow ended without
 * writing a terminal status is released as `failed`, with a timeline entry and an audit row saying why), and
 * every deployed prompt is guarded: its monitor runs unless someone stopped it.
 */
export function createReconcileActivities(deps: ReconcileDeps) {
  const { registry, rollbacks, monitors, clock, engine } = deps;

  const release = async (view: RollbackView, why: string, workflow: string): Promise<void> => {
    const at = clock.now().toISOString();
    // The release and its audit row in one transaction: a crash between two writes would leave the rollback released
    // by nobody on record (the next pass no longer sees it open).
    await rollbacks.save(
      {
        ...view,
        status: 'failed',
        updated_at: at,
        timeline: [...view.timeline, { at, event: 'released', detail: { by: RECONCILER, why, workflow } }],
      },
      {
        at,
        actor: RECONCILER,
        action: 'rollback.released',
        prompt: view.prompt,
        from_version: view.from_version,
        to_version: view.to_version,
        reason: why,
        detail: { rollback_id: view.rollback_id, workflow_id: view.workflow_id, workflow },
      },
    );
  };

  const reconcileRollback = async (view: RollbackView, s: ReconcileSummary): Promise<void> => {
    const state = await engine.describe(view.workflow_id);
    if (state === 'running' || state === 'continued_as_new') return;
    // The workflow may have written its terminal state between the list and the describe.
    const now = await rollbacks.get(view.rollback_id);
    if (!now || (await rollbacks.openFor(view.prompt)) !== view.rollback_id) return;
    if (state === 'not_found') {
      const age_s = (clock.now().getTime() - Date.parse(now.requested_at)) / 1000;
      if (age_s < deps.graceS) return; // its starter may still be at it
      const input = await rollbacks.startInput(now.rollback_id);
      if (!input) {
        const why = `its workflow never started and the input to start it was not kept; the prompt is released`;
        await release(now, why, state);
        s.released.push({ rollback_id: now.rollback_id, why });
        return;
      }
      // Its audit row first, and once (keyed by the rollback): written after the start, a store failing between the two
      // (or a worker stopping there) left a rollback started by nobody on record, since the next pass sees its workflow
      // running. A start that fails after the row is tried again by the next pass, which does not write the row again;
      // nor does a second reconciler running the same pass.
      await registry.appendAudit(
        {
          at: clock.now().toISOString(),
          actor: RECONCILER,
          action: 'rollback.start',
          prompt: now.prompt,
          from_version: now.from_version,
          to_version: now.to_version,
          reason: `claimed ${Math.round(age_s)} s ago and its workflow had not started; starting it from the stored input`,
          detail: { rollback_id: now.rollback_id, workflow_id: now.workflow_id },
        },
        { key: `reconciler.start/${now.rollback_id}` },
      );
      try {
        await engine.startRollback(input);
      } catch (e) {
        if (!isAlreadyStarted(e)) throw e;
        return;
      }
      s.started.push(now.rollback_id);
      return;
    }
    // The switch is its own audited write: a workflow ended (terminated, say) right after it, before saving its state,
    // leaves the traffic moved and the row saying otherwise. The release says so and records the switch.
    const switchRow = now.timeline.some((t) => t.event === 'switched') ? undefined : await auditedSwitch(registry, now.rollback_id);
    // What serves now: the switch may have been undone since (a failed group's compensation) or changed by a deploy.
    const serving = switchRow ? ((await registry.getPrompt(now.prompt))?.active_version ?? null) : null;
    const moved = switchRow
      ? `; it had switched ${now.prompt} from ${switchRow.from_version ?? 'nothing'} to ${switchRow.to_version ?? '?'} at ${switchRow.at}` +
        (serving === switchRow.to_version
          ? ' (traffic stays there, recovery was not verified)'
          : ` and ${now.prompt} now serves ${serving ?? 'nothing'} (the switch was undone or changed since)`)
      : '';
    const why = `its workflow ${now.workflow_id} is ${state.replace('_', ' ')} without having recorded an outcome (last status ${now.status})${moved}; the prompt is released`;
    const recorded: RollbackView = switchRow
      ? {
          ...now,
          from_version: switchRow.from_version,
          to_version: switchRow.to_version,
          timeline: [
            ...now.timeline,
            {
              at: switchRow.at,
              event: 'switched',
              detail: {
                from_version: switchRow.from_version,
                to_version: switchRow.to_version,
                at: switchRow.at,
                recorded_by: RECONCILER,
                source: `audit row ${switchRow.id} (the workflow ended before saving its switch)`,
              },
            },
          ],
        }
      : now;
    await release(recorded, why, state);
    s.released.push({ rollback_id: now.rollback_id, why });
  };

  const reconcileCanary = async (d: Deployment, s: ReconcileSummary): Promise<void> => {
    const workflowId = `deploy/${d.prompt}/${d.deployment_id}`;
    const state = await engine.describe(workflowId);
    if (state === 'running' || state === 'continued_as_new') return;
    if (state === 'not_found' && (clock.now().getTime() - Date.parse(d.created_at)) / 1000 < deps.graceS) return;
    const now = await registry.getDeployment(d.deployment_id);
    if (now?.status !== 'rolling_out') return; // it recorded its outcome meanwhile
    const at = clock.now().toISOString();
    const why =
      state === 'not_found'
        ? 'its canary workflow never started; the prompt is released for other deploys'
        : `its canary workflow is ${state.replace('_', ' ')} without having recorded an outcome; the prompt is released for other deploys (traffic is left as it is)`;
    await registry.recordDeployment(
      { ...now, status: 'failed', updated_at: at, detail: { ...(now.detail ?? {}), reason: why, workflow: state } },
      {
        at,
        actor: RECONCILER,
        action: 'deployment.failed',
        prompt: d.prompt,
        from_version: d.from_version,
        to_version: d.version,
        reason: why,
        detail: { deployment_id: d.deployment_id, workflow_id: workflowId, workflow: state },
      },
    );
    s.deployments_failed.push({ deployment_id: d.deployment_id, why });
  };

  /** The audit row of a change to a prompt's monitor, by the reconciler. */
  const monitorAudit = (at: string, prompt: string, action: string, reason: string, detail: Record<string, unknown>): AuditEntry => ({
    at,
    actor: RECONCILER,
    action,
    prompt,
    from_version: null,
    to_version: null,
    reason,
    detail,
  });

  const guardPrompt = async (
    prompt: string,
    s: ReconcileSummary,
    listed: Set<string> | undefined,
    rows: Map<string, MonitorRecord>,
  ): Promise<void> => {
    const seen = rows.get(prompt);
    if (seen?.status === 'stopped') return; // someone stopped it on purpose
    const id = monitorWorkflowId(prompt);
    // Listed as running: no describe (a thousand prompts were a thousand calls to the engine every pass). One that
    // stopped a moment ago and is still listed is seen by the next pass.
    const state = listed?.has(id) ? 'running' : await engine.describe(id);
    if (state === 'running') {
      if (seen?.status === 'running') return;
      // Its workflow runs, its row does not say so: a start whose row was not written (the starter stopped between
      // the two, or the row and its audit row were refused together). Recorded, so the API and /metrics show it, only
      // if the row is still as read: a start (the API's) or a stop (an operator's) written since is newer.
      const at = clock.now().toISOString();
      const recorded = await monitors.record(
        {
          prompt,
          workflow_id: id,
          status: 'running',
          interval_s: seen?.interval_s ?? deps.monitorIntervalS,
          started_by: seen?.started_by ?? RECONCILER,
          started_at: seen?.started_at ?? at,
          stopped_by: null,
          updated_at: at,
        },
        monitorAudit(
          at,
          prompt,
          'monitor.recorded',
          `its monitor's workflow runs but was recorded as ${seen ? seen.status : 'missing'}; recorded as running`,
          {
            workflow_id: id,
          },
        ),
        seen?.status ?? null,
      );
      if (recorded) s.monitors_recorded.push(prompt);
      return;
    }
    // About to start one: read the row again (the pass read it a while ago), so that a stop since is kept.
    const m = await monitors.get(prompt);
    if (m?.status === 'stopped') return;
    const interval_s = m?.interval_s ?? deps.monitorIntervalS;
    const started = await engine.startMonitor(prompt, interval_s, RECONCILER);
    const at = clock.now().toISOString();
    // The row and its audit row together, if the row is still as read.
    const recorded = await monitors.record(
      {
        prompt,
        workflow_id: started.workflow_id,
        status: 'running',
        interval_s,
        started_by: m?.started_by ?? RECONCILER,
        started_at: at,
        stopped_by: null,
        updated_at: at,
      },
      monitorAudit(
        at,
        prompt,
        'monitor.start',
        m
          ? `monitor recorded as ${m.status} but its workflow was ${state.replace('_', ' ')}; restarted`
          : 'deployed without a running monitor; started one',
        { workflow_id: started.workflow_id, interval_s },
      ),
      m?.status ?? null,
    );
    if (recorded) {
      s.monitors_started.push(prompt);
      return;
    }
    // The row changed between the read and the start. Stopped meanwhile: the stop stands, and the monitor just started
    // goes. Anything else (the API started it too): its row is newer, and the workflow is the same one.
    if ((await monitors.get(prompt))?.status === 'stopped') await engine.stopMonitor(prompt, RECONCILER);
  };

  return {
    async reconcile(): Promise<ReconcileSummary> {
      const s: ReconcileSummary = {
        started: [],
        released: [],
        deployments_failed: [],
        monitors_started: [],
        monitors_recorded: [],
        errors: [],
      };
      const attempt = async (what: string, fn: () => Promise<void>): Promise<void> => {
        try {
          await fn();
        } catch (e) {
          // Without the engine nothing can be repaired: retry the whole pass later (every step is idempotent).
          if (isDomainError(e) && e.type === 'EngineUnavailable') throw ApplicationFailure.retryable(e.message, e.type);
          s.errors.push(`${what}: ${(e as Error).message}`);
        }
      };
      for (const view of await rollbacks.listOpen()) await attempt(`rollback ${view.rollback_id}`, () => reconcileRollback(view, s));
      for (const d of await registry.rollingOut()) await attempt(`deployment ${d.deployment_id}`, () => reconcileCanary(d, s));
      // The monitors the engine lists as running, in one listing; without it (an engine that cannot list, or a listing
      // that failed) every prompt's monitor is described, one by one.
      let listed: Set<string> | undefined;
      if (engine.runningMonitors) {
        try {
          listed = await engine.runningMonitors();
        } catch (e) {
          // Whatever the reason (the visibility store down while the engine runs, a listing too slow), the describes
          // decide: an engine that is really away fails them, and the pass is retried.
          s.errors.push(`listing the running monitors: ${(e as Error).message}`);
        }
      }
      // The monitors' rows, read once after the listing (a start that wrote its row before the listing is seen); each
      // change is written only if its row is still as read here.
      let rows: Map<string, MonitorRecord> | undefined;
      await attempt('reading the monitors', async () => {
        rows = new Map((await monitors.list()).map((m) => [m.prompt, m]));
      });
      const read = rows;
      if (read)
        for (const p of await registry.listPrompts()) {
          if (p.active_version !== null) await attempt(`monitor of ${p.name}`, () => guardPrompt(p.name, s, listed, read));
        }
      return s;
    },
  };
}

export type ReconcileActivities = ReturnType<typeof createReconcileActivities>;
