import type { Verdict } from '../domain/verdict';
import type { MonitorStore } from '../ports/monitors';
import type { Notifier } from '../ports/notifier';

export interface BlindDeps {
  monitors: Pick<MonitorStore, 'get'>;
  notifier: Notifier;
  links: (prompt: string, rollbackId: string) => Record<string, string>;
  /** Checks in a row that could not read metrics before the on-call is paged that the monitor is blind (default 3). */
  blindAfterErrors?: number;
}

/**
 * Counts a monitor's `error` checks in a row (carried on the recorded verdict) and pages the on-call once per run
 * of errors when it reaches `blindAfterErrors`: a monitor that cannot read metrics protects nothing. The page's key
 * names the check that started the run, so a retried activity pages once.
 */
export async function noteBlindness(deps: BlindDeps, prompt: string, verdict: Verdict): Promise<Verdict> {
  if (verdict.kind !== 'error') return verdict;
  const prev = await deps.monitors.get(prompt);
  const before = prev?.last_verdict?.kind === 'error' ? (prev.last_verdict.errors_in_row ?? 1) : 0;
  const inRow = before + 1;
  const after = deps.blindAfterErrors ?? 3;
  if (inRow === after) {
    const runStart = (prev?.checks ?? 0) + 1 - before;
    await deps.notifier.notify({
      key: `blind/${prompt}/${runStart}`,
      kind: 'page',
      severity: 'high',
      prompt,
      title: `Monitor is blind: ${prompt}`,
      message: `${inRow} checks in a row could not read metrics, so nothing is being judged: ${verdict.summary}`,
      links: deps.links(prompt, ''),
      data: { verdict, errors_in_row: inRow },
    });
  }
  return { ...verdict, errors_in_row: inRow };
}
