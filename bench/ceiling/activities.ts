import { Context } from '@temporalio/activity';

/**
 * The ceiling worker's only activity. It does no I/O of its own: it only tells the bench that it ran (over the
 * child process's IPC channel), which is the same moment the end-to-end phase observes for Hookflow (the fake
 * Resend receiving the email), so both are timed from the start call to their activity.
 */
export function createCeilingActivities(notify: (workflowId: string) => void) {
  return {
    noop(): Promise<void> {
      notify(Context.current().info.workflowExecution?.workflowId ?? '');
      return Promise.resolve();
    },
  };
}

export type CeilingActivities = ReturnType<typeof createCeilingActivities>;
