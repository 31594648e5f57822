import { z } from 'zod';
import { RUN_ID_PATTERN } from '../services/run-ids.js';

/** The error body of DESIGN §3, for the OpenAPI document. */
export const errorResponseSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.array(z.unknown()) }),
  requestId: z.string(),
});

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [status, errorResponseSchema]));

export const bearerAuth = [{ bearerAuth: [] }];

export const workflowIdParamsSchema = z.strictObject({
  id: z.uuid({ message: 'must be a workflow id (a UUID) as returned by POST /v1/workflows' }),
});

export const runIdParamsSchema = z.strictObject({
  runId: z.string().regex(RUN_ID_PATTERN, 'must be a run id like run_… as returned when the run started'),
});
