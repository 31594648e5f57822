// `npm run build` step: bundles the workflow code once, ahead of time, so production workers skip webpack at
// start-up (TEMPORAL_WORKFLOW_BUNDLE points them at the file).
import { writeFile } from 'node:fs/promises';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowsPath } from '../src/temporal/worker.js';

const outFile = process.argv[2] ?? 'dist/workflow-bundle.js';
const { code } = await bundleWorkflowCode({ workflowsPath: workflowsPath() });
await writeFile(outFile, code);
console.log(`workflow bundle written to ${outFile} (${Math.round(code.length / 1024)} KiB)`);
