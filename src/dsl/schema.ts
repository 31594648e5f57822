import { z } from 'zod';
import { extractReferences } from '../workflows/template.js';
import { delayStepSchema } from './delay-step.js';
import { emailStepSchema } from './email-step.js';
import { httpStepSchema } from './http-step.js';
import { strictObject } from './fields.js';
import { scheduleSchema } from './schedule.js';

/*
 * The step list (DESIGN §2, §7). One schema validates a definition on save, types the jsonb column and types the
 * workflow input, so a definition that passed here is exactly what a worker interprets. Each step type has its
 * own module beside this one; this file is their registry.
 */

export const MAX_STEPS = 50;

/** Every step type: adding one is one module and one line here (see README, "Adding a step type"). */
const stepSchemas = [emailStepSchema, delayStepSchema, httpStepSchema] as const;
const STEP_TYPES = stepSchemas.map((schema) => schema.shape.type.value);

/** One step; `type` selects the shape. An unknown `type` is rejected on save, so it never reaches a worker. */
export const stepSchema = z.discriminatedUnion('type', stepSchemas, {
  error: (issue) => {
    if (issue.code !== 'invalid_union' || !('discriminator' in issue)) return undefined;
    const expected = `expected one of: ${STEP_TYPES.join(', ')}`;
    const input: unknown = issue.input;
    const type =
      typeof input === 'object' && input !== null ? (input as Record<string, unknown>).type : undefined;
    if (type === undefined) return `step type is required; ${expected}`;
    return `unknown step type ${JSON.stringify(type)}; ${expected}`;
  },
});
/** See stepSchema. */
export type Step = z.output<typeof stepSchema>;

/**
 * Where a step reads another step (`steps.<id>.output` or `steps.<id>.status`), by template anywhere in its params
 * (nested http headers, query and body included) or by `when.path`.
 */
function stepReferences(step: Record<string, unknown>): { path: (string | number)[]; ref: string[] }[] {
  const found: { path: (string | number)[]; ref: string[] }[] = [];
  const visit = (value: unknown, path: (string | number)[]) => {
    if (typeof value === 'string') {
      for (const ref of extractReferences(value)) found.push({ path, ref });
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => visit(item, [...path, index]));
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, item] of Object.entries(value)) visit(item, [...path, key]);
    }
  };
  visit(step.params, ['params']);
  const when = step.when;
  if (typeof when === 'object' && when !== null) {
    const whenPath = (when as Record<string, unknown>).path;
    if (typeof whenPath === 'string') found.push({ path: ['when', 'path'], ref: whenPath.split('.') });
  }
  return found.filter(({ ref }) => ref[0] === 'steps' && ref[1] !== undefined);
}

/**
 * The step list: 1 to MAX_STEPS steps with unique ids, where `steps.<id>.output` may only name an earlier step
 * (a later step has not run yet, so the reference would always be empty).
 */
export const stepsSchema = z
  .array(stepSchema, { error: 'steps must be a list of steps' })
  .min(1, 'a workflow needs at least one step')
  .max(MAX_STEPS, `a workflow can have at most ${MAX_STEPS} steps`)
  .superRefine(
    (steps, ctx) => {
      // Runs even when some step failed its own validation (`when`), so every problem shows up at once; the
      // values may then be unvalidated, hence the defensive reads.
      if (!Array.isArray(steps)) return;
      const ids = steps.map((step: unknown) =>
        typeof step === 'object' && step !== null && typeof (step as Record<string, unknown>).id === 'string'
          ? ((step as Record<string, unknown>).id as string)
          : undefined,
      );
      ids.forEach((id, index) => {
        if (id !== undefined && ids.indexOf(id) < index) {
          ctx.addIssue({ code: 'custom', path: [index, 'id'], message: `duplicate step id "${id}"` });
        }
      });
      steps.forEach((step: unknown, index) => {
        if (typeof step !== 'object' || step === null) return;
        const self = ids[index] ?? `#${index}`;
        for (const { path, ref } of stepReferences(step as Record<string, unknown>)) {
          const target = ref[1] as string;
          const targetIndex = ids.indexOf(target);
          if (targetIndex !== -1 && targetIndex < index) continue;
          const shown = ref.join('.');
          const why =
            targetIndex === -1
              ? `there is no step "${target}"`
              : targetIndex === index
                ? 'a step cannot read its own output'
                : `step "${target}" runs after it`;
          ctx.addIssue({
            code: 'custom',
            path: [index, ...path],
            message: `step "${self}" refers to ${shown}, but ${why}; only earlier steps' output is available`,
          });
        }
      });
    },
    { when: () => true },
  );

// ---------------------------------------------------------------------------------------------------------------
// Workflow definition

/** What `POST`/`PUT /v1/workflows` accept and what is saved as one version of a workflow. */
export const workflowDefinitionSchema = strictObject({
  name: z.string().trim().min(1, 'name must not be empty').max(200, 'name must be at most 200 characters'),
  description: z.string().max(2000, 'description must be at most 2000 characters').default(''),
  /** A disabled workflow's webhook answers 409. */
  enabled: z.boolean().default(true),
  /** `standard-webhooks`: POST /hooks/:token requires a valid Standard Webhooks signature. */
  webhook: strictObject({
    signing: z.enum(['none', 'standard-webhooks'], {
      error: 'signing must be "none" or "standard-webhooks"',
    }),
  }).default({ signing: 'none' }),
  /** A clock trigger (one Temporal Schedule per workflow); null or absent: webhook and manual runs only. */
  schedule: scheduleSchema.nullable().default(null),
  steps: stepsSchema,
});
/** A workflow definition as a client sends it (defaults not applied yet). */
export type WorkflowDefinitionInput = z.input<typeof workflowDefinitionSchema>;
/** A validated workflow definition, defaults applied. */
export type WorkflowDefinition = z.output<typeof workflowDefinitionSchema>;
