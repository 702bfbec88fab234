import type { Evaluation, Evaluator } from '../../ports/evaluator';
import type { MetricsSource } from '../../ports/metrics';
import type { VersionRecord } from '../../ports/registry';

/**
 * The built-in evaluator: judges a version by its own recorded traffic — its last active window. Passed when
 * its success rate (1 − error rate) and, if scored, its mean quality are at least `min_accuracy`, over at least
 * `min_samples` requests. No history → not judged (null).
 */
export class MetricsHistoryEvaluator implements Evaluator {
  constructor(
    private readonly metrics: MetricsSource,
    private readonly opts: { window_s: number; min_samples: number; min_accuracy: number },
  ) {}

  async evaluate(prompt: string, version: VersionRecord): Promise<Evaluation> {
    const base = { evaluator: 'metrics-history' };
    const w = await this.metrics.lastWindow(prompt, version.version, this.opts.window_s);
    if (!w) return { ...base, passed: null, score: null, detail: 'no recorded traffic' };
    if (w.requests < this.opts.min_samples) {
      return { ...base, passed: null, score: null, detail: `${w.requests} recorded request(s), ${this.opts.min_samples} needed` };
    }
    const success = 1 - (w.error_rate ?? 0);
    const score = w.quality_samples >= this.opts.min_samples && w.quality_mean !== null ? Math.min(success, w.quality_mean) : success;
    const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
    const passed = score >= this.opts.min_accuracy;
    return {
      ...base,
      passed,
      score,
      detail: `${passed ? 'passed' : 'failed'}: score ${pct(score)} ${passed ? '≥' : '<'} ${pct(this.opts.min_accuracy)} (success ${pct(success)}${w.quality_mean !== null ? `, quality ${pct(w.quality_mean)}` : ''}) over its last ${w.requests} requests`,
    };
  }
}
