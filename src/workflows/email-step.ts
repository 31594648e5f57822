import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { EmailStep } from '../dsl/email-step.js';
import { ACTIVITY_NAMES } from './names.js';
import { DEFAULT_EMAIL_RETRY, toTemporalRetry } from './retry.js';
import type { StepContext } from './step-context.js';
import { renderEmail, TemplateError } from './template.js';
import type { SendEmailResult } from './types.js';

/** Runs an `email` step: renders it here, in workflow code, and sends it through the sendEmail activity. */
export async function runEmailStep(step: EmailStep, context: StepContext): Promise<SendEmailResult> {
  let email;
  try {
    // Rendering is pure, so it runs here: the exact email sent is then visible in the run's history.
    email = renderEmail(step.params, context.render);
  } catch (error) {
    if (error instanceof TemplateError) {
      throw ApplicationFailure.nonRetryable(error.message, 'TemplateError');
    }
    throw error;
  }
  const { [ACTIVITY_NAMES.sendEmail]: sendEmail } = proxyActivities<Activities>({
    startToCloseTimeout: '30s',
    retry: toTemporalRetry(step.retry, DEFAULT_EMAIL_RETRY),
    summary: `email step "${step.id}"`,
  });
  const result = await sendEmail({
    // The provider keeps this key for 24 h: a retried activity (or a worker crash mid-send) never sends twice.
    idempotencyKey: `${context.runId}/${step.id}`,
    email,
  });
  context.state.attempts = result.attempt;
  return result;
}
