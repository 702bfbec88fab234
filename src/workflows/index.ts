export { rollbackWorkflow } from './rollback';
export { monitorWorkflow } from './monitor';
export { gradualRollbackWorkflow } from './gradual';
export { canaryWorkflow } from './canary';
export { retentionWorkflow } from './retention';
export { reconcileWorkflow } from './reconcile';
export { storageWorkflow } from './storage';
