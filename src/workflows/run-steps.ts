import {
  ApplicationFailure,
  defineQuery,
  isCancellation,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { attemptsOf, describeFailure } from './failures.js';
import { PROGRESS_QUERY_NAME } from './names.js';
import { changesBuiltIntoV2, changesFromHistory, type ChangeCheck } from './patches.js';
import { runStep } from './steps.js';
import type { RenderContext } from './template.js';
import {
  pendingStep,
  STEP_FAILED_ERROR_TYPE,
  type RunProgress,
  type RunStepsInput,
  type StepState,
} from './types.js';
import { evaluateWhen } from './when.js';

/** Live progress of a run: the API's GET /v1/runs/:id reads it. */
export const progressQuery = defineQuery<RunProgress>(PROGRESS_QUERY_NAME);

/**
 * The interpreter as new runs start it (RUN_STEPS_WORKFLOW_TYPE): the changes built into it hold from the run's first
 * step, with no marker recorded for them (patches.ts).
 */
export function runStepsV2(input: RunStepsInput): Promise<RunProgress> {
  return interpret(input, changesBuiltIntoV2);
}

/**
 * The interpreter as runs started by builds before runStepsV2 carry it: the same steps, each change decided by the
 * run's history (patched()), as those builds recorded it. Kept for as long as such a run can be open.
 */
export function runSteps(input: RunStepsInput): Promise<RunProgress> {
  return interpret(input, changesFromHistory);
}

/**
 * The interpreter: runs the definition snapshot carried in its input, step by step. Everything here must be
 * deterministic (Temporal replays it): time comes from the SDK's Date, and all I/O happens in activities. Every
 * change to the commands it emits must keep recorded histories replaying (test/replay, DESIGN §8).
 */
async function interpret(input: RunStepsInput, hasChange: ChangeCheck): Promise<RunProgress> {
  const { definition } = input;
  // A scheduled run's input is fixed when its Schedule is written, so it cannot hold the run's own id: Temporal's
  // workflow id (the Schedule's prefix + the scheduled time) is it. For every other run the two are equal.
  const runId = input.run.id || workflowInfo().workflowId;
  const carried = new Map((input.resume?.steps ?? []).map((step) => [step.id, step]));
  const resumeIndex = input.resume ? definition.steps.findIndex((s) => s.id === input.resume?.fromStepId) : 0;

  const steps: StepState[] = definition.steps.map((step, index) => {
    const previous = carried.get(step.id);
    return previous && index < resumeIndex ? previous : pendingStep(step);
  });
  let currentStepId: string | null = null;
  setHandler(progressQuery, () => ({ currentStepId, steps }));

  const render: RenderContext = {
    trigger: { body: input.trigger.body, query: input.trigger.query, headers: input.trigger.headers },
    steps: {},
    run: { id: runId },
    workflow: { name: definition.name },
  };
  for (const state of steps) {
    if (isFinished(state)) render.steps[state.id] = readable(state);
  }
  const stepContext = (state: StepState) => ({
    render,
    runId,
    ownerId: input.run.ownerId,
    idempotencyPrefix: input.run.idempotencyPrefix ?? runId,
    state,
    hasChange,
  });

  for (const [index, step] of definition.steps.entries()) {
    const state = steps[index];
    if (!state || index < resumeIndex) continue;
    currentStepId = step.id;
    state.startedAt = new Date().toISOString();

    if (step.when && !evaluateWhen(step.when, render)) {
      state.status = 'skipped';
      state.finishedAt = state.startedAt;
      render.steps[step.id] = readable(state);
      continue;
    }

    try {
      state.status = 'running';
      state.output = await runStep(step, stepContext(state));
      state.status = 'completed';
      state.finishedAt = new Date().toISOString();
      render.steps[step.id] = readable(state);
    } catch (error) {
      state.status = 'failed';
      state.finishedAt = new Date().toISOString();
      if (isCancellation(error)) {
        state.error = { message: 'cancelled while this step was in progress', type: 'Cancelled' };
        throw error;
      }
      state.error = describeFailure(error);
      state.attempts = attemptsOf(error) ?? state.attempts;
      if (step.onFailure === 'continue') {
        // The run goes on; later steps can read `steps.<id>.status` ("failed") and react to it.
        render.steps[step.id] = readable(state);
        continue;
      }
      currentStepId = null;
      throw ApplicationFailure.create({
        type: STEP_FAILED_ERROR_TYPE,
        message: `step "${step.id}" failed: ${state.error.message}`,
        nonRetryable: true,
        details: [{ currentStepId: step.id, steps } satisfies RunProgress],
      });
    }
  }
  currentStepId = null;
  return { currentStepId, steps };
}

function isFinished(state: StepState): boolean {
  return state.status === 'completed' || state.status === 'failed' || state.status === 'skipped';
}

/**
 * What templates and `when` can read of a finished step. A step that did not complete has no output: it reads as
 * missing, as it always did.
 */
function readable(state: StepState): RenderContext['steps'][string] {
  return { output: state.status === 'completed' ? state.output : undefined, status: state.status };
}
