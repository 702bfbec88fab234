/**
 * `npm run bundle [-- <file>]`: builds the workflow bundle once (default `.data/workflow-bundle.js`), for
 * WORKFLOW_BUNDLE_PATH: workers then start without bundling (seconds of CPU at every start). Rebuild it with each
 * release: a worker must run the workflow code of its own release.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../src/main/worker';

async function main(): Promise<void> {
  const out = path.resolve(process.argv[2] ?? path.join('.data', 'workflow-bundle.js'));
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, code);
  process.stdout.write(`wrote ${out} (${Math.round(code.length / 1024)} KiB): set WORKFLOW_BUNDLE_PATH=${out}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
