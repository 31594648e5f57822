import { sleep } from '@temporalio/workflow';
import type { DelayStep } from '../dsl/delay-step.js';
import { parseDuration } from './durations.js';
import type { StepContext } from './step-context.js';

/** Runs a `delay` step: a durable timer, named in history after its step. Its output is null. */
export async function runDelayStep(step: DelayStep, context: StepContext): Promise<null> {
  context.state.status = 'waiting';
  await sleep(parseDuration(step.params.duration), { summary: `delay step "${step.id}"` });
  return null;
}
