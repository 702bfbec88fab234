import { DomainError } from '../domain/errors';
import type { MetricEvent } from '../ports/metrics';
import type { Registry } from '../ports/registry';

/**
 * Refuses a metrics batch naming any prompt or version the registry does not know (typos, purged versions, a
 * producer deployed ahead of its registration): 404 naming every one of them with its first event. One query
 * per batch for its distinct pairs, so the ingest path stays fast.
 */
export async function requireKnownVersions(registry: Registry, events: readonly MetricEvent[], known?: KnownVersions): Promise<void> {
  // Each pair not confirmed a moment ago, with its first event: looked up by prompt, then version (no key string built
  // per event: a 1,000-event batch is checked in a thousand map reads).
  const first = new Map<string, Map<string, number>>();
  const now = Date.now();
  let unconfirmed = 0;
  for (let index = 0; index < events.length; index++) {
    const { prompt, version } = events[index]!;
    if (known?.has(prompt, version, now)) continue;
    let versions = first.get(prompt);
    if (!versions) first.set(prompt, (versions = new Map<string, number>()));
    if (!versions.has(version)) {
      versions.set(version, index);
      unconfirmed++;
    }
  }
  if (unconfirmed === 0) return;
  const pairs = [...first].flatMap(([prompt, versions]) => [...versions.keys()].map((version) => ({ prompt, version })));
  const missing = await registry.missingVersions(pairs);
  if (known) {
    const absent = new Set(missing.map((m) => `${m.prompt}\u0000${m.version}`));
    for (const p of pairs) if (!absent.has(`${p.prompt}\u0000${p.version}`)) known.add(p.prompt, p.version, now);
  }
  if (missing.length === 0) return;
  const what = (m: (typeof missing)[number]): string =>
    m.prompt_exists ? `prompt ${m.prompt} has no version ${m.version}` : `no prompt named ${m.prompt} (version ${m.version})`;
  const errors = missing
    .map((m) => ({ index: first.get(m.prompt)!.get(m.version)!, message: what(m) }))
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
  /** prompt → version → when the registry confirmed it. */
  private readonly seen = new Map<string, Map<string, number>>();
  private size = 0;

  constructor(
    private readonly ttlMs = 5_000,
    private readonly max = 100_000,
  ) {}

  has(prompt: string, version: string, now: number): boolean {
    const at = this.seen.get(prompt)?.get(version);
    return at !== undefined && now - at < this.ttlMs;
  }

  add(prompt: string, version: string, now: number): void {
    if (this.size >= this.max) {
      this.seen.clear();
      this.size = 0;
    }
    let versions = this.seen.get(prompt);
    if (!versions) this.seen.set(prompt, (versions = new Map<string, number>()));
    if (!versions.has(version)) this.size++;
    versions.set(version, now);
  }
}
