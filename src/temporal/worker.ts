import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  DefaultLogger,
  IllegalStateError,
  NativeConnection,
  Runtime,
  Worker,
  type LogLevel,
  type LogMetadata,
  type State,
  type WorkerOptions,
} from '@temporalio/worker';
import type { Config } from '../config.js';
import type { Activities } from '../activities/index.js';
import {
  prometheusExporter,
  stepAttemptsInterceptor,
  workerMetricsAddress,
} from '../metrics/worker-metrics.js';
import { ACTIVITY_NAMES, httpTaskQueue } from '../workflows/names.js';
import { hookflowDataConverter } from './connection.js';

/** Source of the workflow code: .ts when run with tsx or tests, .js in the compiled dist/ tree. */
export function workflowsPath(): string {
  const ts = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
  return existsSync(ts) ? ts : fileURLToPath(new URL('../workflows/index.js', import.meta.url));
}

export interface HookflowWorkerOptions {
  connection: NativeConnection;
  temporal: Pick<Config['temporal'], 'namespace' | 'taskQueue' | 'workflowBundlePath'> &
    Partial<Pick<Config['temporal'], 'payloadKeys'>>;
  email: Pick<Config['email'], 'maxPerSecond'>;
  activities: Activities;
  shutdownGraceMs?: number;
  /** Extra options of the main worker (tests tune identity or pollers). */
  overrides?: Partial<WorkerOptions>;
}

/** The Temporal workers of one Hookflow worker process, run and stopped together. */
export interface HookflowWorker {
  /** Resolves once every worker stopped; rejects (after stopping the others) when one fails. */
  run(): Promise<void>;
  /** Runs until `promise` settles, then shuts down and waits for the workers to stop. */
  runUntil<T>(promise: Promise<T>): Promise<T>;
  /** Starts a graceful shutdown: no new tasks, in-flight activities get the shutdown grace time. */
  shutdown(): void;
  /** The main worker's state. */
  getState(): State;
}

/**
 * The worker of the main task queue runs the interpreter workflow and the email activity: the only activity on that
 * queue, so the queue-wide activity rate is the provider's rate limit, enforced across all workers. Http requests
 * have a queue of their own (httpTaskQueue), served by a second worker on the same connection, so they never wait
 * behind that limit.
 *
 * With the limit off (EMAIL_MAX_PER_SECOND=0) the worker takes its email activities eagerly where the server allows
 * it (`system.enableActivityEagerExecution`, on in npm start's dev server and the shipped dynamic config): the
 * workflow task that schedules a send gets the activity back in its answer, with no wait for the history service's
 * transfer queue or for matching (~30 ms per send on npm start's dev server, bench/RESULTS.md). The SDK never asks
 * for that while a task-queue rate limit is set (sdk-core turns eager activities off when one is).
 */
export async function createHookflowWorker(options: HookflowWorkerOptions): Promise<HookflowWorker> {
  const { temporal } = options;
  const { [ACTIVITY_NAMES.httpRequest]: httpRequest, ...mainActivities } = options.activities;
  const shutdownGraceTime = options.shutdownGraceMs ?? 10_000;
  // The same converter as the API's client: payloads encrypted when PAYLOAD_ENCRYPTION_KEYS is set.
  const dataConverter = hookflowDataConverter(temporal.payloadKeys);
  const main = await Worker.create({
    dataConverter,
    connection: options.connection,
    namespace: temporal.namespace,
    taskQueue: temporal.taskQueue,
    activities: mainActivities,
    // A bundle built ahead of time (Dockerfile) skips webpack at start-up; otherwise bundle from source.
    ...(temporal.workflowBundlePath
      ? { workflowBundle: { codePath: temporal.workflowBundlePath } }
      : { workflowsPath: workflowsPath() }),
    ...(options.email.maxPerSecond > 0 && { maxTaskQueueActivitiesPerSecond: options.email.maxPerSecond }),
    shutdownGraceTime,
    interceptors: { activity: [stepAttemptsInterceptor] },
    ...options.overrides,
  });
  const workers = [main];
  // The bench's ceiling worker brings activities of its own and no http activity.
  if (httpRequest) {
    workers.push(
      await Worker.create({
        connection: options.connection,
        dataConverter,
        namespace: temporal.namespace,
        taskQueue: httpTaskQueue(temporal.taskQueue),
        activities: { [ACTIVITY_NAMES.httpRequest]: httpRequest },
        shutdownGraceTime,
        interceptors: { activity: [stepAttemptsInterceptor] },
      }),
    );
  }
  return combineWorkers(workers);
}

function combineWorkers(workers: Worker[]): HookflowWorker {
  const shutdown = () => {
    for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  const run = async () => {
    const runs = workers.map((worker) => worker.run());
    try {
      await Promise.all(runs);
    } catch (error) {
      shutdown();
      await Promise.allSettled(runs);
      throw error;
    }
  };
  return {
    run,
    shutdown,
    getState: () => workers[0]?.getState() ?? 'STOPPED',
    async runUntil<T>(promise: Promise<T>): Promise<T> {
      const running = run();
      try {
        return await Promise.race([
          promise,
          running.then(() => {
            throw new Error('the worker stopped before the awaited work finished');
          }),
        ]);
      } finally {
        shutdown();
        await running.catch(() => undefined);
      }
    },
  };
}

export async function connectWorker(
  address: string,
  options: Partial<Config['temporal']['connection']> = {},
): Promise<NativeConnection> {
  return NativeConnection.connect({ address, tls: options.tls, apiKey: options.apiKey });
}

/**
 * Connects and starts a worker; resolves once it polls. `stop()` lets in-flight activities finish within the
 * shutdown grace time, then closes the connection.
 */
export async function startWorker(
  config: Pick<Config, 'temporal' | 'email' | 'http' | 'logLevel' | 'metrics'>,
  temporalAddress: string,
  activities: Activities,
) {
  const metrics = installWorkerRuntime({ logLevel: config.logLevel, metrics: config.metrics });
  const connection = await connectWorker(temporalAddress, config.temporal.connection);
  try {
    const worker = await createHookflowWorker({
      connection,
      temporal: config.temporal,
      email: config.email,
      activities,
      shutdownGraceMs: config.http.shutdownGraceMs,
    });
    const running = worker.run().finally(() => connection.close());
    return {
      worker,
      running,
      /** The workers' connection: a client on it can start runs eagerly onto them (worker-thread-entry.ts). */
      connection,
      /** Whether this process serves its metrics, and where (or why not). */
      metrics,
      async stop() {
        worker.shutdown();
        await running;
      },
    };
  } catch (error) {
    await connection.close();
    throw error;
  }
}

/** The SDK's default logger, less the warnings that Hookflow's worker layout makes expected. */
class WorkerLogger extends DefaultLogger {
  /** The http worker serves activities only, on purpose: that it polls no workflow tasks is no news. */
  static readonly expected = new Set(['No workflows registered, not polling for workflow tasks']);

  override log(level: LogLevel, message: string, meta?: LogMetadata): void {
    if (WorkerLogger.expected.has(message)) return;
    super.log(level, message, meta);
  }
}

const runtimeLogLevels = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
} as const;

/** Where a worker process serves its metrics (http://address/metrics), or why it does not. */
export type WorkerMetricsStatus =
  | { state: 'serving'; url: string }
  | { state: 'disabled' }
  /** The port could not be bound (another worker on this host has it, say): the worker runs without metrics. */
  | { state: 'unavailable'; address: string; reason: string };

let installed: WorkerMetricsStatus | undefined;

/**
 * The Temporal SDK logs and exports metrics through one process-wide Runtime, which can be installed only once and
 * before the first worker: align its logger with LOG_LEVEL so workers are as quiet as the rest of the service, and
 * start its Prometheus exporter when `metrics` says so. Later calls return what the first one did.
 *
 * A metrics port that cannot be bound does not stop the worker: running workflows matters more than observing
 * them, and several workers started on one host with the default port would otherwise all but one crash-loop. The
 * caller reports it loudly instead.
 */
export function installWorkerRuntime(options: {
  logLevel: Config['logLevel'];
  metrics?: Pick<Config['metrics'], 'enabled' | 'worker'>;
}): WorkerMetricsStatus {
  if (installed) return installed;
  const { logLevel, metrics } = options;
  const level = logLevel === 'fatal' || logLevel === 'silent' ? 'ERROR' : runtimeLogLevels[logLevel];
  const install = (telemetry: boolean) =>
    Runtime.install({
      logger: new WorkerLogger(level),
      ...(telemetry && metrics && { telemetryOptions: { metrics: prometheusExporter(metrics) } }),
    });
  if (!metrics?.enabled) {
    installed = { state: 'disabled' };
    installOnce(() => install(false));
    return installed;
  }
  const address = workerMetricsAddress(metrics);
  try {
    installOnce(() => install(true));
    installed = { state: 'serving', url: `http://${address}/metrics` };
  } catch (error) {
    // A failed install leaves no Runtime behind: install the logger alone.
    installOnce(() => install(false));
    installed = { state: 'unavailable', address, reason: (error as Error).message };
  }
  return installed;
}

/** Runs `install` unless a Runtime is already installed (tests create several workers in one process). */
function installOnce(install: () => unknown): void {
  try {
    install();
  } catch (error) {
    if (error instanceof IllegalStateError) return;
    throw error;
  }
}

/** The Runtime with a logger at `logLevel` and no metrics exporter (tests, the replay recorder, the bench). */
export function installWorkerLogging(logLevel: Config['logLevel']): void {
  installWorkerRuntime({ logLevel });
}
