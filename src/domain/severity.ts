/**
 * How bad a breach is: the trigger table's critical/high/medium, and low for alerts below the table.
 * `manual` is an operator's rollback: no breach measured it, so it ranks below every breach (a monitor's
 * worse breach during it is still told to it).
 */
export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'manual';

export const SEVERITY_RANK: Record<Severity, number> = { manual: 0, low: 1, medium: 2, high: 3, critical: 4 };
