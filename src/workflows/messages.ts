/**
 * Signals, queries, updates and search attributes, defined once and shared by the workflows, the API and the CLI.
 * What a user types in the Web UI or `temporal workflow signal --name approve` must match these names.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { RollbackView } from '../domain/rollback';
import type { Verdict } from '../domain/verdict';
import type { StageProgress } from '../domain/stages';

export type { StageProgress };

export interface DecisionPayload {
  by: string;
  comment?: string;
  /** Where an Update came from: a verified Slack button press, else the API (the default). */
  via?: 'slack';
}

export const approveSignal = defineSignal<[DecisionPayload]>('approve');
export const rejectSignal = defineSignal<[DecisionPayload]>('reject');
export const stateQuery = defineQuery<RollbackView>('state');
/** From a monitor to an open incident: the breach got worse (e.g. high → critical). */
export const breachSignal = defineSignal<[Verdict]>('breach');

export interface MonitorState {
  prompt: string;
  interval_s: number;
  started_by: string;
  checks: number;
  last_check_at?: string;
  last_verdict?: Verdict;
  last_action?: string;
  active_version?: string | null;
}
/** To a monitor: check now (the ingest fast path sends this when the critical rule trips). */
export const checkNowSignal = defineSignal<[{ source: string }]>('check-now');
export const stopMonitorSignal = defineSignal<[{ by: string }]>('stop');
export const monitorStateQuery = defineQuery<MonitorState>('state');

export const PromptNameKey = defineSearchAttributeKey('PromptName', SearchAttributeType.KEYWORD);
export const RollbackSeverityKey = defineSearchAttributeKey('RollbackSeverity', SearchAttributeType.KEYWORD);
export const RollbackStateKey = defineSearchAttributeKey('RollbackState', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [PromptNameKey, RollbackSeverityKey, RollbackStateKey] as const;

export const TASK_QUEUE_DEFAULT = 'promptback';

/** Gradual rollbacks and canary rollouts: operator controls (API, Web UI, `temporal workflow signal`). */
export const pauseSignal = defineSignal<[DecisionPayload]>('pause');
export const resumeSignal = defineSignal<[DecisionPayload]>('resume');
export const abortSignal = defineSignal<[DecisionPayload]>('abort');

/** From a gradual-rollback child to its rollback: progress to show and persist. */
export const progressSignal = defineSignal<[StageProgress]>('progress');
export const progressQuery = defineQuery<StageProgress>('progress');

/**
 * Decisions as Updates on `rollback/{prompt}/{id}` (the API's path): each has a validator that refuses, with an
 * ApplicationFailure of type DECISION_REFUSED saying why (not awaiting a decision, deadline passed and what was
 * done, already decided by whom), so a stale click writes nothing to history. The handler returns the view once
 * the workflow acted on it. `by` is the authenticated API actor. The `approve`/`reject` signals above stay for
 * the Web UI and `temporal workflow signal`; pause/resume/abort signals still go to the gradual child and canaries.
 */
export const approveUpdate = defineUpdate<RollbackView, [DecisionPayload]>('approve');
export const rejectUpdate = defineUpdate<RollbackView, [DecisionPayload]>('reject');
export const pauseUpdate = defineUpdate<RollbackView, [DecisionPayload]>('pause');
export const resumeUpdate = defineUpdate<RollbackView, [DecisionPayload]>('resume');
export const abortUpdate = defineUpdate<RollbackView, [DecisionPayload]>('abort');
export type DecisionName = 'approve' | 'reject' | 'pause' | 'resume' | 'abort';
export const DECISION_UPDATES = {
  approve: approveUpdate,
  reject: rejectUpdate,
  pause: pauseUpdate,
  resume: resumeUpdate,
  abort: abortUpdate,
} as const;
/** The ApplicationFailure type of a refused decision (the API's DomainError 'DecisionRefused', 409). */
export const DECISION_REFUSED = 'DecisionRefused';

/** From a rollback to its gradual child: a critical breach, stop the stages now (the parent switches all traffic). */
export const finishNowSignal = defineSignal<[{ reason: string }]>('finish-now');
