import { describe, expect, it } from 'vitest';
import { renderQuery, templateProblems } from '../../../src/domain/metrics-provider';

describe('PromQL templates', () => {
  it('substitutes {{prompt}}, {{version}} and {{window}} (seconds)', () => {
    expect(
      renderQuery('sum(increase(llm_requests_total{prompt="{{prompt}}",version="{{ version }}"}[{{window}}]))', {
        prompt: 'customer-support',
        version: 'v2.0.0',
        window_s: 300,
      }),
    ).toBe('sum(increase(llm_requests_total{prompt="customer-support",version="v2.0.0"}[300s]))');
  });

  it.each([
    ['sum(increase(x{version="{{version}}"}[{{window}}]))', []],
    ['1000 * histogram_quantile(0.99, sum by (le) (rate(h_bucket{version="{{version}}"}[{{window}}])))', []],
    ['sum(x{version="{{version}}", path=~"/a\\\\(b"})', []],
    ['sum(x{prompt="{{prompt}}"})', ['must use {{version}}, or every version would read the same numbers']],
    ['sum(x{version="{{version}}",model="{{model}}"})', ['unknown variable {{model}}; use {{prompt}}, {{version}}, {{window}}']],
    ['sum(increase(x{version="{{version}}"}[{{window}}])', ['unclosed "("']],
    ['sum(x{version="{{version}}"}))', ['unbalanced ")"']],
    ['sum(x{version="{{version}})', ['unterminated " string']],
  ])('%s → %j', (template, problems) => {
    expect(templateProblems(template)).toEqual(problems);
  });
});
