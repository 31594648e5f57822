/*
 * Wire names: the workflow type, its query and the activities, as Temporal histories, the API and the worker
 * refer to them. Defined once here and imported everywhere; renaming one strands every run that used it.
 */

/**
 * The interpreter workflow's type that new runs start as (its exported function is named the same): runStepsV2
 * starts with every change in PATCHES_BUILT_INTO_V2 in effect, so its runs record no marker for them (patches.ts).
 */
export const RUN_STEPS_WORKFLOW_TYPE = 'runStepsV2';

/**
 * Every interpreter workflow type a Hookflow run can have: the current one and those that runs started by older
 * builds carry (`runSteps`, before runStepsV2). Workers keep serving them all; the API reads and lists them all.
 */
export const RUN_STEPS_WORKFLOW_TYPES = [RUN_STEPS_WORKFLOW_TYPE, 'runSteps'] as const;

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
