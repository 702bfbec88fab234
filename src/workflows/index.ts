export { rollbackWorkflow } from './rollback';
