/** What selection needs to know of a version (oldest first in the list it is given). */
export interface VersionFacts {
  version: string;
  deployed_at: string | null;
  /** Passed its baseline test (true), failed it (false), never tested (null). */
  known_good: boolean | null;
  rolled_back_from: boolean;
}

export interface Skipped {
  version: string;
  why: string;
}

/**
 * The newest version created before the active one that is known-good: it did not fail its baseline test,
 * traffic was never rolled back away from it, and it either served traffic before or passed a test.
 * Not blindly "the previous one"; every version passed over is named with the reason.
 */
export function knownGoodTarget(versions: readonly VersionFacts[], active: string | null): { target?: string; skipped: Skipped[] } {
  const activeIndex = versions.findIndex((v) => v.version === active);
  const earlier = activeIndex < 0 ? versions.filter((v) => v.version !== active) : versions.slice(0, activeIndex);
  const skipped: Skipped[] = [];
  for (const v of [...earlier].reverse()) {
    if (v.known_good === false) skipped.push({ version: v.version, why: 'failed its baseline test' });
    else if (v.rolled_back_from) skipped.push({ version: v.version, why: 'was rolled back from before' });
    else if (v.deployed_at === null && v.known_good !== true)
      skipped.push({ version: v.version, why: 'never served traffic nor passed a test' });
    else return { target: v.version, skipped };
  }
  return { skipped };
}
