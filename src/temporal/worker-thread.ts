// npm start's worker on an event loop of its own. One Node process holds the API, the worker and PGlite (whose files
// admit one opener); with the worker on the API's event loop, a webhook could wait behind the worker's activities and
// payload encryption. The worker now runs in a worker thread; its two needs of the database, an account's stored
// secrets and the email quota, are asked of this thread, which holds the database, over the thread's message port.
// Measured (bench/RESULTS.md, 4 runs beside 2 without it): the webhook's tail at one caller is shorter; the drain
// under a webhook flood is not faster on 2 cores, which this process and the dev server already fill.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { emailQuotaFor } from '../activities/index.js';
import type { Config } from '../config.js';
import type { DbHandle } from '../db/client.js';
import { createSecretRepo } from '../db/repos/secret-repo.js';
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

  thread.on('message', (message: ThreadMessage) => {
    switch (message.type) {
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
