// The ceiling workflow: start-to-completion of one workflow with one no-op activity, the least any Temporal run that
// does one piece of I/O can cost. Bundled by bench/run.ts and run by bench/ceiling/worker.ts.
import { proxyActivities } from '@temporalio/workflow';
import type { CeilingActivities } from './activities.js';

const { noop } = proxyActivities<CeilingActivities>({ startToCloseTimeout: '30s' });

export async function benchOneActivity(): Promise<void> {
  await noop();
}
