import type { Client, WorkflowStartOptions } from '@temporalio/client';
import { spawnBenchChild, stopChild, waitForOutput } from './children.js';
import { startCpuAccount, type CpuAccount } from './cpu.js';
import { closedLoop, type LoadResult } from './load.js';
import type { MemorySampler } from './memory.js';
import { BENCH_LIMITS } from './stack.js';

/*
 * The Temporal ceilings, the same on every server the bench measures (a dev server per phase, the native
 * temporal-server on PostgreSQL): what Temporal itself accepts with no HTTP and no database of Hookflow's.
 */

/** A bare StartWorkflow onto a task queue nobody polls. */
export async function startParked(client: Client, id: string): Promise<void> {
  await client.workflow.start('benchOneActivity', {
    taskQueue: 'bench-parked',
    workflowId: `raw-start-${id}`,
  });
}

export interface CeilingTiming {
  durationS: number;
  warmupS: number;
}

/** StartWorkflow onto an unpolled task queue by `concurrency` callers: the raw start ceiling. */
export async function measureRawStart(
  options: CeilingTiming & {
    client: Client;
    concurrency: number;
    temporalPid: number | undefined;
    /** Unique per run and server, so workflow ids never collide. */
    idPrefix: string;
    /** The start to measure (default: a bare one). */
    start?: (client: Client, id: string) => Promise<void>;
    /** More processes whose CPU is accounted (e.g. PostgreSQL's backends). */
    extraCpu?: () => Record<string, number | readonly number[] | undefined>;
  },
): Promise<LoadResult> {
  const start = options.start ?? startParked;
  let cpu: CpuAccount | undefined;
  const result = await closedLoop({
    concurrency: options.concurrency,
    durationMs: options.durationS * 1000,
    warmupMs: options.warmupS * 1000,
    maxOps: 200_000,
    onMeasureStart: () => (cpu = startCpuAccount({ temporal: options.temporalPid, ...options.extraCpu?.() })),
    op: (seq) => start(options.client, `${options.idPrefix}-${seq}`),
  });
  return { ...result, cpuCores: cpu?.stop() };
}

/**
 * The one-activity ceiling: a bare worker (bench/ceiling/worker.ts, Hookflow's worker options) runs a workflow whose
 * only activity reports over IPC that it ran. Timed from the start call to that moment, the moment the end-to-end
 * phase times for Hookflow (the email reaching the fake); waiting for the workflow's result instead would add a long
 * poll per run. Keyed `c<concurrency>` like the end-to-end results it is compared with.
 */
export async function measureOneActivity(
  options: OneActivityCeilingOptions & { levels: readonly { concurrency: number; durationS: number }[] },
): Promise<Record<string, LoadResult>> {
  const ceiling = await startOneActivityCeiling(options);
  try {
    const results: Record<string, LoadResult> = {};
    for (const { concurrency, durationS } of options.levels)
      results[`c${concurrency}`] = await ceiling.measure(concurrency, durationS);
    if (options.memory) options.memory.sampler.markAfter(options.memory.label);
    return results;
  } finally {
    await ceiling.stop();
  }
}

/** A run other than the bare one: another workflow of bench/ceiling/workflows.ts, more on its start. */
export interface CeilingRunShape {
  workflowType?: string;
  startOptions?: Omit<WorkflowStartOptions, 'taskQueue' | 'workflowId'>;
}

export interface OneActivityCeilingOptions {
  client: Client;
  address: string;
  temporalPid: number | undefined;
  taskQueue: string;
  workflowBundle: string;
  warmupS: number;
  /** Environment for the ceiling worker on top of its own (e.g. NODE_OPTIONS). */
  extraEnv: Record<string, string>;
  /** Tracks the ceiling worker's RSS under `label` from the moment it polls until it stops. */
  memory?: { sampler: MemorySampler; label: string };
  /** Registers the worker's stop with the run's cleanups (deadline, Ctrl-C). */
  onCleanup: (stop: () => Promise<unknown>) => void;
  extraCpu?: () => Record<string, number | readonly number[] | undefined>;
  /** A local activity (benchOneLocalActivity) instead of a normal one. */
  local?: boolean;
}

/**
 * The ceiling worker, started and polling, measured on demand: for rounds that alternate with another phase on the
 * same server (the worker idles in a long poll between them). Workflow ids carry a counter across rounds.
 */
export async function startOneActivityCeiling(options: OneActivityCeilingOptions) {
  const workflowType = options.local ? 'benchOneLocalActivity' : 'benchOneActivity';
  const ceilingWorker = spawnBenchChild(
    'bench/ceiling/worker.ts',
    {
      BENCH_TEMPORAL_ADDRESS: options.address,
      BENCH_TASK_QUEUE: options.taskQueue,
      BENCH_WORKFLOW_BUNDLE: options.workflowBundle,
      BENCH_ACTIVITIES_PER_SECOND: BENCH_LIMITS.EMAIL_MAX_PER_SECOND,
      ...options.extraEnv,
    },
    'ceiling-worker',
    { ipc: true },
  );
  options.onCleanup(() => stopChild(ceilingWorker));
  const ran = new Map<string, () => void>();
  ceilingWorker.child.on('message', (workflowId) => {
    if (typeof workflowId !== 'string') return;
    ran.get(workflowId)?.();
    ran.delete(workflowId);
  });
  try {
    await waitForOutput(ceilingWorker, /ceiling worker polling/);
  } catch (error) {
    await stopChild(ceilingWorker);
    throw error;
  }
  options.memory?.sampler.track(options.memory.label, ceilingWorker.child.pid);
  let round = 0;
  return {
    /**
     * `concurrency` callers for `durationS` (after the options' warm-up), each starting a run and awaiting its
     * activity; `shape` changes the run started (bench/run-cost.ts), the bare one-activity run by default.
     */
    async measure(concurrency: number, durationS: number, shape: CeilingRunShape = {}): Promise<LoadResult> {
      round += 1;
      const runType = shape.workflowType ?? workflowType;
      let cpu: CpuAccount | undefined;
      const result = await closedLoop({
        concurrency,
        durationMs: durationS * 1000,
        warmupMs: options.warmupS * 1000,
        maxOps: 100_000,
        onMeasureStart: () =>
          (cpu = startCpuAccount({
            temporal: options.temporalPid,
            worker: ceilingWorker.child.pid,
            ...options.extraCpu?.(),
          })),
        op: async (seq) => {
          const workflowId = `${runType}-${options.taskQueue}-c${concurrency}-r${round}-${seq}`;
          const activityRan = new Promise<void>((resolve, reject) => {
            const timeout = setTimeout(() => {
              ran.delete(workflowId);
              reject(new Error(`activity of ${workflowId} did not run within 30 s`));
            }, 30_000);
            ran.set(workflowId, () => {
              clearTimeout(timeout);
              resolve();
            });
          });
          await options.client.workflow.start(runType, {
            ...shape.startOptions,
            taskQueue: options.taskQueue,
            workflowId,
          });
          await activityRan;
        },
      });
      return { ...result, cpuCores: cpu?.stop() };
    },
    stop: () => stopChild(ceilingWorker),
  };
}
