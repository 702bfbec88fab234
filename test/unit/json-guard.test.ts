import { describe, expect, it } from 'vitest';
import { jsonBodyErrors, MAX_JSON_DEPTH } from '../../src/api/json-guard';

const nested = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
};

describe('request body check', () => {
  it('accepts well-formed Unicode, surrogate pairs (emoji) included, and bodies up to the depth limit', () => {
    expect(jsonBodyErrors({ template: 'Grüß dich 😀 𝄞 — 你好', metadata: { '😀': ['ok'] } })).toEqual([]);
    expect(jsonBodyErrors(nested(MAX_JSON_DEPTH))).toEqual([]);
    expect(jsonBodyErrors(undefined)).toEqual([]);
    expect(jsonBodyErrors('plain')).toEqual([]);
  });

  it('names every field holding a lone surrogate, high or low, in values and member names', () => {
    const body = JSON.parse('{"a":"x\\ud800","b":["ok","\\udc00y"],"c":{"\\ud83dk":1},"d":"\\ude00\\ud83d"}');
    expect(jsonBodyErrors(body).map((e) => e.field)).toEqual(['a', 'b[1]', 'c.\ud83dk', 'd']);
  });

  it('names where nesting goes past the limit, even 200,000 deep', () => {
    expect(jsonBodyErrors({ metadata: nested(MAX_JSON_DEPTH) })).toEqual([
      {
        field: expect.stringMatching(/^metadata(\.a|\[0\])+$/),
        message: `nested deeper than ${MAX_JSON_DEPTH} levels of objects and arrays`,
      },
    ]);
    const deep = JSON.parse(`{"m":${'['.repeat(200_000)}${']'.repeat(200_000)}}`);
    expect(jsonBodyErrors(deep)).toHaveLength(1);
  });
});
