import type { FieldError } from './problem';

/** Deepest nesting of objects and arrays a request body may have; API bodies need 4, free-form metadata gets the rest. */
export const MAX_JSON_DEPTH = 16;

/** A UTF-16 surrogate without its partner: JSON.parse accepts "\ud800", but it has no UTF-8 encoding to store. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const ANY_SURROGATE = /[\ud800-\udfff]/;
const lone = (s: string): boolean => ANY_SURROGATE.test(s) && LONE_SURROGATE.test(s);
/** U+0000: JSON allows "\u0000", but Postgres stores no NUL in text (nor in jsonb): refused on every store alike. */
const NUL = '\u0000';
const unstorable = (s: string): boolean => s.includes(NUL) || lone(s);
/** Why a string (a value or a member name) cannot be stored; undefined when it can. */
const whyUnstorable = (s: string): string | undefined =>
  s.includes(NUL)
    ? 'contains a NUL character (U+0000), which cannot be stored'
    : LONE_SURROGATE.test(s)
      ? 'contains a lone UTF-16 surrogate (not valid Unicode)'
      : undefined;

/** The common case, kept cheap for 10,000-event metric batches: no paths built, nothing allocated per value. */
function isClean(body: unknown, maxDepth: number): boolean {
  const values: unknown[] = [body];
  const depths: number[] = [0];
  while (values.length > 0) {
    const value = values.pop();
    const depth = depths.pop()!;
    if (typeof value === 'string') {
      if (unstorable(value)) return false;
    } else if (value !== null && typeof value === 'object') {
      if (depth >= maxDepth) return false;
      if (Array.isArray(value)) {
        for (const v of value) {
          values.push(v);
          depths.push(depth + 1);
        }
      } else {
        for (const k in value) {
          if (unstorable(k)) return false;
          values.push((value as Record<string, unknown>)[k]);
          depths.push(depth + 1);
        }
      }
    }
  }
  return true;
}

const child = (path: string, key: string | number): string =>
  typeof key === 'number' ? `${path || '(body)'}[${key}]` : path ? `${path}.${key}` : key;

/**
 * What no field of any route may hold, checked once on the parsed body: strings (values or keys) with lone
 * surrogates or a NUL character, and nesting deeper than MAX_JSON_DEPTH (which would otherwise exhaust the stack of whatever
 * serialises it later). Iterative, so a body nested 500,000 deep is refused rather than crashing the check.
 */
export function jsonBodyErrors(body: unknown, maxDepth = MAX_JSON_DEPTH): FieldError[] {
  if (isClean(body, maxDepth)) return [];
  const errors: FieldError[] = [];
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: body, path: '', depth: 0 }];
  while (stack.length > 0 && errors.length < 20) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === 'string') {
      const why = whyUnstorable(value);
      if (why) errors.push({ field: path || '(body)', message: why });
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= maxDepth) {
      errors.push({ field: path || '(body)', message: `nested deeper than ${maxDepth} levels of objects and arrays` });
      continue;
    }
    const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    // Pushed in reverse so that errors come out in document order.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, v] = entries[i]!;
      const at = child(path, key);
      const why = typeof key === 'string' ? whyUnstorable(key) : undefined;
      if (why) {
        errors.push({ field: at, message: `the member name ${why}` });
        continue;
      }
      stack.push({ value: v, path: at, depth: depth + 1 });
    }
  }
  return errors;
}
