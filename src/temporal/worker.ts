import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Config } from '../config.js';
import type { Activities } from '../activities/index.js';

/** Source of the workflow code: .ts when run with tsx or tests, .js in the compiled dist/ tree. */
export function workflowsPath(): string {
  const ts = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
  return existsSync(ts) ? ts : fileURLToPath(new URL('../workflows/index.js', import.meta.url));
}

export interface HookflowWorkerOptions {
  connection: NativeConnection;
  temporal: Pick<Config['temporal'], 'namespace' | 'taskQueue' | 'workflowBundlePath'>;
  email: Pick<Config['email'], 'maxPerSecond'>;
  activities: Activities;
  shutdownGraceMs?: number;
  /** Extra worker options (tests tune identity or pollers). */
  overrides?: Partial<WorkerOptions>;
}

/**
 * The worker runs the interpreter workflow and the activities. The only activities on this task queue send
 * email, so the task-queue-wide activity rate is the provider's rate limit, enforced across all workers.
 */
export async function createHookflowWorker(options: HookflowWorkerOptions): Promise<Worker> {
  const { temporal } = options;
  return Worker.create({
    connection: options.connection,
    namespace: temporal.namespace,
    taskQueue: temporal.taskQueue,
    activities: options.activities,
    // A bundle built ahead of time (Dockerfile) skips webpack at start-up; otherwise bundle from source.
    ...(temporal.workflowBundlePath
      ? { workflowBundle: { codePath: temporal.workflowBundlePath } }
      : { workflowsPath: workflowsPath() }),
    maxTaskQueueActivitiesPerSecond: options.email.maxPerSecond,
    shutdownGraceTime: options.shutdownGraceMs ?? 10_000,
    ...options.overrides,
  });
}

export async function connectWorker(address: string): Promise<NativeConnection> {
  return NativeConnection.connect({ address });
}

/**
 * Connects and starts a worker; resolves once it polls. `stop()` lets in-flight activities finish within the
 * shutdown grace time, then closes the connection.
 */
export async function startWorker(
  config: Pick<Config, 'temporal' | 'email' | 'http' | 'logLevel'>,
  temporalAddress: string,
  activities: Activities,
) {
  installWorkerLogging(config.logLevel);
  const connection = await connectWorker(temporalAddress);
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
      async stop() {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
      },
    };
  } catch (error) {
    await connection.close();
    throw error;
  }
}

const runtimeLogLevels = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
} as const;

/**
 * The Temporal SDK logs through one process-wide Runtime, which can be installed only once and before the first
 * worker: align it with LOG_LEVEL so workers are as quiet as the rest of the service.
 */
export function installWorkerLogging(logLevel: Config['logLevel']): void {
  const level = logLevel === 'fatal' || logLevel === 'silent' ? 'ERROR' : runtimeLogLevels[logLevel];
  try {
    Runtime.install({ logger: new DefaultLogger(level) });
  } catch {
    // Already installed in this process (tests create several workers): the first installation stands.
  }
}
