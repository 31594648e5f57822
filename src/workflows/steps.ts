import type { Step } from '../dsl/schema.js';
import { runDelayStep } from './delay-step.js';
import { runEmailStep } from './email-step.js';
import { assertNever } from './failures.js';
import { runHttpStep } from './http-step.js';
import type { StepContext } from './step-context.js';

/**
 * The registry of step executors: one case per step type (README, "Adding a step type"). Each returns the step's
 * output, which later steps read as `steps.<id>.output`.
 */
export async function runStep(step: Step, context: StepContext): Promise<unknown> {
  switch (step.type) {
    case 'email':
      return runEmailStep(step, context);
    case 'delay':
      return runDelayStep(step, context);
    case 'http':
      return runHttpStep(step, context);
    default:
      return assertNever(step);
  }
}
