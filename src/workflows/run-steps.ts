import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  defineQuery,
  isCancellation,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { DEFAULT_EMAIL_RETRY, parseDuration, type EmailStep, type RetryPolicy, type When } from './dsl.js';
import { lookupPath, renderEmail, TemplateError, type RenderContext } from './template.js';
import {
  pendingStep,
  STEP_FAILED_ERROR_TYPE,
  type RunProgress,
  type RunStepsInput,
  type SendEmailResult,
  type StepState,
} from './types.js';

/** Live progress of a run: the API's GET /v1/runs/:id reads it. Wire name, never rename. */
export const progressQuery = defineQuery<RunProgress>('progress');

/**
 * The interpreter: runs the definition snapshot carried in its input, step by step. Everything here must be
 * deterministic (Temporal replays it): time comes from the SDK's Date, and all I/O happens in activities.
 */
export async function runSteps(input: RunStepsInput): Promise<RunProgress> {
  const { definition } = input;
  const carried = new Map((input.resume?.steps ?? []).map((step) => [step.id, step]));
  const resumeIndex = input.resume ? definition.steps.findIndex((s) => s.id === input.resume?.fromStepId) : 0;

  const steps: StepState[] = definition.steps.map((step, index) => {
    const previous = carried.get(step.id);
    return previous && index < resumeIndex ? previous : pendingStep(step);
  });
  let currentStepId: string | null = null;
  setHandler(progressQuery, () => ({ currentStepId, steps }));

  const context: RenderContext = {
    trigger: { body: input.trigger.body, query: input.trigger.query, headers: input.trigger.headers },
    steps: {},
    run: { id: input.run.id },
    workflow: { name: definition.name },
  };
  for (const state of steps) {
    if (state.status === 'completed') context.steps[state.id] = { output: state.output };
  }

  for (const [index, step] of definition.steps.entries()) {
    const state = steps[index];
    if (!state || index < resumeIndex) continue;
    currentStepId = step.id;
    state.startedAt = new Date().toISOString();

    if (step.when && !evaluateWhen(step.when, context)) {
      state.status = 'skipped';
      state.finishedAt = state.startedAt;
      continue;
    }

    try {
      switch (step.type) {
        case 'email':
          state.status = 'running';
          state.output = await runEmailStep(step, context, input.run.id, state);
          break;
        case 'delay':
          state.status = 'waiting';
          await sleep(parseDuration(step.params.duration), { summary: `delay step "${step.id}"` });
          state.output = null;
          break;
        default:
          assertNever(step);
      }
      state.status = 'completed';
      state.finishedAt = new Date().toISOString();
      context.steps[step.id] = { output: state.output };
    } catch (error) {
      state.status = 'failed';
      state.finishedAt = new Date().toISOString();
      if (isCancellation(error)) {
        state.error = { message: 'cancelled while this step was in progress', type: 'Cancelled' };
        throw error;
      }
      state.error = describeFailure(error);
      state.attempts = attemptsOf(error) ?? state.attempts;
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

async function runEmailStep(
  step: EmailStep,
  context: RenderContext,
  runId: string,
  state: StepState,
): Promise<SendEmailResult> {
  let email;
  try {
    // Rendering is pure, so it runs here: the exact email sent is then visible in the run's history.
    email = renderEmail(step.params, context);
  } catch (error) {
    if (error instanceof TemplateError) {
      throw ApplicationFailure.nonRetryable(error.message, 'TemplateError');
    }
    throw error;
  }
  const { sendEmail } = proxyActivities<Activities>({
    startToCloseTimeout: '30s',
    retry: toTemporalRetry(step.retry),
    summary: `email step "${step.id}"`,
  });
  const result = await sendEmail({
    // The provider keeps this key for 24 h: a retried activity (or a worker crash mid-send) never sends twice.
    idempotencyKey: `${runId}/${step.id}`,
    email,
  });
  state.attempts = result.attempt;
  return result;
}

function toTemporalRetry(retry: RetryPolicy | undefined) {
  const policy = { ...DEFAULT_EMAIL_RETRY, ...retry };
  return {
    maximumAttempts: policy.maxAttempts,
    initialInterval: parseDuration(policy.initialInterval),
    backoffCoefficient: policy.backoffCoefficient,
    maximumInterval: parseDuration(policy.maxInterval),
  };
}

/** `when` guards compare data, never evaluate code. */
export function evaluateWhen(when: When, context: RenderContext): boolean {
  const actual = lookupPath(context, when.path.split('.'));
  switch (when.op) {
    case 'exists':
      return (actual !== undefined && actual !== null) === (when.value ?? true);
    case 'eq':
      return deepEqual(actual, when.value);
    case 'neq':
      return !deepEqual(actual, when.value);
    case 'in':
      return Array.isArray(when.value) && when.value.some((candidate) => deepEqual(actual, candidate));
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return compare(actual, when.value, when.op);
    default:
      return assertNever(when.op);
  }
}

function compare(actual: unknown, expected: unknown, op: 'gt' | 'gte' | 'lt' | 'lte'): boolean {
  // Numbers compare as numbers (a numeric string from a form body counts), strings as strings; nothing else.
  let a: number | string;
  let b: number | string;
  if (typeof expected === 'number') {
    a = typeof actual === 'string' && actual.trim() !== '' ? Number(actual) : (actual as number);
    b = expected;
    if (typeof a !== 'number' || Number.isNaN(a)) return false;
  } else if (typeof expected === 'string' && typeof actual === 'string') {
    a = actual;
    b = expected;
  } else {
    return false;
  }
  if (op === 'gt') return a > b;
  if (op === 'gte') return a >= b;
  if (op === 'lt') return a < b;
  return a <= b;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

function describeFailure(error: unknown): NonNullable<StepState['error']> {
  // An activity failure wraps the activity's own error: report that one, it says what the provider said.
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

/** The send activity puts its attempt number in its failure's details; the workflow cannot see it otherwise. */
function attemptsOf(error: unknown): number | undefined {
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

function assertNever(value: never): never {
  throw ApplicationFailure.nonRetryable(
    `unsupported value ${JSON.stringify(value)} in workflow ${workflowInfo().workflowType}`,
  );
}
