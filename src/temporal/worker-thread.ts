// npm start's worker on an event loop of its own. One Node process holds the API, the worker and PGlite (whose files
// admit one opener); with the worker on the API's event loop, a webhook could wait behind the worker's activities and
// payload encryption. The worker now runs in a worker thread; its two needs of the database, an account's stored
// secrets and the email quota, are asked of this thread, which holds the database, over the thread's message port.
// Measured (bench/RESULTS.md, 4 runs beside 2 without it): the webhook's tail at one caller is shorter; the drain
// under a webhook flood is not faster on 2 cores, which this process and the dev server already fill.
//
// The API's run starts are made in the thread too, on the workers' own NativeConnection, with eager workflow start:
// Temporal answers the start with the run's first workflow task and this worker runs it at once, where a start from
// the API's own connection leaves that task to the server's transfer queue and matching service (each hand-over
// waited ~35-40 ms on an idle dev server, whose transfer queue is read at most 20 times a second). The SDK allows it
// only for a client on the worker's connection, which cannot leave the thread. If npm start dies between the answer
// and the task's completion, nothing is lost: Temporal gives the task to a worker again after the workflow task
// timeout (10 s). Measured (bench/RESULTS.md, "Eager workflow start", 4 runs beside 7 without): the emails of
// accepted runs keep flowing while webhooks pour in (the drain goal met in 4 of 4 runs, 1 of 7 before) and an idle
// run's first task starts ~40 ms sooner; the price is a slower answer to webhooks under a flood (each start now
// carries its first task's work: 26-31 webhooks/s at 16 callers against 36-52).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { emailQuotaFor } from '../activities/index.js';
import type { Config } from '../config.js';
import type { DbHandle } from '../db/client.js';
import { createSecretRepo } from '../db/repos/secret-repo.js';
import { UnavailableError } from '../errors.js';
import type { RunStepsInput } from '../workflows/types.js';
import type { WorkerMetricsStatus } from './worker.js';
import {
  deserializeError,
  serializeError,
  type HostCall,
  type HostDatabaseCalls,
  type HostMessage,
  type ThreadMessage,
  type WorkerThreadData,
} from './worker-thread-protocol.js';

export interface WorkerThread {
  /** Whether the worker serves its metrics, and where (or why not). */
  metrics: WorkerMetricsStatus;
  /** Rejects when the worker fails while running; resolves once it stopped after stop(). */
  done: Promise<void>;
  /**
   * Starts a run through the worker's own connection, as the Temporal adapter's startRun does (same answer, same
   * errors), but eagerly: Temporal answers with the run's first workflow task, which this worker runs at once
   * instead of Temporal queueing it for a poll (see the top of this file).
   */
  startRun(input: RunStepsInput, deadline?: number): Promise<{ duplicate: boolean }>;
  /** Graceful: in-flight activities get the shutdown grace time; the database must stay open until this resolves. */
  stop(): Promise<void>;
}

/** How long a stopped thread may take to exit on its own before it is terminated. */
const EXIT_WAIT_MS = 2_000;

/** The thread's module: .ts under tsx (npm start), .js in the compiled dist/ tree. */
function entryPath(): string {
  const ts = fileURLToPath(new URL('./worker-thread-entry.ts', import.meta.url));
  return existsSync(ts) ? ts : fileURLToPath(new URL('./worker-thread-entry.js', import.meta.url));
}

/**
 * The thread loads TypeScript through tsx like the host: inherited (undefined: the parent's options) when the host
 * runs with it (`node --import tsx`), given otherwise (vitest runs the tests' host without it). Never the parent's
 * list itself: a worker refuses V8 flags such as --max-old-space-size, which apply to the whole process anyway.
 */
export function workerExecArgv(entry: string, parentExecArgv: readonly string[]): string[] | undefined {
  const needsTsx = entry.endsWith('.ts') && !parentExecArgv.some((arg) => arg.includes('tsx'));
  return needsTsx ? ['--import', 'tsx'] : undefined;
}

/**
 * Starts the worker in a worker thread; resolves once it polls, rejects with the thread's own error (a ConfigError,
 * an unreachable Temporal server) when it cannot start. `db` answers the thread's secret and quota lookups.
 */
export async function startWorkerThread(options: {
  data: WorkerThreadData;
  config: Pick<Config, 'email'>;
  db: DbHandle;
}): Promise<WorkerThread> {
  const secrets = createSecretRepo(options.db.db);
  const quota = emailQuotaFor(options.config, options.db.db);
  const perform = (call: HostCall): ReturnType<HostDatabaseCalls[HostCall['method']]> => {
    switch (call.method) {
      case 'findSecretValues':
        return secrets.findValues(...call.args);
      case 'chargeEmailQuota':
        return quota.charge(...call.args);
    }
  };

  const entry = entryPath();
  const thread = new Worker(entry, {
    workerData: options.data satisfies WorkerThreadData,
    execArgv: workerExecArgv(entry, process.execArgv),
  });

  const answer = (message: HostMessage) => thread.postMessage(message);
  let settleStart: { resolve: (metrics: WorkerMetricsStatus) => void; reject: (error: Error) => void };
  const started = new Promise<WorkerMetricsStatus>((resolve, reject) => (settleStart = { resolve, reject }));
  let settleDone: { resolve: () => void; reject: (error: Error) => void };
  const done = new Promise<void>((resolve, reject) => (settleDone = { resolve, reject }));
  // Whoever awaits done (npm start) sees the failure; before start, started carries it instead.
  done.catch(() => undefined);
  let ready = false;
  let stopping = false;
  const fail = (error: Error) => (ready ? settleDone.reject(error) : settleStart.reject(error));

  const startsInFlight = new Map<
    number,
    { resolve: (duplicate: boolean) => void; reject: (e: Error) => void }
  >();
  let lastStartId = 0;
  /** Once the thread is gone no start can be answered: those in flight fail as Temporal not answering would. */
  let gone: string | undefined;
  const failStartsInFlight = (reason: string) => {
    gone = reason;
    for (const start of startsInFlight.values()) start.reject(new UnavailableError(reason));
    startsInFlight.clear();
  };

  thread.on('message', (message: ThreadMessage) => {
    switch (message.type) {
      case 'runStarted': {
        const start = startsInFlight.get(message.id);
        startsInFlight.delete(message.id);
        if (message.ok) start?.resolve(message.duplicate);
        else start?.reject(deserializeError(message.error));
        return;
      }
      case 'call': {
        perform(message).then(
          (value) => answer({ type: 'result', id: message.id, ok: true, value }),
          (error: unknown) =>
            answer({ type: 'result', id: message.id, ok: false, error: serializeError(error) }),
        );
        return;
      }
      case 'ready':
        ready = true;
        settleStart.resolve(message.metrics);
        return;
      case 'failed':
        fail(deserializeError(message.error));
        return;
      case 'stopped':
        settleDone.resolve();
        return;
    }
  });
  thread.on('error', (error: Error) => fail(error));
  const exited = new Promise<void>((resolve) =>
    thread.once('exit', (code) => {
      failStartsInFlight('The worker stopped before Temporal answered the start. Retry shortly.');
      if (stopping) settleDone.resolve();
      else fail(new Error(`the worker thread exited unexpectedly (code ${code})`));
      resolve();
    }),
  );

  const metrics = await started.catch(async (error: unknown) => {
    await thread.terminate();
    throw error;
  });

  return {
    metrics,
    done,
    startRun(input, deadline) {
      if (gone) return Promise.reject(new UnavailableError(gone));
      const id = ++lastStartId;
      return new Promise((resolve, reject) => {
        startsInFlight.set(id, { resolve: (duplicate) => resolve({ duplicate }), reject });
        answer({ type: 'startRun', id, input, deadline });
      });
    },
    async stop() {
      stopping = true;
      answer({ type: 'stop' });
      await done.catch(() => undefined);
      // The SDK's native runtime may keep the thread's loop alive after its workers stopped.
      const timer = setTimeout(() => void thread.terminate(), EXIT_WAIT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
