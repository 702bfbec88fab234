/** Which versions stay hot, which are archived, which are purged (the seed's FAQ: 2–3 hot, 6 months archived). */
export interface RetentionPolicy {
  /** The newest this-many versions stay hot (held ready for a zero-latency switch). */
  hot_count: number;
  /** Versions older than this are purged… */
  purge_after_s: number;
  /** …unless an audit row younger than this names them (the audit period). */
  audit_period_s: number;
}

export const DEFAULT_RETENTION: Readonly<RetentionPolicy> = Object.freeze({
  hot_count: 3,
  purge_after_s: 183 * 86_400,
  audit_period_s: 365 * 86_400,
});

export interface RetentionFacts {
  version: string;
  created_at: string;
  state: 'hot' | 'archived';
}

export interface RetentionPlan {
  archive: string[];
  purge: { version: string; age_days: number }[];
  /** Old enough to purge but still referenced, and by what. */
  kept: { version: string; why: string }[];
}

/**
 * The retention decision for one prompt's versions (oldest first). `referenced` maps a version to why it must
 * survive (active, in a traffic split, named by an open incident or by an audit row within the audit period):
 * a referenced version is never purged, and an active or serving one is never archived.
 */
export function retentionPlan(
  versions: readonly RetentionFacts[],
  referenced: ReadonlyMap<string, string>,
  serving: ReadonlySet<string>,
  policy: RetentionPolicy,
  now: Date,
): RetentionPlan {
  const plan: RetentionPlan = { archive: [], purge: [], kept: [] };
  const hot = new Set(versions.slice(-policy.hot_count).map((v) => v.version));
  for (const v of versions) {
    const age_s = (now.getTime() - Date.parse(v.created_at)) / 1000;
    if (age_s > policy.purge_after_s && !serving.has(v.version)) {
      const why = referenced.get(v.version);
      if (!why) {
        plan.purge.push({ version: v.version, age_days: Math.floor(age_s / 86_400) });
        continue;
      }
      // Kept for its reference, but no longer held hot.
      plan.kept.push({ version: v.version, why });
    }
    if (!hot.has(v.version) && !serving.has(v.version) && v.state === 'hot') plan.archive.push(v.version);
  }
  return plan;
}
