/** How bad a breach is: the trigger table's critical/high/medium, and low for alerts below the table. */
export type Severity = 'critical' | 'high' | 'medium' | 'low';

export const SEVERITY_RANK: Record<Severity, number> = { low: 1, medium: 2, high: 3, critical: 4 };
