/** Names users type in URLs, CLI arguments and workflow ids. */
export const VERSION_NAME = /^[A-Za-z0-9._-]{1,64}$/;
export const PROMPT_NAME = /^[A-Za-z0-9._-]{1,128}$/;

export const rollbackWorkflowId = (prompt: string, rollbackId: string): string => `rollback/${prompt}/${rollbackId}`;
export const monitorWorkflowId = (prompt: string): string => `monitor/${prompt}`;
