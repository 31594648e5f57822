// `npx tsx bench/run-cost.ts [--rounds 3] [--duration 8] [--concurrency 64] [--shapes a,b] [--out results.json]`
//
// What each part of a Hookflow run costs the Temporal server on the native topology (issue 12: there Hookflow's runs
// cost temporal-server and its PostgreSQL about a quarter more per run than the one-activity ceiling's). One
// temporal-server cluster of this run's (as bench/native.ts starts it), one ceiling worker, and rounds that alternate
// the one-activity run in several shapes: bare, then with one of the things a Hookflow run adds, then with all of
// them. Each shape's runs/s and the server's and PostgreSQL's CPU per run, medians over the rounds and as ratios to
// the bare shape of the same round. Prints one JSON document on stdout, a summary on stderr.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { writeWorkflowBundle } from '../src/temporal/workflow-bundle.js';
import { HOOKFLOW_OWNER_ID, HOOKFLOW_WORKFLOW_ID } from '../src/temporal/search-attributes.js';
import type { CarriedSizes } from './ceiling/workflows.js';
import { startOneActivityCeiling, type CeilingRunShape } from './lib/ceilings.js';
import { round } from './lib/load.js';
import { once, startNativeTemporal, STACK_DEFAULT_HISTORY_SHARDS } from './lib/native.js';
import { cpuPerRunMs, median } from './lib/paired.js';
import { benchCleanups, benchFailed, benchLog as log, emitReport } from './lib/script.js';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '64' },
    /** Comma-separated shape names to measure (bare is always measured: every ratio is to it); all by default. */
    shapes: { type: 'string' },
    out: { type: 'string' },
  },
});
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/*
 * The payload bytes a Hookflow run of the bench's welcome-email workflow carries, read off such a run's history on
 * npm start (encrypted, as the bench runs it): the run's input (definition snapshot and webhook delivery), its memo,
 * the send's input (the rendered email) and result, the run's result (every step's state).
 */
const HOOKFLOW_SIZES = {
  runInput: 665,
  memo: 254,
  carried: { activityInput: 263, activityResult: 178, workflowResult: 379 } satisfies CarriedSizes,
};

const pad = (bytes: number) => 'p'.repeat(bytes);
const searchAttributes = {
  typedSearchAttributes: [
    { key: HOOKFLOW_WORKFLOW_ID, value: 'wf_bench' },
    { key: HOOKFLOW_OWNER_ID, value: 'usr_bench' },
  ],
};
const startDetails = {
  memo: { hookflow: pad(HOOKFLOW_SIZES.memo) },
  staticSummary: 'welcome (webhook)',
  priority: { fairnessKey: 'usr_bench' },
};
const carrying: CeilingRunShape = {
  workflowType: 'benchCarryingOneActivity',
  startOptions: { args: [pad(HOOKFLOW_SIZES.runInput), HOOKFLOW_SIZES.carried] },
};

/** The shapes: the bare run, plus each thing a Hookflow run adds, and all of them together as each type has them. */
const SHAPES: Record<string, CeilingRunShape> = {
  bare: {},
  /** Two patched() calls (the email step's): two markers and two TemporalChangeVersion upserts. */
  patches: { workflowType: 'benchPatchedOneActivity' },
  /** The two Keyword search attributes every run carries (DESIGN §5), written to SQL visibility. */
  searchAttributes: { startOptions: searchAttributes },
  /** Memo, summary and fairness key on the start. */
  startDetails: { startOptions: startDetails },
  /** Payloads of a Hookflow run's sizes: its input, the send's input and result, its result. */
  payloads: carrying,
  /** The email send's timeouts: heartbeat 5 s and schedule-to-close 23 h beside start-to-close 30 s. */
  sendTimeouts: { workflowType: 'benchOneActivityWithSendTimeouts' },
  /** The bare run with start-to-close 5 s: its timer fires within the round, as a 5 s heartbeat timeout's does. */
  shortStartToClose: { workflowType: 'benchOneActivityWithShortStartToClose' },
  /** The heartbeat timeout (5 s) alone beside start-to-close. */
  heartbeatTimeout: { workflowType: 'benchOneActivityWithHeartbeatTimeout' },
  /** The schedule-to-close bound (23 h) alone beside start-to-close. */
  scheduleToClose: { workflowType: 'benchOneActivityWithScheduleToClose' },
  /** All the parts a Hookflow run adds (not the timer variants): a run as the interpreter type runSteps makes it. */
  allAsRunSteps: {
    workflowType: 'benchLikeHookflow',
    startOptions: {
      ...searchAttributes,
      ...startDetails,
      args: [pad(HOOKFLOW_SIZES.runInput), HOOKFLOW_SIZES.carried, true],
    },
  },
  /** Everything but the patch markers: a run as runStepsV2 makes it. */
  allAsRunStepsV2: {
    workflowType: 'benchLikeHookflow',
    startOptions: {
      ...searchAttributes,
      ...startDetails,
      args: [pad(HOOKFLOW_SIZES.runInput), HOOKFLOW_SIZES.carried, false],
    },
  },
};

/** The shapes named by --shapes, bare first; an unknown name stops the bench (exit 2) before anything starts. */
function chosenShapes(list: string): string[] {
  const named = list
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const unknown = named.filter((name) => !(name in SHAPES));
  if (unknown.length > 0) {
    console.error(
      `--shapes: no shape ${unknown.join(', ')}; the shapes are ${Object.keys(SHAPES).join(', ')}`,
    );
    process.exit(2);
  }
  return ['bare', ...named.filter((name) => name !== 'bare')];
}

/** A median rounded for the summary (an even number of rounds averages the middle two). */
function roundedMedian(values: readonly number[], digits: number): number | null {
  const middle = median(values);
  return middle === null ? null : round(middle, digits);
}

const names = flags.shapes === undefined ? Object.keys(SHAPES) : chosenShapes(flags.shapes);
const cleanups = benchCleanups();

try {
  const loadAverageAtStart = round(loadavg()[0] ?? 0, 2);
  const rounds = Number(flags.rounds);
  const durationS = Number(flags.duration);
  const concurrency = Number(flags.concurrency);
  const dir = mkdtempSync(join(tmpdir(), 'hookflow-bench-run-cost-'));
  cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
  log(
    `temporal-server (${STACK_DEFAULT_HISTORY_SHARDS} history shards) on fresh databases of this PostgreSQL`,
  );
  const temporal = await startNativeTemporal({
    historyShards: STACK_DEFAULT_HISTORY_SHARDS,
    workDir: dir,
    log,
    onCleanup: (stop) => cleanups.push(stop),
  });
  const connection = await Connection.connect({ address: temporal.address });
  const closeConnection = once(() => connection.close());
  cleanups.push(closeConnection);
  const client = new Client({ connection, namespace: 'default' });
  const ceiling = await startOneActivityCeiling({
    client,
    address: temporal.address,
    temporalPid: temporal.pid,
    taskQueue: `run-cost-${randomBytes(4).toString('hex')}`,
    workflowBundle: await writeWorkflowBundle(
      join(dir, 'ceiling-workflows.js'),
      join(repoRoot, 'bench/ceiling/workflows.ts'),
    ),
    warmupS: 1,
    extraEnv: {},
    onCleanup: (stop) => cleanups.push(stop),
    extraCpu: () => ({ postgres: temporal.postgresPids() }),
  });

  const measured: Record<
    string,
    { perSecond: number; temporalMs: number | null; postgresMs: number | null }[]
  > = Object.fromEntries(names.map((name) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    // Each round starts at another shape, so no shape always follows the same one.
    const order = names.map((_, i) => names[(i + r) % names.length] as string);
    for (const name of order) {
      log(`round ${r + 1}/${rounds}: ${name}, ${concurrency} in flight, ${durationS} s`);
      const result = await ceiling.measure(concurrency, durationS, SHAPES[name]);
      if (result.failed > 0) throw new Error(`${name}: ${result.failed} runs failed: ${result.firstError}`);
      const perRun = cpuPerRunMs(result);
      measured[name]?.push({
        perSecond: result.perSecond,
        temporalMs: perRun.temporal ?? null,
        postgresMs: perRun.postgres ?? null,
      });
    }
  }
  await ceiling.stop();
  await closeConnection();
  await temporal.stop();
  await cleanups.cleanup();

  const bare = measured.bare ?? [];
  const shapes = Object.fromEntries(
    names.map((name) => {
      const rows = measured[name] ?? [];
      const perRound = (pick: (row: (typeof rows)[number]) => number | null) =>
        rows.map((row, i) => {
          const value = pick(row);
          const base = bare[i] ? pick(bare[i]) : null;
          return value === null || base === null || base === 0 ? null : round(value / base, 3);
        });
      const present = (values: (number | null)[]) => values.filter((v): v is number => v !== null);
      return [
        name,
        {
          rounds: rows,
          medianPerSecond: roundedMedian(
            rows.map((row) => row.perSecond),
            1,
          ),
          medianTemporalMsPerRun: roundedMedian(present(rows.map((row) => row.temporalMs)), 1),
          medianPostgresMsPerRun: roundedMedian(present(rows.map((row) => row.postgresMs)), 1),
          /** Ratios to the bare shape of the same round, medians over the rounds. */
          toBare: {
            perSecond: roundedMedian(present(perRound((row) => row.perSecond)), 3),
            temporalMsPerRun: roundedMedian(present(perRound((row) => row.temporalMs)), 3),
            postgresMsPerRun: roundedMedian(present(perRound((row) => row.postgresMs)), 3),
          },
        },
      ];
    }),
  );
  const report = {
    meta: { date: new Date().toISOString(), loadAverageAtStart, rounds, durationS, concurrency },
    server: `temporal-server 1.31.0 on PostgreSQL, ${STACK_DEFAULT_HISTORY_SHARDS} history shards, shipped dynamic config`,
    hookflowSizes: HOOKFLOW_SIZES,
    shapes,
  };
  process.stderr.write(
    '\nshape                runs/s (÷ bare)   temporal ms/run (÷ bare)   postgres ms/run (÷ bare)\n',
  );
  for (const [name, shape] of Object.entries(shapes))
    process.stderr.write(
      `${name.padEnd(20)} ${String(shape.medianPerSecond).padStart(6)} (${shape.toBare.perSecond})`.padEnd(
        36,
      ) +
        `${shape.medianTemporalMsPerRun} (${shape.toBare.temporalMsPerRun})`.padEnd(27) +
        `${shape.medianPostgresMsPerRun} (${shape.toBare.postgresMsPerRun})\n`,
    );
  emitReport(report, flags.out);
} catch (error) {
  benchFailed(error);
  await cleanups.cleanup();
}
