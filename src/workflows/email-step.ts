import { ApplicationFailure, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { EmailStep } from '../dsl/email-step.js';
import { ACTIVITY_NAMES } from './names.js';
import { PATCHES } from './patches.js';
import { DEFAULT_EMAIL_RETRY, toTemporalRetry } from './retry.js';
import type { StepContext } from './step-context.js';
import { MAX_RENDERED_LENGTH, renderEmail, TemplateError } from './template.js';
import type { SendEmailResult } from './types.js';

/**
 * The provider keeps an idempotency key for 24 h: every attempt of one send must start inside that window, or a
 * retry could send the email twice.
 */
export const EMAIL_SCHEDULE_TO_CLOSE = '23h';

/** Runs an `email` step: renders it here, in workflow code, and sends it through the sendEmail activity. */
export async function runEmailStep(step: EmailStep, context: StepContext): Promise<SendEmailResult> {
  const current = context.hasChange(PATCHES.emailActivityV2);
  // A run that replays history from before these rules keeps the old ones: the email it sent (or the step that failed)
  // then stays what its history says.
  const rules = context.hasChange(PATCHES.renderHardening) ? 'current' : 'legacy';
  let email;
  try {
    // Rendering is pure, so it runs here: the exact email sent is then visible in the run's history.
    email = renderEmail(step.params, context.render, {
      maxLength: current ? MAX_RENDERED_LENGTH : Infinity,
      rules,
    });
  } catch (error) {
    if (error instanceof TemplateError) {
      throw ApplicationFailure.nonRetryable(error.message, 'TemplateError');
    }
    throw error;
  }
  const options: ActivityOptions = {
    startToCloseTimeout: '30s',
    retry: toTemporalRetry(step.retry, DEFAULT_EMAIL_RETRY),
    summary: `email step "${step.id}"`,
  };
  if (current) {
    // The activity heartbeats while it waits for the provider: a dead worker is noticed in seconds, and a
    // cancelled run's send is aborted.
    options.heartbeatTimeout = '5s';
    options.scheduleToCloseTimeout = EMAIL_SCHEDULE_TO_CLOSE;
  }
  const { [ACTIVITY_NAMES.sendEmail]: sendEmail } = proxyActivities<Activities>(options);
  const result = await sendEmail({
    // The provider drops a repeated key for 24 h: a retried attempt, a worker crash mid-send or a retry of the whole
    // run never sends twice.
    idempotencyKey: `${context.idempotencyPrefix}/${step.id}`,
    email,
    // Charged to the account's daily quota. Activity arguments are not compared on replay, so runs in flight keep
    // replaying; their sends scheduled before this build carry no owner and are not charged.
    ownerId: context.ownerId,
  });
  context.state.attempts = result.attempt;
  return result;
}
