import type { Config } from '../../config.js';
import { AppError, NotFoundError, UnavailableError } from '../../errors.js';
import type { WorkflowRecord, WorkflowRepo } from '../../db/repos/workflow-repo.js';
import {
  PageTokenRejectedError,
  type RunExecution,
  type RunStatus,
  type TemporalAdapter,
} from '../../temporal/adapter.js';
import { pendingStep, type RunStepsInput, type TriggerInput } from '../../workflows/types.js';
import type { RunResource, RunSummary } from './run-resources.js';
import { derivedRunId, randomRunId, scheduledRunId } from './run-ids.js';
import type { StartGate } from '../../limits/start-gate.js';
import { noSchedule } from './schedule-service.js';
import { decodeCursor, encodeCursor, workflowNotFound } from './workflow-service.js';

export {
  runResourceSchema,
  runStatuses,
  runSummarySchema,
  type RunResource,
  type RunStatus,
  type RunSummary,
} from './run-resources.js';

/**
 * Largest run input (definition snapshot + trigger) accepted, in bytes of JSON: Temporal refuses a payload over
 * 2 MiB with an error that would otherwise surface as a 500. With the default body limits (a 1 MiB definition, a
 * 256 KiB webhook body) a webhook run always fits; a large manual payload may not.
 */
export const MAX_RUN_INPUT_BYTES = 1.5 * 1024 * 1024;

/**
 * A caller (a webhook sender) waits at most this long, its turn at the start gate and all start attempts together,
 * before a 503. At most half of it goes to waiting for a turn.
 */
export const START_BUDGET_MS = 5_000;
/** Retry-After of a start that found no turn at the gate: the queue ahead of it drains in about this long. */
const OVER_CAPACITY_RETRY_AFTER_S = 5;
/** Attempts at one start within the budget; all use the same run id, so a repeat cannot start a second run. */
const START_ATTEMPTS = 3;
/** Pause before the n-th repeat of a start: n × this. */
const START_BACKOFF_MS = 100;
/** Too little budget left for another attempt to be worth making. */
const MIN_START_ATTEMPT_MS = 250;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createRunService(deps: {
  temporal: Pick<
    TemporalAdapter,
    'startRun' | 'describeRun' | 'runProgress' | 'listRuns' | 'cancelRun' | 'runStartInput'
  >;
  workflows: Pick<WorkflowRepo, 'findOwned'>;
  /** Orders this process's concurrent starts (RUN_START_CONCURRENCY; a gate of 0 lets every start go at once). */
  startGate: StartGate;
  config: {
    temporal: Pick<Config['temporal'], 'namespace' | 'uiUrl'>;
    http: Pick<Config['http'], 'publicUrl'>;
  };
}) {
  const { temporal, config } = deps;

  const uiUrl = (workflowId: string, runId: string) =>
    `${config.temporal.uiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}/history`;
  const statusUrl = (runId: string) => `${config.http.publicUrl}/v1/runs/${runId}`;
  const runNotFound = (runId: string) =>
    new NotFoundError(
      'RUN_NOT_FOUND',
      `No run ${runId} (it does not exist, has expired from Temporal, or is not yours).`,
    );

  /** Starts one run. The start is acknowledged by Temporal before this returns: from then on it is durable. */
  async function start(input: RunStepsInput): Promise<{ runId: string; duplicate: boolean }> {
    const size = Buffer.byteLength(JSON.stringify(input));
    if (size > MAX_RUN_INPUT_BYTES) {
      throw new AppError(
        'RUN_INPUT_TOO_LARGE',
        413,
        `This run's input (the workflow's steps plus the payload) is ${size} bytes; at most ${MAX_RUN_INPUT_BYTES} ` +
          "are accepted. Send a smaller payload, or shorten the workflow's templates.",
      );
    }
    // One budget for the caller's whole wait: a turn at the gate, then the start attempts.
    const deadline = Date.now() + START_BUDGET_MS;
    const leave = await takeTurn(deadline);
    try {
      return { runId: input.run.id, duplicate: await startWithRetries(input, deadline) };
    } finally {
      leave();
    }
  }

  /**
   * Waits for this start's turn at the start gate, at most half the budget; throws OVER_CAPACITY (nothing started)
   * when none came. Returns what to call once the start is answered.
   */
  async function takeTurn(deadline: number): Promise<() => void> {
    const gate = deps.startGate;
    const leave = await gate.enter(deadline - START_BUDGET_MS / 2);
    if (leave) return leave;
    throw new AppError(
      'OVER_CAPACITY',
      503,
      `Over capacity: this API process has ${gate.inFlight} run starts in flight to Temporal and ${gate.waiting} ` +
        `more waiting (RUN_START_CONCURRENCY). Nothing was started; retry in ${OVER_CAPACITY_RETRY_AFTER_S} s.`,
      [],
      { 'retry-after': String(OVER_CAPACITY_RETRY_AFTER_S) },
    );
  }

  /**
   * Starts `input`'s run, repeating the start when Temporal did not answer. An unanswered start is ambiguous (a
   * deadline or a cancelled call may come after Temporal accepted it); answering 503 would invite the caller to
   * retry and, without a delivery key, start a second run. A repeat with the same run id is safe: Temporal
   * accepts an id once. Returns whether the run is a duplicate of an earlier request's.
   */
  async function startWithRetries(input: RunStepsInput, deadline: number): Promise<boolean> {
    let unanswered = false;
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - Date.now();
      // Every attempt but the last leaves at least half the remaining budget to the others.
      const share = attempt < START_ATTEMPTS ? remaining / 2 : remaining;
      try {
        const { duplicate } = await temporal.startRun(input, Date.now() + share);
        // "Already started" after an unanswered attempt of this very request is that attempt's start. (With a
        // delivery key, an earlier delivery may have started it instead: the answer is then 202, not 200, for
        // the same run.)
        return duplicate && !unanswered;
      } catch (error) {
        const pause = attempt * START_BACKOFF_MS;
        if (
          !(error instanceof UnavailableError) ||
          attempt >= START_ATTEMPTS ||
          deadline - Date.now() - pause < MIN_START_ATTEMPT_MS
        ) {
          throw error;
        }
        unanswered = true;
        await sleep(pause);
      }
    }
  }

  /** Starts a run of `workflow`'s current version. A delivery key makes the run id deterministic. */
  async function startRun(workflow: WorkflowRecord, trigger: TriggerInput, deliveryKey?: string) {
    const runId = deliveryKey ? derivedRunId(workflow.id, deliveryKey) : randomRunId();
    return start({
      run: { id: runId, ownerId: workflow.ownerId },
      definition: {
        workflowId: workflow.id,
        version: workflow.version,
        name: workflow.name,
        steps: workflow.steps,
      },
      trigger,
    });
  }

  /** Describes a run and checks it belongs to `ownerId`; anything else is a 404, never a hint. */
  async function describeOwned(ownerId: string, runId: string) {
    const run = await temporal.describeRun(runId);
    if (!run || run.ownerId !== ownerId) throw runNotFound(runId);
    return run;
  }

  function summarize(run: RunExecution): RunSummary {
    const { memo } = run;
    return {
      id: run.id,
      workflowId: memo.workflowId,
      workflowVersion: memo.workflowVersion,
      status: run.status,
      trigger: {
        type: memo.trigger.type,
        receivedAt: memo.trigger.receivedAt || run.startedAt.toISOString(),
        // A run started by its Schedule carries the due time; one started with "run now" was due when received.
        ...(memo.trigger.type === 'schedule' && {
          scheduledAt: (run.scheduledAt ?? run.startedAt).toISOString(),
        }),
      },
      retryOf: memo.retryOf,
      startedAt: run.startedAt.toISOString(),
      closedAt: run.closedAt?.toISOString() ?? null,
      temporal: { workflowId: run.id, runId: run.temporalRunId, uiUrl: uiUrl(run.id, run.temporalRunId) },
    };
  }

  async function getRun(ownerId: string, runId: string): Promise<RunResource> {
    const run = await describeOwned(ownerId, runId);
    const summary = summarize(run);
    const { progress, failureMessage } = await temporal.runProgress(run);
    const steps = (progress?.steps ?? run.memo.steps.map(pendingStep)).map((step) => ({
      ...step,
      nextAttemptAt: null as string | null,
    }));
    const error =
      failureMessage ?? (run.status === 'running' || run.status === 'completed' ? null : `run ${run.status}`);

    // Attempts and the next retry of the step in flight are Temporal's own knowledge of the pending activity.
    const pending = run.pendingActivity;
    const current = steps.find((step) => step.id === progress?.currentStepId);
    if (pending && current && run.status === 'running') {
      current.attempts = pending.attempt ?? current.attempts;
      if ((pending.attempt ?? 1) > 1) current.status = 'retrying';
      if (pending.nextAttemptAt) current.nextAttemptAt = pending.nextAttemptAt.toISOString();
      if (pending.lastFailureMessage) current.error = { message: pending.lastFailureMessage };
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
        if (!(error instanceof UnavailableError)) throw error;
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

    /**
     * Runs a workflow's schedule now (POST /v1/workflows/:id/schedule/trigger): a scheduled run of the current
     * version, with the schedule's payload, due now. Two requests within the same second start one run.
     */
    async runScheduleNow(
      ownerId: string,
      workflowId: string,
    ): Promise<{ run: RunResource; duplicate: boolean }> {
      const workflow = await deps.workflows.findOwned(ownerId, workflowId);
      if (!workflow) throw workflowNotFound(workflowId);
      if (!workflow.schedule) throw noSchedule(workflowId);
      const now = new Date();
      const { runId, duplicate } = await start({
        run: { id: scheduledRunId(workflow.id, now), ownerId },
        definition: {
          workflowId: workflow.id,
          version: workflow.version,
          name: workflow.name,
          steps: workflow.steps,
        },
        trigger: {
          type: 'schedule',
          receivedAt: now.toISOString(),
          body: workflow.schedule.payload ?? {},
          query: {},
          headers: {},
        },
      });
      return { run: await getRun(ownerId, runId), duplicate };
    },

    async listRuns(
      ownerId: string,
      workflowId: string,
      options: { status?: RunStatus; limit: number; cursor?: string },
    ): Promise<{ items: RunSummary[]; nextCursor: string | null }> {
      if (!(await deps.workflows.findOwned(ownerId, workflowId))) {
        throw workflowNotFound(workflowId);
      }
      let pageToken: string | undefined;
      if (options.cursor) {
        const [token] = decodeCursor(options.cursor);
        if (typeof token !== 'string')
          throw new AppError('INVALID_CURSOR', 400, 'The cursor is not one this API returned.');
        pageToken = token;
      }
      let page;
      try {
        page = await temporal.listRuns({
          ownerId,
          workflowId,
          status: options.status,
          pageSize: options.limit,
          pageToken,
        });
      } catch (error) {
        if (error instanceof PageTokenRejectedError) {
          throw new AppError(
            'INVALID_CURSOR',
            400,
            'The cursor is not one this API returned, or it has expired.',
          );
        }
        throw error;
      }
      // Newest first regardless of the visibility store's own order (running runs have no close time).
      const items = page.runs.map(summarize).sort((a, b) => b.startedAt.localeCompare(a.startedAt));
      return {
        items,
        nextCursor: page.nextPageToken === undefined ? null : encodeCursor([page.nextPageToken]),
      };
    },

    async cancel(ownerId: string, runId: string): Promise<RunResource> {
      const run = await describeOwned(ownerId, runId);
      if (run.status !== 'running') {
        throw new AppError(
          'RUN_NOT_RUNNING',
          409,
          `Run ${runId} is already ${run.status}; only a running run can be cancelled.`,
        );
      }
      await temporal.cancelRun(run);
      return getRun(ownerId, runId);
    },

    /**
     * Re-runs a failed run from its failed step: earlier steps are carried over (their emails are not sent
     * again), later ones run afresh. The new run's id derives from the failed one, so a repeated retry
     * request returns the same new run instead of starting another.
     */
    async retry(ownerId: string, runId: string): Promise<{ run: RunResource; duplicate: boolean }> {
      const run = await describeOwned(ownerId, runId);
      if (run.status !== 'failed') {
        throw new AppError(
          'RUN_NOT_RETRYABLE',
          409,
          `Run ${runId} is ${run.status}; only a failed run can be retried.`,
        );
      }
      const { progress } = await temporal.runProgress(run);
      // The step that stopped the run (steps with onFailure "continue" may have failed before it).
      const failedStep =
        progress?.steps.find((step) => step.id === progress.currentStepId) ??
        progress?.steps.findLast((step) => step.status === 'failed');
      const original = await temporal.runStartInput(run);
      const input: RunStepsInput = {
        ...original,
        run: {
          id: derivedRunId(runId, 'retry'),
          ownerId,
          retryOf: runId,
          // Steps send the idempotency keys of the first run: a send whose earlier attempt reached the provider
          // (its answer lost) is not made twice. The run's own id is `runId` (a scheduled run's input has none).
          idempotencyPrefix: original.run.idempotencyPrefix ?? runId,
        },
        trigger: { ...original.trigger, type: 'retry', receivedAt: new Date().toISOString() },
        ...(failedStep && progress ? { resume: { fromStepId: failedStep.id, steps: progress.steps } } : {}),
      };
      const started = await start(input);
      return { run: await getRun(ownerId, started.runId), duplicate: started.duplicate };
    },
  };
}

export type RunService = ReturnType<typeof createRunService>;
