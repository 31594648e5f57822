import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { HttpStep } from '../dsl/http-step.js';
import { renderHttpRequest, type HttpStepOutput } from './http-request.js';
import { ACTIVITY_NAMES, httpTaskQueue } from './names.js';
import { PATCHES } from './patches.js';
import { DEFAULT_HTTP_RETRY, toTemporalRetry } from './retry.js';
import type { StepContext } from './step-context.js';
import { TemplateError } from './template.js';

/**
 * Runs an `http` step: renders the request here (secrets stay placeholders) and sends it through the httpRequest
 * activity, on its own task queue so the email provider's rate limit on the main one does not slow it down.
 */
export async function runHttpStep(step: HttpStep, context: StepContext): Promise<HttpStepOutput> {
  // A run that replays history from before these rules keeps the old ones (its request stays what history says).
  const rules = context.hasChange(PATCHES.renderHardening) ? 'current' : 'legacy';
  let request;
  try {
    request = renderHttpRequest(
      step.params,
      context.render,
      {
        ownerId: context.ownerId,
        stepId: step.id,
        idempotencyKey: `${context.idempotencyPrefix}/${step.id}`,
      },
      rules,
    );
  } catch (error) {
    if (error instanceof TemplateError) {
      throw ApplicationFailure.nonRetryable(error.message, 'TemplateError');
    }
    throw error;
  }
  const { [ACTIVITY_NAMES.httpRequest]: httpRequest } = proxyActivities<Activities>({
    taskQueue: httpTaskQueue(workflowInfo().taskQueue),
    // The request's own timeout cuts first; this only bounds an attempt whose worker stopped answering.
    startToCloseTimeout: request.timeoutMs + 5_000,
    heartbeatTimeout: '5s',
    // Retries (and Retry-After waits) never go on for more than a day.
    scheduleToCloseTimeout: '23h',
    retry: toTemporalRetry(step.retry, DEFAULT_HTTP_RETRY),
    summary: `http step "${step.id}"`,
  });
  const result = await httpRequest(request);
  context.state.attempts = result.attempt;
  return result.output;
}
