// The ceiling workflow: start-to-completion of one workflow with one no-op activity, the least any Temporal run that
// does one piece of I/O can cost. Bundled by bench/run.ts and run by bench/ceiling/worker.ts.
import { patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { CeilingActivities } from './activities.js';

const { noop, noopCarrying } = proxyActivities<CeilingActivities>({ startToCloseTimeout: '30s' });

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

/**
 * The one-activity run after two patched() calls, as Hookflow's email step makes them (src/workflows/patches.ts). On a
 * new run each records a marker and sdk-core adds an upsert of the TemporalChangeVersion search attribute, so
 * bench/run-cost.ts can weigh what they cost the server.
 */
export async function benchPatchedOneActivity(): Promise<void> {
  patched('bench-first-patch');
  patched('bench-second-patch');
  await noop();
}

/** Byte sizes of what a run carries in its history besides its own input (bench/run-cost.ts). */
export interface CarriedSizes {
  activityInput: number;
  activityResult: number;
  workflowResult: number;
}

/** The one-activity run with payloads of a Hookflow run's sizes: the send's input and result, the run's result. */
export async function benchCarryingOneActivity(_input: unknown, sizes: CarriedSizes): Promise<string> {
  await noopCarrying('i'.repeat(sizes.activityInput), sizes.activityResult);
  return 'w'.repeat(sizes.workflowResult);
}

/**
 * The one-activity run with the timeouts of Hookflow's email send (email-step.ts): a heartbeat timeout and a
 * schedule-to-close bound beside the start-to-close one, each a timer the server keeps for the activity.
 */
const withSendTimeouts = proxyActivities<CeilingActivities>({
  startToCloseTimeout: '30s',
  heartbeatTimeout: '5s',
  scheduleToCloseTimeout: '23h',
});

export async function benchOneActivityWithSendTimeouts(): Promise<void> {
  await withSendTimeouts.noop();
}

/**
 * The bare run with its start-to-close at 5 s instead of 30 s: the one timer the server keeps for the activity then
 * fires (and is dropped) within seconds, as the send's heartbeat timeout does, instead of 30 s later.
 */
const withShortStartToClose = proxyActivities<CeilingActivities>({ startToCloseTimeout: '5s' });

export async function benchOneActivityWithShortStartToClose(): Promise<void> {
  await withShortStartToClose.noop();
}

/** The same with the heartbeat timeout alone beside start-to-close: one of the send's two timers. */
const withHeartbeatTimeout = proxyActivities<CeilingActivities>({
  startToCloseTimeout: '30s',
  heartbeatTimeout: '5s',
});

export async function benchOneActivityWithHeartbeatTimeout(): Promise<void> {
  await withHeartbeatTimeout.noop();
}

/** The same with the schedule-to-close bound alone beside start-to-close: the other of the send's two timers. */
const withScheduleToClose = proxyActivities<CeilingActivities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '23h',
});

export async function benchOneActivityWithScheduleToClose(): Promise<void> {
  await withScheduleToClose.noop();
}

/**
 * All of it as a Hookflow run has it: the send's timeouts, payloads of a Hookflow run's sizes and, as runSteps (the
 * type of runs before runStepsV2) records them, the email step's two patch markers.
 */
export async function benchLikeHookflow(
  _input: unknown,
  sizes: CarriedSizes,
  patches: boolean,
): Promise<string> {
  if (patches) {
    patched('bench-first-patch');
    patched('bench-second-patch');
  }
  await withSendTimeouts.noopCarrying('i'.repeat(sizes.activityInput), sizes.activityResult);
  return 'w'.repeat(sizes.workflowResult);
}
