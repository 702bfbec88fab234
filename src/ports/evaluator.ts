import type { VersionRecord } from './registry';

export interface Evaluation {
  /** Passed the baseline test (true), failed it (false), or could not be judged (null: no suite, no history). */
  passed: boolean | null;
  /** Accuracy or the score the test measures, 0..1, when there is one. */
  score: number | null;
  /** What was run and what came out, for the timeline. */
  detail: string;
  evaluator: string;
}

/** Runs a version's baseline test before it becomes a rollback target (seed: accuracy ≥ 75 %). */
export interface Evaluator {
  evaluate(prompt: string, version: VersionRecord): Promise<Evaluation>;
}
