// The worker thread of npm start (started by worker-thread.ts): the SDK runtime, the Temporal workers and their
// activities, on an event loop the API does not share. Database work is asked of the host thread.
import { parentPort, workerData } from 'node:worker_threads';
import { createActivities } from '../activities/index.js';
import { loadConfig } from '../config.js';
import { secretResolverFor } from '../secrets/resolver.js';
import { startWorker } from './worker.js';
import {
  deserializeError,
  serializeError,
  type HostDatabaseCalls,
  type HostMessage,
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

port.on('message', (message: HostMessage) => {
  if (message.type === 'stop') {
    void stop?.();
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
