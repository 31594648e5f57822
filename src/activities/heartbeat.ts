import { Context } from '@temporalio/activity';

/**
 * Heartbeats the current activity every `intervalMs` until the returned function is called. While an activity
 * waits on a remote call, heartbeats let Temporal notice a dead worker within the heartbeat timeout (seconds,
 * not the whole start-to-close timeout) and deliver a cancellation, which aborts the call.
 *
 * The first heartbeat comes after `intervalMs`, not at once: the SDK sends a first heartbeat to the server
 * immediately, and that is one more write to the run's state for every send, though most calls answer well within
 * the interval. Temporal times the heartbeat timeout from the activity's start, so a worker that dies before its
 * first heartbeat is noticed all the same (test/faults/worker-crash.test.ts).
 */
export function keepHeartbeating(intervalMs = 1_000): () => void {
  const context = Context.current();
  const timer = setInterval(() => context.heartbeat(), intervalMs);
  return () => clearInterval(timer);
}
