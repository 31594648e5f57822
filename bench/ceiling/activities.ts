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
    /** The same, carrying payloads of the sizes a Hookflow send carries (its input, the result it returns). */
    noopCarrying(_input: string, resultBytes: number): Promise<string> {
      notify(Context.current().info.workflowExecution?.workflowId ?? '');
      return Promise.resolve('r'.repeat(resultBytes));
    },
  };
}

export type CeilingActivities = ReturnType<typeof createCeilingActivities>;
