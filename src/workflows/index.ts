// The worker's workflowsPath: exports workflow functions (and their queries) only.
export { runSteps, runStepsV2, progressQuery } from './run-steps.js';
