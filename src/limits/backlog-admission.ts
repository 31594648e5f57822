import proto from '@temporalio/proto';
import type { Client } from '@temporalio/client';

const { TaskQueueKind, TaskQueueType } = proto.temporal.api.enums.v1;

/*
 * Admission control for webhooks (WEBHOOK_MAX_BACKLOG_SECONDS, off by default). A webhook answered 202 is a run that
 * will complete, however long the queue: past what the workers can drain, runs wait longer and longer and the
 * backlog only grows. With a bound, the API refuses new deliveries (503 + Retry-After; senders retry) while the
 * tasks already waiting for a worker would take longer than the bound to be handed out. The backlog is Temporal's
 * own (DescribeTaskQueue stats of the task queues Hookflow's workers poll), read in the background once a second,
 * so a refusal costs a webhook nothing and holds across API replicas.
 */

/** What one task queue and task type reports: tasks waiting, the oldest's wait, the rate tasks are handed out. */
export interface BacklogStats {
  queue: string;
  type: 'workflow' | 'activity';
  backlogCount: number;
  oldestAgeSeconds: number;
  dispatchPerSecond: number;
}

export type AdmissionDecision =
  | { admit: true }
  | { admit: false; retryAfterSeconds: number; drainSeconds: number; queue: string; type: string };

/** The longest Retry-After the API asks for: a sender should look again within a minute. */
const MAX_RETRY_AFTER_S = 60;

/**
 * How long the backlog of one queue would take to drain: its tasks at the rate they are being handed out; with
 * none handed out (no worker polls, or the rate is not measured yet), the age of the oldest waiting task.
 */
export function drainSeconds(stats: BacklogStats): number {
  if (stats.backlogCount === 0) return 0;
  if (stats.dispatchPerSecond > 0) return stats.backlogCount / stats.dispatchPerSecond;
  return stats.oldestAgeSeconds;
}

/** Refuse while any queue's backlog would take longer than `maxSeconds` to drain. */
export function decideAdmission(stats: readonly BacklogStats[], maxSeconds: number): AdmissionDecision {
  let worst: { stats: BacklogStats; seconds: number } | undefined;
  for (const entry of stats) {
    const seconds = drainSeconds(entry);
    if (!worst || seconds > worst.seconds) worst = { stats: entry, seconds };
  }
  if (!worst || worst.seconds <= maxSeconds) return { admit: true };
  return {
    admit: false,
    drainSeconds: worst.seconds,
    // The excess drains in about that long, if nothing else arrives meanwhile.
    retryAfterSeconds: Math.min(MAX_RETRY_AFTER_S, Math.max(1, Math.ceil(worst.seconds - maxSeconds))),
    queue: worst.stats.queue,
    type: worst.stats.type,
  };
}

export interface BacklogAdmission {
  /** The decision of the last reading: admit until a reading says otherwise. */
  check(): AdmissionDecision;
  /** Reads the backlog now (the timer does it every interval); resolves once the decision reflects it. */
  refresh(): Promise<void>;
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
  warn: (message: string, error: unknown) => void;
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
      dispatchPerSecond: stats?.tasksDispatchRate ?? 0,
    };
  };

  let reading: Promise<void> | undefined;
  const refresh = () =>
    (reading ??= (async () => {
      try {
        const stats = await Promise.all(
          options.queues.flatMap(({ name, types }) => types.map((type) => readOne(name, type))),
        );
        decision = decideAdmission(stats, options.maxSeconds);
        failing = false;
      } catch (error) {
        decision = { admit: true };
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
    refresh,
    stop: () => clearInterval(timer),
  };
}
