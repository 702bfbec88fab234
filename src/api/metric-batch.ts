import type { MetricEvent } from '../ports/metrics';
import { jsonBodyErrors } from './json-guard';
import { Problem, zodFieldErrors } from './problem';
import { ingestBody, MAX_EVENTS, metricEvent, plainMetricEvent } from './schemas';

/**
 * `POST /api/metrics`'s body, checked: the events of a valid batch (an event without `at` happened at `now`), or a
 * 400 Problem naming every bad field — the whole batch is refused, nothing from it is stored. The same code runs on
 * the API's event loop and in the metrics ingest thread (which parses the raw body there: see decodeMetricBatchBytes).
 */
export function decodeMetricBatch(body: unknown, now: Date): MetricEvent[] {
  return plainBatch(body, now) ?? decodeFieldByField(body, now);
}

/** Any batch, checked field by field: its events, or a 400 naming every bad field. */
function decodeFieldByField(body: unknown, now: Date): MetricEvent[] {
  const { events } = ingestBody.parse(body ?? {});
  const errors: { field: string; message: string }[] = [];
  const parsed: MetricEvent[] = [];
  events.forEach((raw, i) => {
    const plain: Partial<MetricEvent> | undefined = plainMetricEvent(raw);
    if (plain) {
      plain.at = now;
      parsed.push(plain as MetricEvent);
      return;
    }
    const r = metricEvent.safeParse(raw);
    if (!r.success) {
      for (const e of zodFieldErrors(r.error))
        errors.push({ field: `events[${i}]${e.field === '(body)' ? '' : `.${e.field}`}`, message: e.message });
      return;
    }
    const { at, quality, ...rest } = r.data;
    parsed.push({ ...rest, ...(quality !== undefined ? { quality } : {}), at: at ? new Date(at) : now });
  });
  if (errors.length > 0) {
    const bad = [...new Set(errors.map((e) => /^events\[(\d+)\]/.exec(e.field)?.[1]))].join(', ');
    throw new Problem(400, 'Invalid metric events', `events at index ${bad} are invalid; nothing from this batch was stored`, { errors });
  }
  return parsed;
}

/**
 * The common batch, decoded without zod: exactly `{ "events": [...] }` with 1 to MAX_EVENTS events, every one plain
 * (plainMetricEvent: no `at`, valid fields). Undefined for anything else, which decodeMetricBatch then checks field by
 * field. Such a body also passes the body guard unchecked: it nests three deep, its member names are the event's, and
 * its only strings are prompt and version names (letters, digits, `.`, `_`, `-`: no NUL, no surrogate).
 */
function plainBatch(body: unknown, now: Date): MetricEvent[] | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  for (const k in body) if (k !== 'events') return undefined;
  const events = (body as { events?: unknown }).events;
  if (!Array.isArray(events) || events.length < 1 || events.length > MAX_EVENTS) return undefined;
  const parsed: MetricEvent[] = new Array<MetricEvent>(events.length);
  for (let i = 0; i < events.length; i++) {
    const e: Partial<MetricEvent> | undefined = plainMetricEvent(events[i]);
    if (!e) return undefined;
    e.at = now;
    parsed[i] = e as MetricEvent;
  }
  return parsed;
}

const utf8 = new TextDecoder('utf-8');

/**
 * The raw body (UTF-8 JSON) parsed and checked as the API's JSON parser and body guard check every body, then
 * decoded: the same answers for the same bytes, wherever it runs.
 */
export function decodeMetricBatchBytes(bytes: Uint8Array, now: Date): MetricEvent[] {
  let body: unknown;
  try {
    // An empty body is no body: {} (the batch then lacks its events), as the JSON parser leaves it.
    body = bytes.length === 0 ? {} : JSON.parse(utf8.decode(bytes));
  } catch (e) {
    throw new Problem(400, 'Malformed JSON', `the request body is not valid JSON: ${(e as Error).message}`);
  }
  const plain = plainBatch(body, now);
  if (plain) return plain;
  const errors = jsonBodyErrors(body);
  if (errors.length > 0) throw new Problem(400, 'Invalid request', errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors });
  return decodeFieldByField(body, now);
}

/** The prompts a batch reports failed requests for: the ones the ingest fast path looks at. */
export const promptsWithErrors = (events: readonly MetricEvent[]): string[] => [
  ...new Set(events.filter((e) => !e.ok).map((e) => e.prompt)),
];
