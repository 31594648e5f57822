import type { Step } from '../dsl/schema.js';

/**
 * Wire types of the interpreter workflow. They cross process boundaries (API → Temporal → worker) and are kept in
 * Temporal's history forever, so fields are only ever added, never renamed.
 */

export type TriggerType = 'webhook' | 'manual' | 'retry' | 'schedule';

/** What started the run. Headers are already reduced to the allow-list (never authorization or signatures). */
export interface TriggerInput {
  type: TriggerType;
  receivedAt: string;
  body: unknown;
  query: Record<string, string | string[]>;
  headers: Record<string, string>;
}

/** The definition version the run started from: editing the workflow later never changes this run. */
export interface DefinitionSnapshot {
  workflowId: string;
  version: number;
  name: string;
  steps: Step[];
}

export interface RunStepsInput {
  run: {
    /** The run id; empty in a Schedule's action (the workflow id, which holds the scheduled time, is used). */
    id: string;
    ownerId: string;
    retryOf?: string;
    /**
     * Prefix of the idempotency keys the run's steps send: the first run's id in a chain of retries (absent on a
     * first run, and on runs retried before this field existed: their own id is then the prefix).
     */
    idempotencyPrefix?: string;
  };
  definition: DefinitionSnapshot;
  trigger: TriggerInput;
  /** Set when a failed run is retried: steps before `fromStepId` are carried over instead of run again. */
  resume?: { fromStepId: string; steps: StepState[] };
}

export type StepStatus = 'pending' | 'running' | 'retrying' | 'waiting' | 'completed' | 'failed' | 'skipped';

export interface StepState {
  id: string;
  type: Step['type'];
  status: StepStatus;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  output: unknown;
  error: { message: string; type?: string; nonRetryable?: boolean } | null;
}

/** A step that has not started: how every step begins, and how a run's steps look before its first query. */
export function pendingStep(step: { id: string; type: Step['type'] }): StepState {
  return {
    id: step.id,
    type: step.type,
    status: 'pending',
    attempts: 0,
    startedAt: null,
    finishedAt: null,
    output: null,
    error: null,
  };
}

/** Returned by the progress query while the run is open, and as the run's result once it completed. */
export interface RunProgress {
  currentStepId: string | null;
  steps: StepState[];
}

/** Error type of the failure a run ends with when a step fails for good; its details hold the RunProgress. */
export const STEP_FAILED_ERROR_TYPE = 'HookflowStepFailed';

/** Output of the email step, visible to later steps as `steps.<id>.output`. */
export interface SendEmailResult {
  providerId: string;
  transport: 'resend' | 'console';
  to: string[];
  attempt: number;
}
