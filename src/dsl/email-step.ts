import type { z } from 'zod';
import { DEFAULT_EMAIL_RETRY } from '../workflows/retry.js';
import { actionStepSchema, recipients, strictObject, templateString } from './fields.js';

/*
 * The `email` step (DESIGN §2): one email through the provider, retried per `retry`, never sent twice thanks to
 * an idempotency key. Its executor is src/workflows/email-step.ts, its activity src/activities/send-email.ts.
 */

/**
 * Params of an `email` step. Every string is a template (`{{trigger.body.email}}`), rendered per run by
 * renderEmail: `html` with HTML escaping, header fields (`to`, `from`, `replyTo`, `cc`, `bcc`, `subject`)
 * without line breaks. At least one of `html`/`text` is required.
 */
export const emailParamsSchema = strictObject({
  to: recipients('to'),
  subject: templateString({ header: true }),
  html: templateString().optional(),
  text: templateString().optional(),
  /** Defaults to the configured EMAIL_FROM. */
  from: templateString({ header: true, addresses: 'mailbox' }).optional(),
  replyTo: recipients('replyTo').optional(),
  cc: recipients('cc').optional(),
  bcc: recipients('bcc').optional(),
}).superRefine(
  (params, ctx) => {
    // Runs even when other fields failed (`when`), so the author sees this together with the rest.
    if (typeof params !== 'object' || params === null) return;
    const given = params as Record<string, unknown>;
    if (given.html === undefined && given.text === undefined) {
      ctx.addIssue({ code: 'custom', message: 'give at least one of "html" or "text"' });
    }
  },
  { when: () => true },
);
/** See emailParamsSchema. */
export type EmailParams = z.output<typeof emailParamsSchema>;

/** Sends one email through the provider; retried per `retry`, never twice thanks to an idempotency key. */
export const emailStepSchema = actionStepSchema('email', emailParamsSchema, DEFAULT_EMAIL_RETRY);
/** See emailStepSchema. */
export type EmailStep = z.output<typeof emailStepSchema>;
