// Child process of bench/run.ts: a bare worker for the one-activity ceiling, with the same worker options as
// Hookflow's (createHookflowWorker), so the ratio to it isolates what Hookflow's own workflow and activity add.
import type { Activities } from '../../src/activities/index.js';
import { connectWorker, createHookflowWorker, installWorkerLogging } from '../../src/temporal/worker.js';
import { createCeilingActivities } from './activities.js';

const { BENCH_TEMPORAL_ADDRESS, BENCH_TASK_QUEUE, BENCH_WORKFLOW_BUNDLE } = process.env;
if (!BENCH_TEMPORAL_ADDRESS || !BENCH_TASK_QUEUE || !BENCH_WORKFLOW_BUNDLE) {
  console.error(
    'ceiling worker: BENCH_TEMPORAL_ADDRESS, BENCH_TASK_QUEUE and BENCH_WORKFLOW_BUNDLE are required',
  );
  process.exit(2);
}
installWorkerLogging('warn');
const connection = await connectWorker(BENCH_TEMPORAL_ADDRESS);
const worker = await createHookflowWorker({
  connection,
  temporal: { namespace: 'default', taskQueue: BENCH_TASK_QUEUE, workflowBundlePath: BENCH_WORKFLOW_BUNDLE },
  // The same provider rate limit the bench gives Hookflow's worker (EMAIL_MAX_PER_SECOND; 0: none, eager activities).
  email: { maxPerSecond: Number(process.env.BENCH_ACTIVITIES_PER_SECOND ?? 0) },
  // Only the activity's shape differs from Hookflow's; createHookflowWorker does not look inside.
  activities: createCeilingActivities((workflowId) => process.send?.(workflowId)) as unknown as Activities,
  shutdownGraceMs: 1000,
});
process.once('SIGTERM', () => worker.shutdown());
console.log('ceiling worker polling');
await worker.run();
await connection.close();
