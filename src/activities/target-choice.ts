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

/** What choosing a target reads from the registry: the prompt (undefined when there is none) and its versions. */
export interface TargetState {
  prompt: PromptRecord | undefined;
  versions: VersionRecord[];
}
