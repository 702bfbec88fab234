import { DomainError } from '../domain/errors';
import type { MetricEvent } from '../ports/metrics';
import type { Registry } from '../ports/registry';

/**
 * Refuses a metrics batch naming any prompt or version the registry does not know (typos, purged versions, a
 * producer deployed ahead of its registration): 404 naming every one of them with its first event. One query
 * per batch for its distinct pairs, so the ingest path stays fast.
 */
export async function requireKnownVersions(registry: Registry, events: readonly MetricEvent[], known?: KnownVersions): Promise<void> {
  const first = new Map<string, { prompt: string; version: string; index: number }>();
  const now = Date.now();
  events.forEach((e, index) => {
    const k = `${e.prompt}\u0000${e.version}`;
    if (!first.has(k) && !known?.has(k, now)) first.set(k, { prompt: e.prompt, version: e.version, index });
  });
  if (first.size === 0) return;
  const missing = await registry.missingVersions([...first.values()]);
  if (known) {
    const absent = new Set(missing.map((m) => `${m.prompt}\u0000${m.version}`));
    for (const k of first.keys()) if (!absent.has(k)) known.add(k, now);
  }
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

/**
 * Pairs the registry confirmed a moment ago. Only confirmations are kept, never an absence (a version registered
 * now is accepted by the next batch), and each for `ttlMs`: a version purged since is refused again within that
 * time. A 1,000-prompt batch checks its pairs in memory instead of one 1,000-parameter query on the event loop
 * that serves switches and resolves.
 */
export class KnownVersions {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly ttlMs = 5_000,
    private readonly max = 100_000,
  ) {}

  has(key: string, now: number): boolean {
    const at = this.seen.get(key);
    return at !== undefined && now - at < this.ttlMs;
  }

  add(key: string, now: number): void {
    if (this.seen.size >= this.max) this.seen.clear();
    this.seen.set(key, now);
  }
}
