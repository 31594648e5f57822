// `npx tsx bench/eager-start.ts [--rounds 3] [--concurrency 16,1] [--dynamic-config '{"key": value}']`
//
// Eager workflow start measured against a normal start (issue 12). With `requestEagerStart`, Temporal answers the
// StartWorkflow call with the run's first workflow task when the caller's own process has a worker polling that task
// queue, so the task skips the history service's transfer queue and the matching service. The SDK allows it only when
// the client and the worker share one NativeConnection, i.e. one process and one thread: in npm start the API's
// client is on the main thread and the worker on a worker thread, so adopting it would mean sending the API's starts
// through the worker thread. This script measures what that would buy before anyone builds it: one process, one
// NativeConnection, a bare worker with Hookflow's worker options running the ceiling's one-activity workflow, on a dev
// server started as npm start starts it (its SQLite settings and dynamic config), alternating rounds of normal and
// eager starts by closed-loop callers. Each round prints one JSON line: runs/s (start call to the activity running,
// as the ceiling times it), the start call's p50, the share of starts that were eager, and CPU per run of this
// process and of the dev server. `--dynamic-config` adds dev-server settings (e.g. the transfer queue's read rate).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from '@temporalio/client';
import type { Activities } from '../src/activities/index.js';
import { findTemporalCli, findFreePort, startDevServer } from '../src/temporal/dev-server.js';
import { connectWorker, createHookflowWorker, installWorkerLogging } from '../src/temporal/worker.js';
import { writeWorkflowBundle } from '../src/temporal/workflow-bundle.js';
import { createCeilingActivities } from './ceiling/activities.js';
import { startCpuAccount, type CpuAccount } from './lib/cpu.js';
import { closedLoop, summarizeLatencies } from './lib/load.js';
import { BENCH_LIMITS } from './lib/stack.js';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '16,1' },
    'dynamic-config': { type: 'string', default: '{}' },
  },
});
const levels = flags.concurrency.split(',').map(Number);
const dynamicConfig = JSON.parse(flags['dynamic-config']) as Record<string, string | number | boolean>;
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

installWorkerLogging('warn');
const dir = mkdtempSync(join(tmpdir(), 'hookflow-eager-start-'));
const bundle = await writeWorkflowBundle(
  join(dir, 'workflows.js'),
  join(repoRoot, 'bench/ceiling/workflows.ts'),
);
const server = await startDevServer({
  cliPath: await findTemporalCli({ cliPath: process.env.TEMPORAL_CLI_PATH || undefined }),
  port: await findFreePort(),
  uiPort: 0,
  dbFile: join(dir, 'temporal.db'),
  sqliteSynchronous: 'normal',
  dynamicConfig,
});
const connection = await connectWorker(server.address);
const client = new Client({ connection, namespace: 'default' });
const activityRan = new Map<string, () => void>();
const worker = await createHookflowWorker({
  connection,
  temporal: { namespace: 'default', taskQueue: 'bench-eager-start', workflowBundlePath: bundle },
  // The bench's provider rate limit (none: the sends are eager activities, as for Hookflow's worker in the bench).
  email: { maxPerSecond: Number(BENCH_LIMITS.EMAIL_MAX_PER_SECOND) },
  // Only the activity's shape differs from Hookflow's, as in the ceiling (bench/ceiling/worker.ts).
  activities: createCeilingActivities((workflowId) => {
    activityRan.get(workflowId)?.();
    activityRan.delete(workflowId);
  }) as unknown as Activities,
  shutdownGraceMs: 1000,
});
const running = worker.run();

let sequence = 0;
async function round(eager: boolean, concurrency: number): Promise<void> {
  const durationS = concurrency === 1 ? 8 : 12;
  const startLatencies: number[] = [];
  let eagerStarts = 0;
  let cpu: CpuAccount | undefined;
  const result = await closedLoop({
    concurrency,
    durationMs: durationS * 1000,
    warmupMs: 2000,
    maxOps: 100_000,
    onMeasureStart: () => (cpu = startCpuAccount({ temporal: server.pid })),
    op: async (_seq, measured) => {
      const workflowId = `eager-start-${sequence++}`;
      const ran = new Promise<void>((resolve) => activityRan.set(workflowId, resolve));
      const startedAt = performance.now();
      const handle = await client.workflow.start('benchOneActivity', {
        taskQueue: 'bench-eager-start',
        workflowId,
        requestEagerStart: eager,
      });
      if (measured) {
        startLatencies.push(performance.now() - startedAt);
        if (handle.eagerlyStarted) eagerStarts++;
      }
      await ran;
    },
  });
  // In cores over the measured part; `bench` is this process: the client and the worker.
  const cores = cpu?.stop() ?? {};
  const perRun = (coresUsed = 0) =>
    Math.round(((coresUsed * result.durationS * 1000) / Math.max(1, result.ok)) * 10) / 10;
  console.log(
    JSON.stringify({
      eager,
      concurrency,
      runsPerSecond: result.perSecond,
      runLatencyP50Ms: result.latencyMs.p50,
      startCallP50Ms: summarizeLatencies(startLatencies).p50,
      eagerShare: Math.round((eagerStarts / Math.max(1, startLatencies.length)) * 100) / 100,
      cpuMsPerRun: {
        node: perRun(cores.bench),
        temporal: perRun(cores.temporal),
      },
    }),
  );
}

try {
  for (let i = 0; i < Number(flags.rounds); i++) {
    // Alternating which goes first, so neither always meets the machine in the same state.
    for (const eager of i % 2 ? [true, false] : [false, true]) {
      for (const concurrency of levels) await round(eager, concurrency);
    }
  }
} finally {
  worker.shutdown();
  await running;
  await connection.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
