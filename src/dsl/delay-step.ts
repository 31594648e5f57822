import { z } from 'zod';
import { durationSchema, stepId, onFailureSchema, strictObject, whenSchema } from './fields.js';

/* The `delay` step (DESIGN §2): a durable Temporal timer, no activity. Its executor is src/workflows/delay-step.ts. */

/** Params of a `delay` step: a durable Temporal timer. */
export const delayParamsSchema = strictObject({ duration: durationSchema });
/** See delayParamsSchema. */
export type DelayParams = z.output<typeof delayParamsSchema>;

/** Waits for `params.duration` on a durable timer. A timer does not fail, so it has no `retry`. */
export const delayStepSchema = strictObject(
  {
    id: stepId,
    type: z.literal('delay'),
    params: delayParamsSchema,
    when: whenSchema.optional(),
    onFailure: onFailureSchema.optional(),
  },
  (keys) =>
    keys.includes('retry')
      ? '"retry" is not allowed on a delay step: only email and http steps are retried'
      : undefined,
);
/** See delayStepSchema. */
export type DelayStep = z.output<typeof delayStepSchema>;
