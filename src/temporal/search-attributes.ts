import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Search attributes set on every run (DESIGN §5). Listing a workflow's runs and checking who owns a run both
 * query Temporal visibility by these, so they are registered on the dev server and by the compose setup.
 * Their names are wire identifiers: renaming one strands the runs that carry the old name.
 */
export const HOOKFLOW_WORKFLOW_ID = defineSearchAttributeKey(
  'HookflowWorkflowId',
  SearchAttributeType.KEYWORD,
);
export const HOOKFLOW_OWNER_ID = defineSearchAttributeKey('HookflowOwnerId', SearchAttributeType.KEYWORD);

export const hookflowSearchAttributes = [HOOKFLOW_WORKFLOW_ID, HOOKFLOW_OWNER_ID] as const;

/** Set by Temporal on every run a Schedule starts: the time the run was due. */
export const TEMPORAL_SCHEDULED_START_TIME = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);
