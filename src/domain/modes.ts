/** How traffic moves back: all at once, or in stages (a reverse canary). */
export type RollbackMode = 'immediate' | 'gradual';
