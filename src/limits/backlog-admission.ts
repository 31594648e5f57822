import proto from '@temporalio/proto';
import type { Client } from '@temporalio/client';

const { TaskQueueKind, TaskQueueType } = proto.temporal.api.enums.v1;

/*
 * Admission control for webhooks (WEBHOOK_MAX_BACKLOG_SECONDS, off by default). A webhook answered 202 is a run that
 * will complete, however long the queue: past what the workers can drain, runs wait longer and longer and the
 * backlog only grows. With a bound, the API refuses new deliveries (503 + Retry-After; senders retry) while the
 * oldest task waiting for a worker has waited longer than the bound. The backlog is Temporal's own (DescribeTaskQueue
 * stats of the task queues Hookflow's workers poll), read in the background once a second, so a refusal costs a
 * webhook nothing and holds across API replicas.
 *
 * Why the oldest task's wait and not backlog ÷ dispatch rate: measured on the dev server (bench/RESULTS.md), the
 * server refreshes these stats every ~5 s and its dispatch rate is a slow average, which read a 6 s backlog as 19 s
 * after a burst. The wait of the oldest task is what a run in the queue actually experiences, and it cannot be
 * inflated by a rate that lags.
 */

/** What one task queue and task type reports: tasks waiting for a worker, and how long the oldest has waited. */
export interface BacklogStats {
  queue: string;
  type: 'workflow' | 'activity';
  backlogCount: number;
  oldestAgeSeconds: number;
}

export type AdmissionDecision =
  | { admit: true }
  | { admit: false; retryAfterSeconds: number; waitedSeconds: number; queue: string; type: string };

/** Retry-After bounds: the stats behind a refusal are renewed every few seconds; a sender should look again within a minute. */
const MIN_RETRY_AFTER_S = 5;
const MAX_RETRY_AFTER_S = 60;

/** Refuse while a task of any queue has waited longer than `maxSeconds` for a worker. */
export function decideAdmission(stats: readonly BacklogStats[], maxSeconds: number): AdmissionDecision {
  let worst: BacklogStats | undefined;
  for (const entry of stats) {
    if (entry.backlogCount === 0) continue;
    if (!worst || entry.oldestAgeSeconds > worst.oldestAgeSeconds) worst = entry;
  }
  if (!worst || worst.oldestAgeSeconds <= maxSeconds) return { admit: true };
  return {
    admit: false,
    waitedSeconds: worst.oldestAgeSeconds,
    // About when the excess over the bound is gone, if the workers keep pace and nothing else arrives.
    retryAfterSeconds: Math.min(
      MAX_RETRY_AFTER_S,
      Math.max(MIN_RETRY_AFTER_S, Math.ceil(worst.oldestAgeSeconds - maxSeconds)),
    ),
    queue: worst.queue,
    type: worst.type,
  };
}

export interface BacklogAdmission {
  /** The decision of the last reading: admit until a reading says otherwise. */
  check(): AdmissionDecision;
  stop(): void;
}

/**
 * Reads the backlog of `queues` (workflow and activity tasks of each) every `intervalMs` through `client`. A failed
 * reading (Temporal unreachable) admits: starts then fail with 503 on their own, and a refusal must never outlive
 * its evidence.
 */
export function createBacklogAdmission(options: {
  client: Pick<Client, 'workflowService'>;
  namespace: string;
  queues: readonly { name: string; types: readonly BacklogStats['type'][] }[];
  maxSeconds: number;
  intervalMs?: number;
  /** Told when refusals start and end (operators see why webhooks get 503), and when the stats cannot be read. */
  warn: (message: string, error?: unknown) => void;
}): BacklogAdmission {
  let decision: AdmissionDecision = { admit: true };
  let failing = false;

  const readOne = async (queue: string, type: BacklogStats['type']): Promise<BacklogStats> => {
    const response = await options.client.workflowService.describeTaskQueue({
      namespace: options.namespace,
      taskQueue: { name: queue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType:
        type === 'workflow' ? TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW : TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
      reportStats: true,
    });
    const stats = response.stats;
    const age = stats?.approximateBacklogAge;
    return {
      queue,
      type,
      backlogCount: Number(stats?.approximateBacklogCount ?? 0),
      oldestAgeSeconds: Number(age?.seconds ?? 0) + (age?.nanos ?? 0) / 1e9,
    };
  };

  const report = (next: AdmissionDecision) => {
    if (decision.admit && !next.admit)
      options.warn(
        `refusing webhooks (503 OVER_CAPACITY): a ${next.type} task on task queue "${next.queue}" has waited ` +
          `${Math.floor(next.waitedSeconds)} s for a worker, more than WEBHOOK_MAX_BACKLOG_SECONDS (${options.maxSeconds} s)`,
      );
    if (!decision.admit && next.admit) options.warn('admitting webhooks again');
    decision = next;
  };

  let reading: Promise<void> | undefined;
  const refresh = () =>
    (reading ??= (async () => {
      try {
        const stats = await Promise.all(
          options.queues.flatMap(({ name, types }) => types.map((type) => readOne(name, type))),
        );
        report(decideAdmission(stats, options.maxSeconds));
        failing = false;
      } catch (error) {
        report({ admit: true });
        if (!failing)
          options.warn('could not read the task queue backlog; admitting webhooks meanwhile', error);
        failing = true;
      } finally {
        reading = undefined;
      }
    })());

  const timer = setInterval(() => void refresh(), options.intervalMs ?? 1_000);
  timer.unref();
  return {
    check: () => decision,
    stop: () => clearInterval(timer),
  };
}
