// The worker thread of npm start (started by worker-thread.ts): the SDK runtime, the Temporal workers and their
// activities, on an event loop the API does not share. Database work is asked of the host thread; the host's run
// starts are made here, on the workers' own connection, so that they can be eager (worker-thread.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { createActivities } from '../activities/index.js';
import { loadConfig } from '../config.js';
import { UnavailableError } from '../errors.js';
import { secretResolverFor } from '../secrets/resolver.js';
import { createTemporalAdapter } from './adapter.js';
import { hookflowClient } from './connection.js';
import { startWorker } from './worker.js';
import {
  deserializeError,
  serializeError,
  type HostDatabaseCalls,
  type HostMessage,
  type StartRunRequest,
  type ThreadMessage,
  type WorkerThreadData,
} from './worker-thread-protocol.js';

if (!parentPort) throw new Error('worker-thread-entry.ts runs as a worker thread (see worker-thread.ts)');
const port = parentPort;
const data = workerData as WorkerThreadData;
const send = (message: ThreadMessage) => port.postMessage(message);

const pending = new Map<number, { resolve: (value: never) => void; reject: (error: Error) => void }>();
let lastCallId = 0;

/** Runs `method` on the host thread, which holds the database. */
function callHost<K extends keyof HostDatabaseCalls>(
  method: K,
  ...args: Parameters<HostDatabaseCalls[K]>
): ReturnType<HostDatabaseCalls[K]> {
  const id = ++lastCallId;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    send({ type: 'call', id, method, args } as ThreadMessage);
  }) as ReturnType<HostDatabaseCalls[K]>;
}

/** Set once the worker polls; the host asks to stop only after it said so (`ready`). */
let stop: (() => Promise<void>) | undefined;
/** Set once the worker polls, unset when it begins to stop. */
let startRun:
  ((input: StartRunRequest['input'], deadline?: number) => Promise<{ duplicate: boolean }>) | undefined;

/** Answers the host's run start; the host sends none before `ready`, and stops its API before the worker. */
function answerStartRun({ id, input, deadline }: StartRunRequest): void {
  const started = startRun
    ? startRun(input, deadline)
    : Promise.reject(new UnavailableError('The worker is stopping: no run can start now. Retry shortly.'));
  started.then(
    ({ duplicate }) => send({ type: 'runStarted', id, ok: true, duplicate }),
    (error: unknown) => send({ type: 'runStarted', id, ok: false, error: serializeError(error) }),
  );
}

port.on('message', (message: HostMessage) => {
  if (message.type === 'stop') {
    startRun = undefined;
    void stop?.();
    return;
  }
  if (message.type === 'startRun') {
    answerStartRun(message);
    return;
  }
  const call = pending.get(message.id);
  if (!call) return;
  pending.delete(message.id);
  if (message.ok) call.resolve(message.value as never);
  else call.reject(deserializeError(message.error));
});

try {
  const config = loadConfig(data.env);
  const activities = createActivities({
    config,
    secrets: secretResolverFor(config, {
      findValues: async (ownerId, names) =>
        (await callHost('findSecretValues', ownerId, names)).map(({ name, ciphertext }) => ({
          name,
          ciphertext: Buffer.from(ciphertext),
        })),
    }),
    emailQuota: {
      limit: config.email.dailyQuota,
      charge: (ownerId, recipients) => callHost('chargeEmailQuota', ownerId, recipients),
    },
  });
  // The SDK runtime's log level is npm start's own (quieter than LOG_LEVEL); nothing else reads it.
  const worker = await startWorker(
    { ...config, logLevel: data.runtimeLogLevel },
    data.temporalAddress,
    activities,
  );
  stop = () => worker.stop();
  // The workers' own connection: Temporal hands a run started through it its first workflow task in the start's
  // answer, which this worker runs at once, instead of through the server's transfer queue and matching.
  const runs = createTemporalAdapter({
    client: hookflowClient(worker.connection, config.temporal),
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    eagerStart: true,
  });
  startRun = (input, deadline) => runs.startRun(input, deadline);
  send({ type: 'ready', metrics: worker.metrics });
  worker.running.then(
    () => {
      send({ type: 'stopped' });
      port.close();
    },
    (error: unknown) => {
      send({ type: 'failed', error: serializeError(error) });
      port.close();
    },
  );
} catch (error) {
  send({ type: 'failed', error: serializeError(error) });
  port.close();
}
