import type { ChangeCheck } from './patches.js';
import type { RenderContext } from './template.js';
import type { StepState } from './types.js';

/** What a step type's executor gets from the interpreter. */
export interface StepContext {
  /** What templates and `when` read: the trigger and the steps that finished so far. */
  render: RenderContext;
  /** The Hookflow run id (also the Temporal workflow id). */
  runId: string;
  /** The account that owns the workflow: whose secrets an http step may use. */
  ownerId: string;
  /**
   * Prefix of the idempotency keys a step sends (`<prefix>/<step id>`): the id of the first run of a chain of
   * retries, so a retried run never repeats a send that an earlier run's attempt already made.
   */
  idempotencyPrefix: string;
  /** The step's live state, as the progress query shows it; executors update `status` and `attempts`. */
  state: StepState;
  /** Whether this run takes a change to the commands emitted (patches.ts): ask it where the change is. */
  hasChange: ChangeCheck;
}
