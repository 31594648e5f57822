// What npm start's host thread and its worker thread (worker-thread.ts, worker-thread-entry.ts) say to each other.
import type { Config } from '../config.js';
import { UnavailableError } from '../errors.js';
import type { EmailQuota } from '../activities/send-email.js';
import type { SecretRepo } from '../db/repos/secret-repo.js';
import type { RunStepsInput } from '../workflows/types.js';
import type { WorkerMetricsStatus } from './worker.js';

/** What the thread is started with: plain data, as structured clone carries it. */
export interface WorkerThreadData {
  /** The environment the thread builds its config from (loadConfig), the same the host built its own from. */
  env: Record<string, string | undefined>;
  temporalAddress: string;
  /** The SDK runtime's log level (npm start quiets the SDK's INFO lines). */
  runtimeLogLevel: Config['logLevel'];
}

/** The database calls the thread asks of the host. Arguments and results are structured-clone data. */
export interface HostDatabaseCalls {
  /** Ciphertexts cross as Uint8Array (structured clone does not keep Buffer): the thread makes Buffers again. */
  findSecretValues: SecretRepo['findValues'];
  chargeEmailQuota: EmailQuota['charge'];
}

export type HostCall = {
  [K in keyof HostDatabaseCalls]: {
    type: 'call';
    id: number;
    method: K;
    args: Parameters<HostDatabaseCalls[K]>;
  };
}[keyof HostDatabaseCalls];

/** An error crossing the port: its name, message and stack survive, so the other side can report it as its own. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
}

/**
 * A run start the host asks of the thread: the thread's client shares the worker's connection, so Temporal can hand
 * the run's first workflow task straight back to this worker (eager workflow start, worker-thread.ts).
 */
export interface StartRunRequest {
  type: 'startRun';
  id: number;
  input: RunStepsInput;
  /** Epoch ms, as the Temporal adapter's startRun takes it (its default when absent). */
  deadline?: number;
}

export type StartRunAnswer =
  | { type: 'runStarted'; id: number; ok: true; duplicate: boolean }
  | { type: 'runStarted'; id: number; ok: false; error: SerializedError };

export type ThreadMessage =
  | HostCall
  | StartRunAnswer
  | { type: 'ready'; metrics: WorkerMetricsStatus }
  /** Start-up failed, or the running worker failed: the thread exits after sending it. */
  | { type: 'failed'; error: SerializedError }
  | { type: 'stopped' };

export type HostMessage =
  | { type: 'result'; id: number; ok: true; value: unknown }
  | { type: 'result'; id: number; ok: false; error: SerializedError }
  | StartRunRequest
  | { type: 'stop' };

const UNAVAILABLE_ERROR_NAME = 'UnavailableError';

export function serializeError(error: unknown): SerializedError {
  if (error instanceof UnavailableError) return { name: UNAVAILABLE_ERROR_NAME, message: error.message };
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: 'Error', message: String(error) };
}

export function deserializeError(serialized: SerializedError): Error {
  // The one error class a caller branches on (a start Temporal did not answer is retried, then answered 503).
  if (serialized.name === UNAVAILABLE_ERROR_NAME) return new UnavailableError(serialized.message);
  const error = new Error(serialized.message);
  error.name = serialized.name;
  if (serialized.stack) error.stack = serialized.stack;
  return error;
}
