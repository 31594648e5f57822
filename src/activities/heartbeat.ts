import { Context } from '@temporalio/activity';

/**
 * Heartbeats the current activity every `intervalMs` until the returned function is called. While an activity
 * waits on a remote call, heartbeats let Temporal notice a dead worker within the heartbeat timeout (seconds,
 * not the whole start-to-close timeout) and deliver a cancellation, which aborts the call.
 */
export function keepHeartbeating(intervalMs = 1_000): () => void {
  const context = Context.current();
  context.heartbeat();
  const timer = setInterval(() => context.heartbeat(), intervalMs);
  return () => clearInterval(timer);
}
