import { z } from 'zod';
import { runStatuses } from '../../temporal/adapter.js';
import type { StepStatus, TriggerType } from '../../workflows/types.js';

/*
 * The run resources of DESIGN §3, as the API answers them: one zod schema each serves the route's response
 * validation and the OpenAPI document.
 */

export { runStatuses, type RunStatus } from '../../temporal/adapter.js';

const stepStatuses = [
  'pending',
  'running',
  'retrying',
  'waiting',
  'completed',
  'failed',
  'skipped',
] as const satisfies readonly StepStatus[];
const triggerTypes = ['webhook', 'manual', 'retry', 'schedule'] as const satisfies readonly TriggerType[];

const stepResourceSchema = z.object({
  id: z.string(),
  type: z.string(),
  status: z.enum(stepStatuses),
  attempts: z.number().int(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  nextAttemptAt: z.string().nullable().optional(),
  output: z.unknown(),
  error: z
    .object({ message: z.string(), type: z.string().optional(), nonRetryable: z.boolean().optional() })
    .nullable(),
});

const runSummaryShape = {
  id: z.string(),
  workflowId: z.string(),
  workflowVersion: z.number().int(),
  status: z.enum(runStatuses),
  trigger: z.object({
    type: z.enum(triggerTypes),
    receivedAt: z.string(),
    /** Scheduled runs: the time the run was due. */
    scheduledAt: z.string().optional(),
  }),
  retryOf: z.string().nullable(),
  startedAt: z.string(),
  closedAt: z.string().nullable(),
  temporal: z.object({ workflowId: z.string(), runId: z.string(), uiUrl: z.string() }),
};
export const runSummarySchema = z.object(runSummaryShape);
/** The run resource of DESIGN §3: its steps come from the workflow's live query or its final result. */
export const runResourceSchema = z.object({
  ...runSummaryShape,
  steps: z.array(stepResourceSchema),
  error: z.string().nullable(),
});
export type RunSummary = z.infer<typeof runSummarySchema>;
export type RunResource = z.infer<typeof runResourceSchema>;
