import { parseDuration } from './durations.js';

/*
 * Retry policies of action steps. Pure: the workflow turns them into Temporal retry options, and the DSL checks
 * on save that a policy's worst case stays inside the provider's idempotency window.
 */

/** Temporal retry policy of an action step as the DSL writes it; every field falls back to the step's default. */
export interface RetryPolicy {
  /** Attempts in total, the first one included. */
  maxAttempts?: number | undefined;
  /** Wait before the first retry. */
  initialInterval?: string | number | undefined;
  /** Each wait is the previous one times this. */
  backoffCoefficient?: number | undefined;
  /** Cap of a single wait. */
  maxInterval?: string | number | undefined;
}

/** Email steps: about 4 minutes of backoff over 8 attempts, far inside the 24 h idempotency window. */
export const DEFAULT_EMAIL_RETRY = {
  maxAttempts: 8,
  initialInterval: '2s',
  backoffCoefficient: 2,
  maxInterval: '5m',
} as const satisfies Required<RetryPolicy>;

/** Http steps: about 1 minute of backoff over 5 attempts; a `Retry-After` from the server takes precedence. */
export const DEFAULT_HTTP_RETRY = {
  maxAttempts: 5,
  initialInterval: '1s',
  backoffCoefficient: 2,
  maxInterval: '1m',
} as const satisfies Required<RetryPolicy>;

/** `retry` merged over `defaults`, ignoring fields given as undefined. */
export function resolveRetry(
  retry: RetryPolicy | undefined,
  defaults: Required<RetryPolicy> = DEFAULT_EMAIL_RETRY,
): Required<RetryPolicy> {
  const defined = Object.fromEntries(Object.entries(retry ?? {}).filter(([, v]) => v !== undefined));
  return { ...defaults, ...defined };
}

/**
 * Worst-case total of the waits between attempts of `retry` merged with its defaults, in milliseconds: the sum
 * over the `maxAttempts - 1` retries of `min(initialInterval * backoffCoefficient^n, maxInterval)`. Time spent
 * inside attempts is not included.
 */
export function retryTotalBudgetMs(
  retry: RetryPolicy = {},
  defaults: Required<RetryPolicy> = DEFAULT_EMAIL_RETRY,
): number {
  const policy = resolveRetry(retry, defaults);
  const max = parseDuration(policy.maxInterval);
  let interval = parseDuration(policy.initialInterval);
  let total = 0;
  for (let retryNumber = 1; retryNumber < policy.maxAttempts; retryNumber++) {
    total += Math.min(interval, max);
    interval *= policy.backoffCoefficient;
  }
  return total;
}

/** The Temporal retry options of a step. */
export function toTemporalRetry(
  retry: RetryPolicy | undefined,
  defaults: Required<RetryPolicy> = DEFAULT_EMAIL_RETRY,
) {
  const policy = resolveRetry(retry, defaults);
  return {
    maximumAttempts: policy.maxAttempts,
    initialInterval: parseDuration(policy.initialInterval),
    backoffCoefficient: policy.backoffCoefficient,
    maximumInterval: parseDuration(policy.maxInterval),
  };
}
