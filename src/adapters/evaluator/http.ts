import fs from 'node:fs/promises';
import { z } from 'zod';
import type { Evaluation, Evaluator } from '../../ports/evaluator';
import type { VersionRecord } from '../../ports/registry';

const suiteSchema = z.object({
  cases: z.array(z.object({ input: z.unknown(), expected: z.string() })).min(1),
});

/**
 * The default test-suite evaluator: a JSON file of `{ cases: [{ input, expected }] }`, each case sent with the
 * version's template to an HTTP endpoint (`POST { prompt, version, template, input }` → `{ output }`); a case
 * passes when the output contains the expected text (case-insensitive). Accuracy ≥ `min_accuracy` passes.
 */
export class HttpSuiteEvaluator implements Evaluator {
  constructor(
    private readonly opts: { url: string; suiteFile: string; min_accuracy: number; timeout_ms: number },
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async evaluate(prompt: string, version: VersionRecord): Promise<Evaluation> {
    const base = { evaluator: 'http-suite' };
    const suite = suiteSchema.parse(JSON.parse(await fs.readFile(this.opts.suiteFile, 'utf8')));
    let pass = 0;
    const failures: string[] = [];
    for (const [i, c] of suite.cases.entries()) {
      const res = await this.fetchImpl(this.opts.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt, version: version.version, template: version.template, input: c.input }),
        signal: AbortSignal.timeout(this.opts.timeout_ms),
      });
      if (!res.ok) throw new Error(`evaluation endpoint answered ${res.status} for case ${i}`);
      const { output } = z.object({ output: z.string() }).parse(await res.json());
      if (output.toLowerCase().includes(c.expected.toLowerCase())) pass += 1;
      else if (failures.length < 3) failures.push(`case ${i}: expected "${c.expected}"`);
    }
    const score = pass / suite.cases.length;
    const passed = score >= this.opts.min_accuracy;
    return {
      ...base,
      passed,
      score,
      detail: `${passed ? 'passed' : 'failed'}: accuracy ${(score * 100).toFixed(1)} % (${pass}/${suite.cases.length}) ${passed ? '≥' : '<'} ${(this.opts.min_accuracy * 100).toFixed(0)} %${failures.length ? `; ${failures.join('; ')}` : ''}`,
    };
  }
}
