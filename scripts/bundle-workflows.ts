// `npm run build` step: bundles the workflow code once, ahead of time, so production workers skip webpack at
// start-up (TEMPORAL_WORKFLOW_BUNDLE points them at the file).
import { statSync } from 'node:fs';
import { writeWorkflowBundle } from '../src/temporal/workflow-bundle.js';

const outFile = await writeWorkflowBundle(process.argv[2] ?? 'dist/workflow-bundle.js');
console.log(`workflow bundle written to ${outFile} (${Math.round(statSync(outFile).size / 1024)} KiB)`);
