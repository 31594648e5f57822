import type { Info } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory, MetricsExporterConfig } from '@temporalio/worker';
import type { Config } from '../config.js';
import { ACTIVITY_NAMES } from '../workflows/names.js';

/**
 * A worker process's metrics. They are served by the Temporal SDK itself: its Runtime (one per process) runs a
 * Prometheus exporter at WORKER_METRICS_HOST:WORKER_METRICS_PORT, with the SDK's own series (task schedule-to-start
 * latencies, slots, sticky cache, poll and task failures) and Hookflow's step outcomes, which activities record
 * through the SDK's metric meter. One endpoint per worker, no second HTTP server and no second metrics library in
 * the process.
 */

/** `host:port` for the exporter's listener (an IPv6 host in brackets). */
export function workerMetricsAddress(metrics: Pick<Config['metrics'], 'worker'>): string {
  const { host, port } = metrics.worker;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The SDK's Prometheus exporter, in Prometheus's own conventions: durations in seconds with a `_seconds` suffix,
 * counters with `_total` (the SDK's defaults are milliseconds and bare counter names). Its series keep the SDK's
 * `temporal_` prefix, e.g. `temporal_activity_schedule_to_start_latency_seconds`.
 */
export function prometheusExporter(metrics: Pick<Config['metrics'], 'worker'>): MetricsExporterConfig {
  return {
    prometheus: {
      bindAddress: workerMetricsAddress(metrics),
      countersTotalSuffix: true,
      unitSuffix: true,
      useSecondsForDurations: true,
    },
  };
}

/** Step types whose work is an activity, by activity name; delay steps are timers, no activity runs them. */
const STEP_TYPE_OF_ACTIVITY: Record<string, string> = {
  [ACTIVITY_NAMES.sendEmail]: 'email',
  [ACTIVITY_NAMES.httpRequest]: 'http',
};

/** Exported as `hookflow_step_attempts_total` (the exporter adds `_total`). */
export const STEP_ATTEMPTS_METRIC = 'hookflow_step_attempts';

/**
 * What one attempt of a step's activity came to: `succeeded`; `retried` (it failed and Temporal will try again);
 * `failed` (it failed for good: a non-retryable error or the last attempt its retry policy allows); `cancelled`
 * (the run was cancelled). An attempt that Temporal times out never returns here, and a retryable failure that a
 * schedule-to-close timeout then ends counts as `retried`: the SDK's `temporal_activity_execution_failed_total`
 * and the run's own status stay the reference for those.
 */
export type StepAttemptOutcome = 'succeeded' | 'retried' | 'failed' | 'cancelled';

export function stepAttemptOutcome(
  error: unknown,
  info: Pick<Info, 'attempt' | 'retryPolicy'>,
): Exclude<StepAttemptOutcome, 'succeeded'> {
  if (error instanceof CancelledFailure) return 'cancelled';
  if (error instanceof ApplicationFailure && error.nonRetryable) return 'failed';
  const policy = info.retryPolicy;
  if (policy?.nonRetryableErrorTypes?.includes(errorType(error))) return 'failed';
  const maxAttempts = policy?.maximumAttempts ?? 0; // 0: unlimited, as Temporal reads it
  return maxAttempts > 0 && info.attempt >= maxAttempts ? 'failed' : 'retried';
}

/** The failure's type as Temporal classifies it: an ApplicationFailure's type, else the error's class name. */
function errorType(error: unknown): string {
  if (error instanceof ApplicationFailure) return error.type ?? 'Error';
  return error instanceof Error ? error.name : 'Error';
}

/**
 * Counts every attempt of an email or http step's activity by outcome, labelled `step_type`, `outcome` and, for a
 * failure, `error_type` (e.g. `EmailRateLimited`, `HttpStatus`): a bounded set, the failure types the activities
 * throw, plus `namespace`, `task_queue`, `activity_type` and `workflow_type`, named as in the SDK's own series (its
 * activity meter says `taskQueue` and `activityType`), so the two join on them. Counting in an interceptor keeps
 * the activities themselves free of metrics code.
 */
export const stepAttemptsInterceptor: ActivityInterceptorsFactory = (ctx) => {
  const stepType = STEP_TYPE_OF_ACTIVITY[ctx.info.activityType];
  if (stepType === undefined) return {};
  const attempts = ctx.metricMeter.createCounter(
    STEP_ATTEMPTS_METRIC,
    '',
    'Attempts of email and http steps (their activities) by step type and outcome: succeeded, retried, failed, cancelled',
  );
  return {
    outbound: {
      getMetricTags: (tags, next) => {
        const { taskQueue, activityType, ...rest } = next(tags);
        return {
          ...rest,
          task_queue: taskQueue ?? ctx.info.taskQueue,
          activity_type: activityType ?? ctx.info.activityType,
          workflow_type: ctx.info.workflowType ?? '',
        };
      },
    },
    inbound: {
      async execute(input, next) {
        try {
          const result = await next(input);
          attempts.add(1, { step_type: stepType, outcome: 'succeeded' });
          return result;
        } catch (error) {
          attempts.add(1, {
            step_type: stepType,
            outcome: stepAttemptOutcome(error, ctx.info),
            error_type: errorType(error),
          });
          throw error;
        }
      },
    },
  };
};
