/**
 * Signals, queries and search attributes, defined once and shared by the workflows, the API and the CLI.
 * What a user types in the Web UI or `temporal workflow signal --name approve` must match these names.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { RollbackView } from '../domain/rollback';

export interface DecisionPayload {
  by: string;
  comment?: string;
}

export const approveSignal = defineSignal<[DecisionPayload]>('approve');
export const rejectSignal = defineSignal<[DecisionPayload]>('reject');
export const stateQuery = defineQuery<RollbackView>('state');

export const PromptNameKey = defineSearchAttributeKey('PromptName', SearchAttributeType.KEYWORD);
export const RollbackSeverityKey = defineSearchAttributeKey('RollbackSeverity', SearchAttributeType.KEYWORD);
export const RollbackStateKey = defineSearchAttributeKey('RollbackState', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [PromptNameKey, RollbackSeverityKey, RollbackStateKey] as const;

export const TASK_QUEUE_DEFAULT = 'promptback';
