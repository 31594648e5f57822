import { ActivityFailure, ApplicationFailure, CancelledFailure, workflowInfo } from '@temporalio/workflow';
import type { StepState } from './types.js';

/** What a failed step's `error` says: the activity's own error when there is one, it says what the far end said. */
export function describeFailure(error: unknown): NonNullable<StepState['error']> {
  const cause = error instanceof ActivityFailure && error.cause ? error.cause : error;
  if (cause instanceof ApplicationFailure) {
    return {
      message: cause.message,
      type: cause.type ?? undefined,
      nonRetryable: cause.nonRetryable ?? undefined,
    };
  }
  if (cause instanceof CancelledFailure) return { message: cause.message, type: 'Cancelled' };
  return { message: cause instanceof Error ? cause.message : String(cause) };
}

/** Activities put their attempt number in their failure's details; the workflow cannot see it otherwise. */
export function attemptsOf(error: unknown): number | undefined {
  const cause = error instanceof ActivityFailure ? error.cause : undefined;
  const detail: unknown = cause instanceof ApplicationFailure ? cause.details?.[0] : undefined;
  if (
    typeof detail === 'object' &&
    detail !== null &&
    'attempt' in detail &&
    typeof detail.attempt === 'number'
  ) {
    return detail.attempt;
  }
  return undefined;
}

/**
 * Exhaustiveness check of a switch over a validated union. A value outside it fails the run for good (a
 * non-retryable failure) instead of failing workflow tasks forever.
 */
export function assertNever(value: never): never {
  throw ApplicationFailure.nonRetryable(
    `unsupported value ${JSON.stringify(value)} in workflow ${workflowInfo().workflowType}`,
  );
}
