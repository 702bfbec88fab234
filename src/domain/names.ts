/**
 * Names users type in URLs, CLI arguments and workflow ids. `.` and `..` are refused: as a path segment they
 * mean "this folder" and "the parent" to every URL resolver, proxy and file system on the way.
 */
export const VERSION_NAME = /^(?!\.\.?$)[A-Za-z0-9._-]{1,64}$/;
export const PROMPT_NAME = /^(?!\.\.?$)[A-Za-z0-9._-]{1,128}$/;

export const rollbackWorkflowId = (prompt: string, rollbackId: string): string => `rollback/${prompt}/${rollbackId}`;
export const monitorWorkflowId = (prompt: string): string => `monitor/${prompt}`;
/**
 * Rollbacks (incidents and operators' rollbacks, with their gradual children) run on a task queue of their own, served
 * by a worker of their own in the same process: their workflow tasks never queue behind a thousand monitors' checks.
 */
export const rollbackTaskQueue = (taskQueue: string): string => `${taskQueue}-rollbacks`;
/**
 * Monitors' checks in a long-running activity each (MONITOR_CHECKS=activity) run on a task queue of their own: each
 * holds an activity slot while it sleeps between checks, so they have a worker of their own with slots for a fleet,
 * and never take the slots the rollbacks' and monitors' other activities need.
 */
export const monitorChecksTaskQueue = (taskQueue: string): string => `${taskQueue}-monitor-checks`;
