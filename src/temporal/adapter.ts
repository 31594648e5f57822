import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/index.js';
import {
  defaultPayloadConverter,
  isGrpcServiceError,
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import {
  ApplicationFailure,
  WorkflowIdReusePolicy,
  type Payload,
  type Priority,
  type SearchAttributePair,
} from '@temporalio/common';
import { UnavailableError } from '../errors.js';
import {
  PROGRESS_QUERY_NAME,
  RUN_STEPS_WORKFLOW_TYPE,
  RUN_STEPS_WORKFLOW_TYPES,
} from '../workflows/names.js';
import type { runStepsV2 } from '../workflows/run-steps.js';
import {
  STEP_FAILED_ERROR_TYPE,
  type RunProgress,
  type RunStepsInput,
  type StepState,
  type TriggerType,
} from '../workflows/types.js';
import {
  HOOKFLOW_OWNER_ID,
  HOOKFLOW_WORKFLOW_ID,
  TEMPORAL_SCHEDULED_START_TIME,
} from './search-attributes.js';

/*
 * The Temporal adapter: everything Hookflow knows about Temporal's protocol (the workflow type, memo, search
 * attributes, status enums, proto timestamps, failures, history, gRPC error codes) lives here, and nothing else
 * speaks it. Services receive a narrow slice of it (`Pick<TemporalAdapter, 'describeRun' | ...>`) and deal only in
 * the plain types below, so they get unit tests against a small fake. Temporal's "unavailable" errors leave this
 * module as UnavailableError (503 + Retry-After).
 *
 * Operations are named `<verb><Resource>` (startRun, describeRun, listRuns, ...) so that other Temporal resources
 * (Schedules: createSchedule, describeSchedule, ...) join the same object without clashes; their actions start
 * runs carrying `runStartDetails`.
 */

/** Status of a run: Temporal's execution status, in the API's spelling (DESIGN §3). */
export const runStatuses = [
  'running',
  'completed',
  'failed',
  'cancelled',
  'terminated',
  'timed_out',
] as const;
export type RunStatus = (typeof runStatuses)[number];

/**
 * Kept in the run's memo so listing runs needs no history: visibility returns memos with each execution.
 * Fields are only ever added.
 */
export interface RunMemo {
  workflowId: string;
  workflowVersion: number;
  trigger: { type: TriggerType; receivedAt: string };
  steps: { id: string; type: StepState['type'] }[];
  retryOf: string | null;
}

/** One execution of the interpreter workflow. */
export interface RunRef {
  /** The Hookflow run id, which is the Temporal workflow id. */
  id: string;
  /** Temporal's run id of this execution. */
  temporalRunId: string;
}

/** What Temporal knows about a run, as plain values. */
export interface RunExecution extends RunRef {
  status: RunStatus;
  /** The HookflowOwnerId search attribute (absent on executions Hookflow did not start). */
  ownerId: string | undefined;
  /** The HookflowWorkflowId search attribute: the Hookflow workflow the run belongs to. */
  workflowId: string | undefined;
  /** The run's memo; missing fields have neutral defaults (`workflowId` falls back to the search attribute). */
  memo: RunMemo;
  startedAt: Date;
  closedAt: Date | undefined;
  /** When a Schedule started the run: the time it was due (Temporal's TemporalScheduledStartTime). */
  scheduledAt?: Date | undefined;
}

/** Temporal's own knowledge of the activity in flight: its attempts and next retry. */
export interface PendingActivity {
  attempt: number | undefined;
  nextAttemptAt: Date | undefined;
  lastFailureMessage: string | undefined;
}

export interface RunDescription extends RunExecution {
  pendingActivity: PendingActivity | undefined;
}

/** A run's step states: the final result, the failure's details, or the live query's answer (null: not known). */
export interface RunProgressReport {
  progress: RunProgress | null;
  /** Set for a failed run: the message of the failure it ended with. */
  failureMessage: string | null;
}

export interface RunListFilter {
  ownerId: string;
  workflowId: string;
  status?: RunStatus;
  pageSize: number;
  /** A `nextPageToken` of an earlier page. */
  pageToken?: string;
}

export interface RunPage {
  /** In the visibility store's order. */
  runs: RunExecution[];
  /** Opaque, URL-unsafe text; undefined on the last page. */
  nextPageToken: string | undefined;
}

/** Temporal refused a page token (not one it issued, or expired). */
export class PageTokenRejectedError extends Error {
  constructor() {
    super('Temporal refused the page token.');
    this.name = 'PageTokenRejectedError';
  }
}

const RUN_MEMO_KEY = 'hookflow';
/** How long one start may wait for Temporal's answer when its caller sets no deadline. */
const START_DEADLINE_MS = 5_000;
/** Queries are answered by a worker replaying the run; without one they would hang, hence a deadline. */
const QUERY_DEADLINE_MS = 3_000;

/** Temporal's WorkflowExecutionStatus by name, as the SDK spells it (CANCELLED) and as the proto enum does (CANCELED). */
const runStatusByExecutionStatus: Record<string, RunStatus> = {
  RUNNING: 'running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  CANCELED: 'cancelled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed_out',
  CONTINUED_AS_NEW: 'completed',
};
/** The proto enum's names by number: the raw visibility API answers with numbers. */
const executionStatusNames = [
  'UNSPECIFIED',
  'RUNNING',
  'COMPLETED',
  'FAILED',
  'CANCELED',
  'TERMINATED',
  'CONTINUED_AS_NEW',
  'TIMED_OUT',
];
/** ExecutionStatus values of the visibility query language. */
const visibilityNameByStatus: Record<RunStatus, string> = {
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Canceled',
  terminated: 'Terminated',
  timed_out: 'TimedOut',
};

/** An open execution in a status this code does not know yet reads as running. */
function runStatusOf(status: string | number | null | undefined): RunStatus {
  const name = typeof status === 'string' ? status : executionStatusNames[status ?? 0];
  return runStatusByExecutionStatus[name ?? ''] ?? 'running';
}

/** gRPC codes that mean "Temporal is not reachable right now" rather than "the request is wrong". */
const UNAVAILABLE_CODES = new Set([
  1 /* CANCELLED */, 4 /* DEADLINE_EXCEEDED */, 8 /* RESOURCE_EXHAUSTED */, 14 /* UNAVAILABLE */,
]);

export function isTemporalUnavailable(error: unknown): boolean {
  const cause = error instanceof ServiceError ? error.cause : error;
  if (isGrpcServiceError(cause)) return UNAVAILABLE_CODES.has(cause.code);
  // Errors from a connection that never came up carry no gRPC status.
  return error instanceof Error && /connect|unavailable|deadline|ECONNREFUSED/i.test(error.message);
}

/** Rethrows `error`, as an UnavailableError when it means Temporal cannot be reached. */
export function rethrow(
  error: unknown,
  unavailableMessage = 'Temporal cannot be reached right now. Retry shortly.',
): never {
  if (isTemporalUnavailable(error)) throw new UnavailableError(unavailableMessage);
  throw error;
}

/** A google.protobuf.Timestamp (seconds may be a Long) as a Date. */
function dateOf(
  timestamp: { seconds?: unknown; nanos?: number | null } | null | undefined,
): Date | undefined {
  if (!timestamp?.seconds) return undefined;
  return new Date(Number(timestamp.seconds) * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6));
}

/** TemporalScheduledStartTime of a run in a visibility listing (a raw payload there). */
function scheduledAtOf(fields: Record<string, Payload> | null | undefined): Date | undefined {
  const payload = fields?.[TEMPORAL_SCHEDULED_START_TIME.name];
  if (!payload) return undefined;
  const value = defaultPayloadConverter.fromPayload<unknown>(payload);
  return typeof value === 'string' ? new Date(value) : undefined;
}

function readRunMemo(memo: Record<string, unknown> | undefined, fallbackWorkflowId: string): RunMemo {
  const value = memo?.[RUN_MEMO_KEY] as Partial<RunMemo> | undefined;
  return {
    workflowId: value?.workflowId ?? fallbackWorkflowId,
    workflowVersion: value?.workflowVersion ?? 0,
    trigger: value?.trigger ?? { type: 'webhook', receivedAt: '' },
    steps: value?.steps ?? [],
    retryOf: value?.retryOf ?? null,
  };
}

/**
 * What every start of the interpreter carries besides its input, whoever starts it: a webhook, a manual or retry
 * request (`startRun`), or a Schedule's action (which Temporal starts on its own).
 */
export const runStartDetails = {
  memo(input: RunStepsInput): Record<string, unknown> {
    const memo: RunMemo = {
      workflowId: input.definition.workflowId,
      workflowVersion: input.definition.version,
      trigger: { type: input.trigger.type, receivedAt: input.trigger.receivedAt },
      steps: input.definition.steps.map((step) => ({ id: step.id, type: step.type })),
      retryOf: input.run.retryOf ?? null,
    };
    return { [RUN_MEMO_KEY]: memo };
  },
  searchAttributes(input: RunStepsInput) {
    return [
      { key: HOOKFLOW_WORKFLOW_ID, value: input.definition.workflowId },
      { key: HOOKFLOW_OWNER_ID, value: input.run.ownerId },
    ] satisfies SearchAttributePair[];
  },
  summary(input: RunStepsInput): string {
    return `${input.definition.name} (v${input.definition.version}, ${input.trigger.type})`;
  },
  /**
   * Task-queue fairness by account: with the server's `matching.enableFairness`, a backlog is dispatched in turn
   * across owners, so one account's burst does not hold another's emails behind the provider rate limit. The
   * run's activities inherit it.
   */
  priority(input: RunStepsInput): Priority {
    return { fairnessKey: input.run.ownerId };
  },
};

function isRunStepsType(type: string): boolean {
  return (RUN_STEPS_WORKFLOW_TYPES as readonly string[]).includes(type);
}

export function createTemporalAdapter(deps: {
  client: Pick<Client, 'workflow' | 'withDeadline' | 'workflowService' | 'options'>;
  namespace: string;
  taskQueue: string;
  /**
   * Asks Temporal to hand each started run's first workflow task straight back to a worker of this process (eager
   * workflow start), skipping the server's task queues. Only for a client on the worker's own NativeConnection
   * (npm start's worker thread, see worker-thread.ts); the SDK refuses it on any other connection.
   */
  eagerStart?: boolean;
}) {
  const { client, namespace, taskQueue, eagerStart = false } = deps;
  // Payloads read straight off the wire (a visibility listing's memo, a history event) are still encoded: they go
  // through the client's own data converter, payload codec (decryption) included, like everything the SDK decodes.
  const converter = client.options.loadedDataConverter;
  const handleOf = (run: RunRef) => client.workflow.getHandle(run.id, run.temporalRunId);

  return {
    /** Readiness: Temporal answers at all. Errors are Temporal's own. */
    async ping(): Promise<void> {
      await client.workflowService.getSystemInfo({});
    },

    /**
     * Starts one run, its id being `input.run.id`, waiting for Temporal's answer until `deadline` (epoch ms). It is
     * durable once this returns. An id Temporal has seen is never reused, even after that run closed: a second
     * start with it is a duplicate and starts nothing, so a start whose answer was lost may be repeated.
     *
     * UnavailableError does not say that nothing started: a deadline or a cancelled call may come after Temporal
     * accepted the start.
     */
    async startRun(
      input: RunStepsInput,
      deadline = Date.now() + START_DEADLINE_MS,
    ): Promise<{ duplicate: boolean }> {
      try {
        await client.withDeadline(deadline, () =>
          client.workflow.start<typeof runStepsV2>(RUN_STEPS_WORKFLOW_TYPE, {
            args: [input],
            taskQueue,
            workflowId: input.run.id,
            workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
            memo: runStartDetails.memo(input),
            typedSearchAttributes: runStartDetails.searchAttributes(input),
            staticSummary: runStartDetails.summary(input),
            priority: runStartDetails.priority(input),
            requestEagerStart: eagerStart,
          }),
        );
        return { duplicate: false };
      } catch (error) {
        if (error instanceof WorkflowExecutionAlreadyStartedError) return { duplicate: true };
        return rethrow(error, 'Temporal did not acknowledge the start. Retry shortly.');
      }
    },

    /** The run's latest execution; undefined when there is none, or it is not a Hookflow run. */
    async describeRun(runId: string): Promise<RunDescription | undefined> {
      let description;
      try {
        description = await client.workflow.getHandle(runId).describe();
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return undefined;
        return rethrow(error);
      }
      if (!isRunStepsType(description.type)) return undefined;
      const workflowId = description.typedSearchAttributes.get(HOOKFLOW_WORKFLOW_ID);
      const pending = description.raw.pendingActivities?.[0];
      return {
        id: description.workflowId,
        temporalRunId: description.runId,
        status: runStatusOf(description.status.name),
        ownerId: description.typedSearchAttributes.get(HOOKFLOW_OWNER_ID),
        workflowId,
        memo: readRunMemo(description.memo, workflowId ?? ''),
        startedAt: description.startTime,
        closedAt: description.closeTime,
        scheduledAt: description.typedSearchAttributes.get(TEMPORAL_SCHEDULED_START_TIME),
        pendingActivity: pending && {
          attempt: pending.attempt ?? undefined,
          nextAttemptAt: dateOf(pending.nextAttemptScheduleTime),
          lastFailureMessage: pending.lastFailure?.message ?? undefined,
        },
      };
    },

    /** Step states of a run in `status`: its result, its failure's details, or the live query while it runs. */
    async runProgress(run: RunRef & { status: RunStatus }): Promise<RunProgressReport> {
      const handle = handleOf(run);
      if (run.status === 'completed') {
        try {
          return { progress: (await handle.result()) as RunProgress, failureMessage: null };
        } catch (error) {
          return rethrow(error);
        }
      }
      if (run.status === 'failed') {
        try {
          await handle.result();
        } catch (error) {
          if (!(error instanceof WorkflowFailedError)) return rethrow(error);
          const cause = error.cause;
          const details =
            cause instanceof ApplicationFailure && cause.type === STEP_FAILED_ERROR_TYPE
              ? cause.details
              : undefined;
          return {
            progress: (details?.[0] as RunProgress | undefined) ?? null,
            failureMessage: cause?.message ?? error.message,
          };
        }
      }
      try {
        const progress = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () =>
          handle.query<RunProgress>(PROGRESS_QUERY_NAME),
        );
        return { progress, failureMessage: null };
      } catch {
        // No worker (or no answer in time): the caller falls back to what the memo says.
        return { progress: null, failureMessage: null };
      }
    },

    /** One page of a workflow's runs from the visibility store (no history is read). */
    async listRuns(filter: RunListFilter): Promise<RunPage> {
      // Both ids are server-made (a UUID and the caller's own id), never raw user text.
      let query = `WorkflowType IN (${RUN_STEPS_WORKFLOW_TYPES.map((type) => `'${type}'`).join(', ')}) AND ${HOOKFLOW_WORKFLOW_ID.name} = '${filter.workflowId}' AND ${HOOKFLOW_OWNER_ID.name} = '${filter.ownerId}'`;
      if (filter.status) query += ` AND ExecutionStatus = '${visibilityNameByStatus[filter.status]}'`;
      let response;
      try {
        response = await client.workflowService.listWorkflowExecutions({
          namespace,
          query,
          pageSize: filter.pageSize,
          nextPageToken: filter.pageToken === undefined ? undefined : Buffer.from(filter.pageToken, 'base64'),
        });
      } catch (error) {
        if (
          filter.pageToken !== undefined &&
          isGrpcServiceError(error) &&
          Number(error.code) === 3 /* INVALID_ARGUMENT */
        ) {
          throw new PageTokenRejectedError();
        }
        return rethrow(error);
      }
      const runs = await Promise.all(
        (response.executions ?? []).map(async (execution): Promise<RunExecution> => {
          const memoPayload = execution.memo?.fields?.[RUN_MEMO_KEY];
          const memo = memoPayload
            ? { [RUN_MEMO_KEY]: await decodeFromPayloadsAtIndex(converter, 0, [memoPayload]) }
            : undefined;
          return {
            id: execution.execution?.workflowId ?? '',
            temporalRunId: execution.execution?.runId ?? '',
            status: runStatusOf(execution.status),
            // The query matched both search attributes.
            ownerId: filter.ownerId,
            workflowId: filter.workflowId,
            memo: readRunMemo(memo, filter.workflowId),
            startedAt: dateOf(execution.startTime) ?? new Date(0),
            closedAt: dateOf(execution.closeTime),
            scheduledAt: scheduledAtOf(execution.searchAttributes?.indexedFields),
          };
        }),
      );
      const token = response.nextPageToken;
      return {
        runs,
        nextPageToken: token && token.length > 0 ? Buffer.from(token).toString('base64') : undefined,
      };
    },

    /** Requests cancellation; the workflow decides how to wind down. */
    async cancelRun(run: RunRef): Promise<void> {
      try {
        await handleOf(run).cancel();
      } catch (error) {
        rethrow(error);
      }
    },

    /** The input a run was started with, read from the first event of its history. */
    async runStartInput(run: RunRef): Promise<RunStepsInput> {
      let history;
      try {
        history = await handleOf(run).fetchHistory();
      } catch (error) {
        return rethrow(error);
      }
      const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      if (!payload) throw new Error(`run ${run.id} has no start input in its history`);
      return decodeFromPayloadsAtIndex<RunStepsInput>(converter, 0, [payload]);
    },
  };
}

export type TemporalAdapter = ReturnType<typeof createTemporalAdapter>;
