// The worker's workflowsPath: exports workflow functions (and their queries) only.
export { runSteps, progressQuery } from './run-steps.js';
