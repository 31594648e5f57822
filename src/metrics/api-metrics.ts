import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { StartGate } from '../limits/start-gate.js';
import { UnavailableError } from '../errors.js';

/**
 * The API process's Prometheus series (served by GET /metrics, src/api/plugins/metrics.ts). One registry per app,
 * never prom-client's global one: tests build many apps in one process, and `npm start` runs the API beside a worker
 * whose metrics the Temporal SDK serves on a port of its own (worker-metrics.ts).
 *
 * Labels are bounded sets only: a route's pattern (`/hooks/:token`, never the URL, which holds webhook tokens and
 * ids), a method, a status code, an outcome. Nothing in the output names a user, a workflow or a token.
 */

/** Label of requests that matched no route (scanners, typos): their URL is never a label. */
export const UNMATCHED_ROUTE = 'unmatched';

/** What became of one webhook delivery (POST /hooks/:token). */
export type WebhookOutcome =
  | { outcome: 'accepted' | 'duplicate' | 'unavailable' | 'error' }
  | { outcome: 'rejected'; reason: WebhookRejection };

export type WebhookRejection =
  | 'bad_request'
  | 'invalid_signature'
  | 'unknown_token'
  | 'workflow_disabled'
  | 'too_large'
  | 'rate_limited'
  | 'other';

/**
 * A delivery's outcome from the status it was answered with. The webhook endpoint gives each refusal a status of
 * its own (DESIGN §4), so the status is the reason, whichever layer refused (Fastify's body limit answers 413 before
 * the handler runs): 202 accepted, 200 duplicate (the run of an earlier delivery with the same key), 503 Temporal or
 * PostgreSQL unavailable (the sender was told to retry), other 5xx a bug.
 */
export function webhookOutcome(statusCode: number): WebhookOutcome {
  if (statusCode === 202) return { outcome: 'accepted' };
  if (statusCode === 200) return { outcome: 'duplicate' };
  if (statusCode === 503) return { outcome: 'unavailable' };
  if (statusCode >= 500) return { outcome: 'error' };
  const reasons: Record<number, WebhookRejection> = {
    400: 'bad_request', // malformed JSON, a bad delivery key
    401: 'invalid_signature',
    404: 'unknown_token', // never issued, rotated, or its workflow deleted
    409: 'workflow_disabled',
    413: 'too_large', // the body, or the run input it makes
    414: 'bad_request',
    429: 'rate_limited',
  };
  return { outcome: 'rejected', reason: reasons[statusCode] ?? 'other' };
}

/** Seconds buckets for answers that are mostly milliseconds but may wait seconds on Temporal (the 5 s start budget). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createApiMetrics() {
  const registry = new Registry();
  // Process CPU, memory, event-loop lag, GC: what an operator checks first when latency climbs.
  collectDefaultMetrics({ register: registry });

  const labelNames = ['method', 'route', 'status_code'] as const;
  const requests = new Counter({
    name: 'hookflow_http_requests_total',
    help: 'HTTP requests answered by the API, by method, route pattern and status code',
    labelNames,
    registers: [registry],
  });
  const requestDuration = new Histogram({
    name: 'hookflow_http_request_duration_seconds',
    help: 'Time from receiving a request to answering it, by method, route pattern and status code',
    labelNames,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const webhookDeliveries = new Counter({
    name: 'hookflow_webhook_deliveries_total',
    help: 'Webhook deliveries by outcome (accepted, duplicate, rejected, unavailable, error) and rejection reason',
    labelNames: ['outcome', 'reason'] as const,
    registers: [registry],
  });
  const workflowStartDuration = new Histogram({
    name: 'hookflow_workflow_start_duration_seconds',
    help: 'Time Temporal took to acknowledge one start of a run (StartWorkflowExecution), by outcome',
    labelNames: ['outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });

  return {
    registry,
    /** Content-Type of `render()`'s text (Prometheus exposition format 0.0.4). */
    contentType: registry.contentType,
    render: () => registry.metrics(),

    /** One answered request. `route` is the matched route's pattern, or undefined when none matched. */
    observeRequest(request: {
      method: string;
      route: string | undefined;
      statusCode: number;
      seconds: number;
    }) {
      const labels = {
        method: request.method,
        route: request.route ?? UNMATCHED_ROUTE,
        status_code: String(request.statusCode),
      };
      requests.inc(labels);
      requestDuration.observe(labels, request.seconds);
    },

    /** One answered webhook delivery. */
    observeWebhookDelivery(statusCode: number) {
      const result = webhookOutcome(statusCode);
      webhookDeliveries.inc({ outcome: result.outcome, reason: 'reason' in result ? result.reason : '' });
    },

    /** Exposes the start gate's queue (RUN_START_CONCURRENCY): starts in flight to Temporal, and starts waiting. */
    watchStartGate(gate: Pick<StartGate, 'inFlight' | 'waiting'>) {
      new Gauge({
        name: 'hookflow_run_starts_in_flight',
        help: 'Run starts this API process has sent to Temporal and not yet had answered (at most RUN_START_CONCURRENCY)',
        registers: [registry],
        collect() {
          this.set(gate.inFlight);
        },
      });
      new Gauge({
        name: 'hookflow_run_starts_waiting',
        help: 'Run starts waiting for a turn at the start gate (their callers not yet answered)',
        registers: [registry],
        collect() {
          this.set(gate.waiting);
        },
      });
    },

    /**
     * Wraps a run-starting function (the Temporal adapter's startRun) to time each call: `started`, `duplicate`
     * (Temporal already had a run with this id), `unavailable` (no answer in time: the caller retries or answers 503)
     * or `error`. The time is Temporal's acknowledgement of a durable start, the floor of a webhook's latency.
     */
    timeRunStarts<Args extends unknown[]>(
      startRun: (...args: Args) => Promise<{ duplicate: boolean }>,
    ): (...args: Args) => Promise<{ duplicate: boolean }> {
      return async (...args) => {
        const stop = workflowStartDuration.startTimer();
        try {
          const result = await startRun(...args);
          stop({ outcome: result.duplicate ? 'duplicate' : 'started' });
          return result;
        } catch (error) {
          stop({ outcome: error instanceof UnavailableError ? 'unavailable' : 'error' });
          throw error;
        }
      };
    },
  };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;
