// The ceiling workflow: start-to-completion of one workflow with one no-op activity, the least any Temporal run that
// does one piece of I/O can cost. Bundled by bench/run.ts and run by bench/ceiling/worker.ts.
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { CeilingActivities } from './activities.js';

const { noop } = proxyActivities<CeilingActivities>({ startToCloseTimeout: '30s' });

export async function benchOneActivity(): Promise<void> {
  await noop();
}

const { noop: localNoop } = proxyLocalActivities<CeilingActivities>({ startToCloseTimeout: '30s' });

/**
 * The same with a local activity: the worker that runs the workflow task runs the activity too, with no activity
 * task through the server (issue 12 weighs it for the email send).
 */
export async function benchOneLocalActivity(): Promise<void> {
  await localNoop();
}
