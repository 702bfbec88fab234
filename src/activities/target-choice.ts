import type { PromptRecord, VersionRecord } from '../ports/registry';
import type { Evaluation } from '../ports/evaluator';

export interface TargetChoice {
  from_version: string | null;
  to_version: string;
  /** The target's baseline test, when an evaluator is configured. */
  evaluation?: Evaluation;
  /** Versions passed over on the way to the target, and why: shown in the timeline. */
  skipped: { version: string; why: string }[];
}

/** What a rollback asks of its target's choice. */
export interface ChooseTargetInput {
  prompt: string;
  /** The operator's named target: never refused for its baseline test. */
  target_version?: string;
  /** The critical incident's budget for baseline tests (seconds, not a minute). */
  critical?: boolean;
  /**
   * The named target's baseline test runs after the switch (the workflow's testTarget), not here: its result cannot
   * change the choice, so the switch does not wait for it. Workflows from before this ask for it here.
   */
  named_test_after_switch?: boolean;
}

/** What choosing a target reads from the registry: the prompt (undefined when there is none) and its versions. */
export interface TargetState {
  prompt: PromptRecord | undefined;
  versions: VersionRecord[];
}
