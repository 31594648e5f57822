/*
 * Wire names: the workflow type, its query and the activities, as Temporal histories, the API and the worker
 * refer to them. Defined once here and imported everywhere; renaming one strands every run that used it.
 */

/** The interpreter workflow's type (its exported function is named the same). */
export const RUN_STEPS_WORKFLOW_TYPE = 'runSteps';

/** The query that returns a run's live RunProgress. */
export const PROGRESS_QUERY_NAME = 'progress';

/** Activity names: the keys of createActivities(), which proxyActivities() calls by name. */
export const ACTIVITY_NAMES = {
  sendEmail: 'sendEmail',
  httpRequest: 'httpRequest',
} as const;

/**
 * The task queue of http activities, beside the main one (workflows and email). The main queue's activity rate is
 * the email provider's rate limit; http requests must not wait behind it.
 */
export function httpTaskQueue(mainTaskQueue: string): string {
  return `${mainTaskQueue}-http`;
}
