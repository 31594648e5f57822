import type { RenderContext } from './template.js';
import type { StepState } from './types.js';

/** What a step type's executor gets from the interpreter. */
export interface StepContext {
  /** What templates and `when` read: the trigger and the steps that ran so far. */
  render: RenderContext;
  /** The Hookflow run id (also the Temporal workflow id). */
  runId: string;
  /** The step's live state, as the progress query shows it; executors update `status` and `attempts`. */
  state: StepState;
}
