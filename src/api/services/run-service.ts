import {
  defaultPayloadConverter,
  isGrpcServiceError,
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import { ApplicationFailure, WorkflowIdReusePolicy } from '@temporalio/common';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { AppError, NotFoundError, UnavailableError } from '../../errors.js';
import type { WorkflowRecord, WorkflowRepo } from '../../db/repos/workflow-repo.js';
import { HOOKFLOW_OWNER_ID, HOOKFLOW_WORKFLOW_ID } from '../../temporal/search-attributes.js';
import { PROGRESS_QUERY_NAME, RUN_STEPS_WORKFLOW_TYPE } from '../../workflows/names.js';
import type { runSteps } from '../../workflows/run-steps.js';
import {
  pendingStep,
  STEP_FAILED_ERROR_TYPE,
  type RunProgress,
  type RunStepsInput,
  type StepState,
  type TriggerInput,
} from '../../workflows/types.js';
import { derivedRunId, randomRunId } from './run-ids.js';
import { decodeCursor, encodeCursor, workflowNotFound } from './workflow-service.js';

export const runStatuses = [
  'running',
  'completed',
  'failed',
  'cancelled',
  'terminated',
  'timed_out',
] as const;
export type RunStatus = (typeof runStatuses)[number];

const stepResourceSchema = z.object({
  id: z.string(),
  type: z.string(),
  status: z.enum(['pending', 'running', 'retrying', 'waiting', 'completed', 'failed', 'skipped']),
  attempts: z.number().int(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  nextAttemptAt: z.string().nullable().optional(),
  output: z.unknown(),
  error: z
    .object({ message: z.string(), type: z.string().optional(), nonRetryable: z.boolean().optional() })
    .nullable(),
});

const runSummaryShape = {
  id: z.string(),
  workflowId: z.string(),
  workflowVersion: z.number().int(),
  status: z.enum(runStatuses),
  trigger: z.object({ type: z.enum(['webhook', 'manual', 'retry']), receivedAt: z.string() }),
  retryOf: z.string().nullable(),
  startedAt: z.string(),
  closedAt: z.string().nullable(),
  temporal: z.object({ workflowId: z.string(), runId: z.string(), uiUrl: z.string() }),
};
export const runSummarySchema = z.object(runSummaryShape);
/** The run resource of DESIGN §3: its steps come from the workflow's live query or its final result. */
export const runResourceSchema = z.object({
  ...runSummaryShape,
  steps: z.array(stepResourceSchema),
  error: z.string().nullable(),
});
export type RunSummary = z.infer<typeof runSummarySchema>;
export type RunResource = z.infer<typeof runResourceSchema>;

/**
 * Kept in the run's memo so listing runs needs no history: visibility returns memos with each execution.
 * Fields are only ever added.
 */
interface RunMemo {
  workflowId: string;
  workflowVersion: number;
  trigger: { type: TriggerInput['type']; receivedAt: string };
  steps: { id: string; type: StepState['type'] }[];
  retryOf: string | null;
}

const MEMO_KEY = 'hookflow';
/** A webhook caller waits at most this long for Temporal to acknowledge a start before getting a 503. */
const START_DEADLINE_MS = 5_000;
/**
 * Largest run input (definition snapshot + trigger) accepted, in bytes of JSON: Temporal refuses a payload over
 * 2 MiB with an error that would otherwise surface as a 500. With the default body limits (a 1 MiB definition, a
 * 256 KiB webhook body) a webhook run always fits; a large manual payload may not.
 */
export const MAX_RUN_INPUT_BYTES = 1.5 * 1024 * 1024;
const QUERY_DEADLINE_MS = 3_000;

const statusByTemporalName: Record<string, RunStatus> = {
  RUNNING: 'running',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed_out',
  CONTINUED_AS_NEW: 'completed',
};
const temporalNameByStatus: Record<RunStatus, string> = {
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Canceled',
  terminated: 'Terminated',
  timed_out: 'TimedOut',
};

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

function unavailable(error: unknown): never {
  if (isTemporalUnavailable(error)) {
    throw new UnavailableError('Temporal cannot be reached right now; nothing was started. Retry shortly.');
  }
  throw error;
}

export function createRunService(deps: {
  temporal: Pick<Client, 'workflow' | 'withDeadline' | 'workflowService'>;
  workflows: Pick<WorkflowRepo, 'findOwned'>;
  config: Pick<Config, 'temporal' | 'http'>;
}) {
  const { temporal, config } = deps;
  const { namespace, taskQueue } = config.temporal;

  const uiUrl = (workflowId: string, runId: string) =>
    `${config.temporal.uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}/history`;
  const statusUrl = (runId: string) => `${config.http.publicUrl}/v1/runs/${runId}`;
  const runNotFound = (runId: string) =>
    new NotFoundError(
      'RUN_NOT_FOUND',
      `No run ${runId} (it does not exist, has expired from Temporal, or is not yours).`,
    );

  /** Starts one run. The 'start' is acknowledged by Temporal before this returns: from then on it is durable. */
  async function start(
    input: RunStepsInput,
    retryOf: string | null,
  ): Promise<{ runId: string; duplicate: boolean }> {
    const size = Buffer.byteLength(JSON.stringify(input));
    if (size > MAX_RUN_INPUT_BYTES) {
      throw new AppError(
        'RUN_INPUT_TOO_LARGE',
        413,
        `This run's input (the workflow's steps plus the payload) is ${size} bytes; at most ${MAX_RUN_INPUT_BYTES} ` +
          "are accepted. Send a smaller payload, or shorten the workflow's templates.",
      );
    }
    const memo: RunMemo = {
      workflowId: input.definition.workflowId,
      workflowVersion: input.definition.version,
      trigger: { type: input.trigger.type, receivedAt: input.trigger.receivedAt },
      steps: input.definition.steps.map((step) => ({ id: step.id, type: step.type })),
      retryOf,
    };
    try {
      await temporal.withDeadline(Date.now() + START_DEADLINE_MS, () =>
        temporal.workflow.start<typeof runSteps>(RUN_STEPS_WORKFLOW_TYPE, {
          taskQueue,
          workflowId: input.run.id,
          args: [input],
          // An id Temporal has seen is never reused, even after that run closed: the basis of deduplication.
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          typedSearchAttributes: [
            { key: HOOKFLOW_WORKFLOW_ID, value: input.definition.workflowId },
            { key: HOOKFLOW_OWNER_ID, value: input.run.ownerId },
          ],
          memo: { [MEMO_KEY]: memo },
          staticSummary: `${input.definition.name} (v${input.definition.version}, ${input.trigger.type})`,
        }),
      );
      return { runId: input.run.id, duplicate: false };
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError)
        return { runId: input.run.id, duplicate: true };
      return unavailable(error);
    }
  }

  /** Starts a run of `workflow`'s current version. A delivery key makes the run id deterministic. */
  async function startRun(workflow: WorkflowRecord, trigger: TriggerInput, deliveryKey?: string) {
    const runId = deliveryKey ? derivedRunId(workflow.id, deliveryKey) : randomRunId();
    return start(
      {
        run: { id: runId, ownerId: workflow.ownerId },
        definition: {
          workflowId: workflow.id,
          version: workflow.version,
          name: workflow.name,
          steps: workflow.steps,
        },
        trigger,
      },
      null,
    );
  }

  /** Describes a run and checks it belongs to `ownerId`; anything else is a 404, never a hint. */
  async function describeOwned(ownerId: string, runId: string): Promise<WorkflowExecutionDescription> {
    let description: WorkflowExecutionDescription;
    try {
      description = await temporal.workflow.getHandle(runId).describe();
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw runNotFound(runId);
      return unavailable(error);
    }
    const owner = description.typedSearchAttributes.get(HOOKFLOW_OWNER_ID);
    if (description.type !== RUN_STEPS_WORKFLOW_TYPE || owner !== ownerId) throw runNotFound(runId);
    return description;
  }

  function readMemo(memo: Record<string, unknown> | undefined, fallbackWorkflowId: string): RunMemo {
    const value = memo?.[MEMO_KEY] as Partial<RunMemo> | undefined;
    return {
      workflowId: value?.workflowId ?? fallbackWorkflowId,
      workflowVersion: value?.workflowVersion ?? 0,
      trigger: value?.trigger ?? { type: 'webhook', receivedAt: '' },
      steps: value?.steps ?? [],
      retryOf: value?.retryOf ?? null,
    };
  }

  function summarize(info: {
    workflowId: string;
    runId: string;
    status: { name: string };
    startTime: Date;
    closeTime?: Date;
    memo?: Record<string, unknown>;
    workflowIdSearchAttribute?: string;
  }): RunSummary {
    const memo = readMemo(info.memo, info.workflowIdSearchAttribute ?? '');
    return {
      id: info.workflowId,
      workflowId: memo.workflowId,
      workflowVersion: memo.workflowVersion,
      status: statusByTemporalName[info.status.name] ?? 'running',
      trigger: {
        type: memo.trigger.type,
        receivedAt: memo.trigger.receivedAt || info.startTime.toISOString(),
      },
      retryOf: memo.retryOf,
      startedAt: info.startTime.toISOString(),
      closedAt: info.closeTime?.toISOString() ?? null,
      temporal: { workflowId: info.workflowId, runId: info.runId, uiUrl: uiUrl(info.workflowId, info.runId) },
    };
  }

  /** Step states of a run: the final result, the failure's details, or the live query while it runs. */
  async function progressOf(
    description: WorkflowExecutionDescription,
    status: RunStatus,
  ): Promise<{ progress: RunProgress | null; error: string | null }> {
    const handle = temporal.workflow.getHandle(description.workflowId, description.runId);
    if (status === 'completed') {
      return { progress: (await handle.result()) as RunProgress, error: null };
    }
    if (status === 'failed') {
      try {
        await handle.result();
      } catch (error) {
        if (error instanceof WorkflowFailedError) {
          const cause = error.cause;
          const details =
            cause instanceof ApplicationFailure && cause.type === STEP_FAILED_ERROR_TYPE
              ? cause.details
              : undefined;
          return {
            progress: (details?.[0] as RunProgress | undefined) ?? null,
            error: cause?.message ?? error.message,
          };
        }
        throw error;
      }
    }
    try {
      // Queries are answered by a worker replaying the run; without one they would hang, hence the deadline.
      const progress = await temporal.withDeadline(Date.now() + QUERY_DEADLINE_MS, () =>
        handle.query<RunProgress>(PROGRESS_QUERY_NAME),
      );
      return { progress, error: status === 'running' ? null : `run ${status}` };
    } catch {
      return { progress: null, error: status === 'running' ? null : `run ${status}` };
    }
  }

  async function getRun(ownerId: string, runId: string): Promise<RunResource> {
    const description = await describeOwned(ownerId, runId);
    const summary = summarize({
      ...description,
      workflowIdSearchAttribute: description.typedSearchAttributes.get(HOOKFLOW_WORKFLOW_ID),
    });
    const memo = readMemo(description.memo, summary.workflowId);
    const { progress, error } = await progressOf(description, summary.status);
    const steps = (progress?.steps ?? memo.steps.map(pendingStep)).map((step) => ({
      ...step,
      nextAttemptAt: null as string | null,
    }));

    // Attempts and the next retry of the step in flight are Temporal's own knowledge of the pending activity.
    const pending = description.raw.pendingActivities?.[0];
    const current = steps.find((step) => step.id === progress?.currentStepId);
    if (pending && current && summary.status === 'running') {
      current.attempts = pending.attempt ?? current.attempts;
      if ((pending.attempt ?? 1) > 1) current.status = 'retrying';
      const next = pending.nextAttemptScheduleTime?.seconds;
      if (next) current.nextAttemptAt = new Date(Number(next) * 1000).toISOString();
      if (pending.lastFailure?.message) current.error = { message: pending.lastFailure.message };
    }
    return { ...summary, steps, error };
  }

  return {
    statusUrl,

    startRun,

    /** A test run with a sample payload; answers with the run as just started (every step pending). */
    async startManualRun(ownerId: string, workflowId: string, payload: unknown): Promise<RunResource> {
      const workflow = await deps.workflows.findOwned(ownerId, workflowId);
      if (!workflow) {
        throw workflowNotFound(workflowId);
      }
      const receivedAt = new Date().toISOString();
      const { runId } = await startRun(workflow, {
        type: 'manual',
        receivedAt,
        body: payload,
        query: {},
        headers: {},
      });
      try {
        return await getRun(ownerId, runId);
      } catch (error) {
        // The run is durable already; if Temporal blips right now, answer from what we know instead of a 503.
        if (!isTemporalUnavailable(error)) throw error;
        return {
          id: runId,
          workflowId: workflow.id,
          workflowVersion: workflow.version,
          status: 'running',
          trigger: { type: 'manual', receivedAt },
          retryOf: null,
          startedAt: receivedAt,
          closedAt: null,
          temporal: { workflowId: runId, runId: '', uiUrl: uiUrl(runId, '') },
          steps: workflow.steps.map((step) => ({ ...pendingStep(step), nextAttemptAt: null })),
          error: null,
        };
      }
    },

    getRun,

    async listRuns(
      ownerId: string,
      workflowId: string,
      options: { status?: RunStatus; limit: number; cursor?: string },
    ): Promise<{ items: RunSummary[]; nextCursor: string | null }> {
      if (!(await deps.workflows.findOwned(ownerId, workflowId))) {
        throw workflowNotFound(workflowId);
      }
      // Both values are server-made (a UUID and the caller's own id), never raw user text.
      let query = `WorkflowType = '${RUN_STEPS_WORKFLOW_TYPE}' AND ${HOOKFLOW_WORKFLOW_ID.name} = '${workflowId}' AND ${HOOKFLOW_OWNER_ID.name} = '${ownerId}'`;
      if (options.status) query += ` AND ExecutionStatus = '${temporalNameByStatus[options.status]}'`;
      let nextPageToken: Uint8Array | undefined;
      if (options.cursor) {
        const [token] = decodeCursor(options.cursor);
        if (typeof token !== 'string')
          throw new AppError('INVALID_CURSOR', 400, 'The cursor is not one this API returned.');
        nextPageToken = Buffer.from(token, 'base64');
      }
      let response;
      try {
        response = await temporal.workflowService.listWorkflowExecutions({
          namespace,
          query,
          pageSize: options.limit,
          nextPageToken,
        });
      } catch (error) {
        if (isGrpcServiceError(error) && Number(error.code) === 3 /* INVALID_ARGUMENT */ && options.cursor) {
          throw new AppError(
            'INVALID_CURSOR',
            400,
            'The cursor is not one this API returned, or it has expired.',
          );
        }
        return unavailable(error);
      }
      const items = (response.executions ?? []).map((execution) => {
        const memoPayload = execution.memo?.fields?.[MEMO_KEY];
        return summarize({
          workflowId: execution.execution?.workflowId ?? '',
          runId: execution.execution?.runId ?? '',
          status: { name: executionStatusName(execution.status) },
          startTime: timestampToDate(execution.startTime) ?? new Date(0),
          closeTime: timestampToDate(execution.closeTime),
          memo: memoPayload ? { [MEMO_KEY]: defaultPayloadConverter.fromPayload(memoPayload) } : undefined,
          workflowIdSearchAttribute: workflowId,
        });
      });
      // Newest first regardless of the visibility store's own order (running runs have no close time).
      items.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
      const token = response.nextPageToken;
      return {
        items,
        nextCursor: token && token.length > 0 ? encodeCursor([Buffer.from(token).toString('base64')]) : null,
      };
    },

    async cancel(ownerId: string, runId: string): Promise<RunResource> {
      const description = await describeOwned(ownerId, runId);
      if (description.status.name !== 'RUNNING') {
        throw new AppError(
          'RUN_NOT_RUNNING',
          409,
          `Run ${runId} is already ${statusByTemporalName[description.status.name] ?? 'closed'}; only a running run can be cancelled.`,
        );
      }
      try {
        await temporal.workflow.getHandle(runId, description.runId).cancel();
      } catch (error) {
        return unavailable(error);
      }
      return getRun(ownerId, runId);
    },

    /**
     * Re-runs a failed run from its failed step: earlier steps are carried over (their emails are not sent
     * again), later ones run afresh. The new run's id derives from the failed one, so a repeated retry
     * request returns the same new run instead of starting another.
     */
    async retry(ownerId: string, runId: string): Promise<{ run: RunResource; duplicate: boolean }> {
      const description = await describeOwned(ownerId, runId);
      if (description.status.name !== 'FAILED') {
        throw new AppError(
          'RUN_NOT_RETRYABLE',
          409,
          `Run ${runId} is ${statusByTemporalName[description.status.name] ?? 'not failed'}; only a failed run can be retried.`,
        );
      }
      const { progress } = await progressOf(description, 'failed');
      // The step that stopped the run (steps with onFailure "continue" may have failed before it).
      const failedStep =
        progress?.steps.find((step) => step.id === progress.currentStepId) ??
        progress?.steps.findLast((step) => step.status === 'failed');
      const original = await startInputOf(runId, description.runId);
      const input: RunStepsInput = {
        ...original,
        run: {
          id: derivedRunId(runId, 'retry'),
          ownerId,
          retryOf: runId,
          // Steps send the idempotency keys of the first run: a send whose earlier attempt reached the provider
          // (its answer lost) is not made twice.
          idempotencyPrefix: original.run.idempotencyPrefix ?? original.run.id,
        },
        trigger: { ...original.trigger, type: 'retry', receivedAt: new Date().toISOString() },
        ...(failedStep && progress ? { resume: { fromStepId: failedStep.id, steps: progress.steps } } : {}),
      };
      const started = await start(input, runId);
      return { run: await getRun(ownerId, started.runId), duplicate: started.duplicate };
    },
  };

  /** The input a run was started with, read from the first event of its history. */
  async function startInputOf(workflowId: string, runId: string): Promise<RunStepsInput> {
    const history = await temporal.workflow.getHandle(workflowId, runId).fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    if (!payload) throw new Error(`run ${workflowId} has no start input in its history`);
    return defaultPayloadConverter.fromPayload<RunStepsInput>(payload);
  }
}

function timestampToDate(
  timestamp: { seconds?: unknown; nanos?: number | null } | null | undefined,
): Date | undefined {
  if (!timestamp?.seconds) return undefined;
  return new Date(Number(timestamp.seconds) * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6));
}

function executionStatusName(status: number | null | undefined): string {
  const names = [
    'UNSPECIFIED',
    'RUNNING',
    'COMPLETED',
    'FAILED',
    'CANCELED',
    'TERMINATED',
    'CONTINUED_AS_NEW',
    'TIMED_OUT',
  ];
  const name = names[status ?? 0] ?? 'UNSPECIFIED';
  return name === 'CANCELED' ? 'CANCELLED' : name;
}

export type RunService = ReturnType<typeof createRunService>;
