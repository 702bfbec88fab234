import { DomainError } from '../domain/errors';
import type { MetricEvent } from '../ports/metrics';
import type { Registry } from '../ports/registry';

/**
 * Refuses a metrics batch naming any prompt or version the registry does not know (typos, purged versions, a
 * producer deployed ahead of its registration): 404 naming every one of them with its first event. One query
 * per batch for its distinct pairs, so the ingest path stays fast.
 */
export async function requireKnownVersions(registry: Registry, events: readonly MetricEvent[]): Promise<void> {
  const first = new Map<string, { prompt: string; version: string; index: number }>();
  events.forEach((e, index) => {
    const k = `${e.prompt}\u0000${e.version}`;
    if (!first.has(k)) first.set(k, { prompt: e.prompt, version: e.version, index });
  });
  const missing = await registry.missingVersions([...first.values()]);
  if (missing.length === 0) return;
  const what = (m: (typeof missing)[number]): string =>
    m.prompt_exists ? `prompt ${m.prompt} has no version ${m.version}` : `no prompt named ${m.prompt} (version ${m.version})`;
  const errors = missing
    .map((m) => ({ index: first.get(`${m.prompt}\u0000${m.version}`)!.index, message: what(m) }))
    .sort((a, b) => a.index - b.index)
    .map((e) => ({ field: `events[${e.index}]`, message: e.message }));
  throw new DomainError(
    'UnknownVersion',
    `${errors.map((e) => e.message).join('; ')}; register them first (nothing from this batch was stored)`,
    { errors, unknown: missing.map(({ prompt, version }) => ({ prompt, version })) },
  );
}
