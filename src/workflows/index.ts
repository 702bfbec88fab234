export { rollbackWorkflow } from './rollback';
export { monitorWorkflow } from './monitor';
