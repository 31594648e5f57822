// `npm run bench [-- --quick] [-- --out results.json] [-- --log-level info] [-- --dist]
//   [-- --node-options='…' (default: the heap limits every start script and the image use; '' for Node's defaults)]
//   [-- --skip-embedded] [-- --skip-native]`
//
// Starts everything it measures on this machine (a fresh PostgreSQL database, an in-memory Temporal dev server,
// the real API and worker entrypoints, a fake Resend that accepts instantly, a local HTTP target for the http step),
// measures the ceilings and Hookflow in one run, prints a readable table on stderr and one JSON document on stdout.
// Then `npm start` as a user runs it, beside the ceilings of its own Temporal configuration (bench/lib/embedded.ts;
// `--skip-embedded` leaves it out), and the native topology (bench/lib/native.ts; `--skip-native`).
// Loopback only; every phase is bounded in time and the whole run has a deadline.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import argon2 from 'argon2';
import postgres from 'postgres';
import { LOW_MEMORY_NODE_FLAGS } from '../src/stack/stack.js';
import { findTemporalCli, startDevServer } from '../src/temporal/dev-server.js';
import { HOOKFLOW_OWNER_ID, HOOKFLOW_WORKFLOW_ID } from '../src/temporal/search-attributes.js';
import { writeWorkflowBundle } from '../src/temporal/workflow-bundle.js';
import { RUN_STEPS_WORKFLOW_TYPE } from '../src/workflows/names.js';
import { createTestDatabase } from '../test/helpers/database.js';
import { startFakeResend } from '../test/helpers/fake-resend.js';
import { startHttpTarget } from '../test/helpers/http-target.js';
import { measureOneActivity, measureRawStart } from './lib/ceilings.js';
import { spawnBenchChild, stopChild, waitForOutput } from './lib/children.js';
import { commitInfo } from './lib/commit.js';
import { createArrivalWatcher, createWebhookDriver, measureEndToEnd } from './lib/end-to-end.js';
import {
  closedLoop,
  httpLoad,
  ratio,
  round,
  summarizeLatencies,
  type LatencySummary,
  type LoadResult,
} from './lib/load.js';
import { startCpuAccount, type CpuAccount } from './lib/cpu.js';
import { createMemorySampler } from './lib/memory.js';
import { embeddedProfile, measureEmbedded, NPM_START_SQLITE } from './lib/embedded.js';
import { measureNative, nativeProfile, STACK_DEFAULT_HISTORY_SHARDS } from './lib/native.js';
import { renderTable } from './lib/report.js';
import { benchCleanups, benchFailed, benchLog as log, emitReport } from './lib/script.js';
import {
  BENCH_HTTP_STEP_ENV,
  BENCH_LIMITS,
  BENCH_PASSWORD,
  httpStepWorkflow,
  seedAccount,
  seqOfHttpStepBody,
  startApi,
  startWorker,
} from './lib/stack.js';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    /**
     * NODE_OPTIONS for the API and the workers (Hookflow's and the ceiling's). Default: the heap limits Hookflow runs
     * with wherever it is deployed (Dockerfile, systemd units, start:* scripts), so memory is measured as deployed.
     */
    'node-options': { type: 'string', default: LOW_MEMORY_NODE_FLAGS.join(' ') },
    /** Run the compiled API and worker (dist/, `npm run build` first) instead of the sources through tsx. */
    dist: { type: 'boolean', default: false },
    /** Leave out the native-topology phases (temporal-server on PostgreSQL, bench/lib/native.ts). */
    'skip-native': { type: 'boolean', default: false },
    /** Leave out the embedded default's phases (`npm start` and its SQLite ceilings, bench/lib/embedded.ts). */
    'skip-embedded': { type: 'boolean', default: false },
    /** History shards of the native cluster (fixed per cluster; each run creates its own databases). */
    'native-shards': { type: 'string', default: String(STACK_DEFAULT_HISTORY_SHARDS) },
    /** Another dynamic config file for the native server instead of the shipped one, to try a setting. */
    'native-dynamic-config': { type: 'string' },
  },
});

/**
 * Phase lengths in seconds (counts where stated). `--quick` keeps the whole run to about 9 minutes on a quiet machine:
 * about 3 for these phases, 3.5 for the embedded default's, 3 for the native topology's (their own lengths:
 * embeddedProfile in bench/lib/embedded.ts, nativeProfile in bench/lib/native.ts). The deadline leaves room for a
 * busy, shared machine.
 */
const profile = flags.quick
  ? {
      warmupS: 1,
      httpS: 3,
      rawStartS: 3,
      shapedStart: false,
      rawActivityS: 5,
      intakeS: 4,
      readsS: 3,
      loginS: 2,
      e2eC1S: 3,
      e2eS: 6,
      burstRuns: 400,
      drainLimitS: 40,
      deadlineS: 900,
    }
  : {
      warmupS: 2,
      httpS: 10,
      rawStartS: 10,
      shapedStart: true,
      rawActivityS: 15,
      intakeS: 15,
      readsS: 10,
      loginS: 8,
      e2eC1S: 8,
      e2eS: 30,
      burstRuns: 3000,
      drainLimitS: 180,
      deadlineS: 1800,
    };
const INTAKE_LEVELS = [1, 16, 64] as const;
/** In-flight runs of the end-to-end and one-activity ceiling loops: enough to keep the worker saturated. */
const E2E_CONCURRENCY = 64;
/** The end-to-end closed loops (email and http step alike): one run in flight, then the saturating level. */
const e2eLevels = [
  { concurrency: 1, durationS: profile.e2eC1S },
  { concurrency: E2E_CONCURRENCY, durationS: profile.e2eS },
];
const LOGIN_CONCURRENCY = 4;
const logLevel = flags['log-level'];
const nodeOptions = flags['node-options'];
const extraEnv: Record<string, string> = nodeOptions ? { NODE_OPTIONS: nodeOptions } : {};
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

// Everything started is stopped in reverse order, on success, failure, Ctrl-C or the deadline.
const cleanups = benchCleanups({ deadlineS: profile.deadlineS });

/** argon2id verify time of a real stored hash (same parameters as the API's), then login over HTTP. */
async function measureLogin(baseUrl: string, databaseUrl: string, email: string) {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  const [user] = await sql<
    { password_hash: string }[]
  >`select password_hash from users where email = ${email}`;
  await sql.end();
  if (!user) throw new Error(`no user ${email}`);
  const verifyTimes: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    if (!(await argon2.verify(user.password_hash, BENCH_PASSWORD)))
      throw new Error('argon2: the stored hash did not verify');
    verifyTimes.push(performance.now() - t0);
  }
  const http: Record<string, LoadResult> = {};
  for (const concurrency of [1, LOGIN_CONCURRENCY]) {
    http[`c${concurrency}`] = await httpLoad({
      url: `${baseUrl}/v1/auth/login`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: BENCH_PASSWORD }),
      connections: concurrency,
      durationS: profile.loginS,
      warmupS: 1,
    });
  }
  return { argon2VerifyMs: summarizeLatencies(verifyTimes), http };
}

const shapedSteps = [
  {
    id: 'welcome',
    type: 'email',
    params: {
      to: '{{trigger.body.email}}',
      subject: 'bench {{trigger.body.seq}}',
      text: 'Hi {{trigger.body.name}}',
    },
  },
];

/** A StartWorkflow shaped like run-service.ts's (input, memo, search attributes, reuse policy, summary). */
async function startShaped(client: Client, id: string): Promise<void> {
  const workflowId = randomUUID();
  const ownerId = randomUUID();
  const receivedAt = new Date().toISOString();
  await client.workflow.start(RUN_STEPS_WORKFLOW_TYPE, {
    taskQueue: 'bench-parked',
    workflowId: `raw-shaped-${id}`,
    args: [
      {
        run: { id: `raw-shaped-${id}`, ownerId },
        definition: { workflowId, version: 1, name: 'Bench welcome 0', steps: shapedSteps },
        trigger: {
          type: 'webhook',
          receivedAt,
          body: { email: 'bench@example.com', name: 'Bench', seq: 0 },
          query: {},
          headers: { 'content-type': 'application/json' },
        },
      },
    ],
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    typedSearchAttributes: [
      { key: HOOKFLOW_WORKFLOW_ID, value: workflowId },
      { key: HOOKFLOW_OWNER_ID, value: ownerId },
    ],
    memo: {
      hookflow: {
        workflowId,
        workflowVersion: 1,
        trigger: { type: 'webhook', receivedAt },
        steps: [{ id: 'welcome', type: 'email' }],
        retryOf: null,
      },
    },
    staticSummary: 'Bench welcome 0 (v1, webhook)',
  });
}

/**
 * A fresh in-memory Temporal dev server for one phase, stopped afterwards. Fresh, because the dev server slows
 * down as it accumulates executions (workflows parked on an unpolled queue halve its throughput), so a phase
 * would otherwise be measured against the leftovers of the one before it.
 */
async function withTemporal<T>(
  cliPath: string,
  phase: (address: string, client: Client, temporalPid: number | undefined) => Promise<T>,
): Promise<T> {
  const server = await startDevServer({ cliPath, port: 0, uiPort: 0 });
  const connection = await Connection.connect({ address: server.address });
  const temporalPid = server.pid;
  try {
    return await phase(server.address, new Client({ connection, namespace: 'default' }), temporalPid);
  } finally {
    await connection.close();
    await server.stop();
  }
}

async function main() {
  const startedAt = new Date();
  // Other work on the machine skews every figure: the load average at the start is recorded with them.
  const loadAtStart = round(loadavg()[0] ?? 0, 2);
  if (loadAtStart > 0.5)
    log(`warning: load average ${loadAtStart} at start: other work is running, figures will be low`);
  const memory = createMemorySampler();
  cleanups.push(() => Promise.resolve(memory.stop()));

  // --- set-up: bundles, database, fake Resend ---------------------------------------------------------------------
  log(`set-up (${flags.quick ? 'quick' : 'full'} profile, API/worker LOG_LEVEL=${logLevel})`);
  const cliPath = await findTemporalCli({
    cliPath: process.env.TEMPORAL_CLI_PATH || undefined,
    allowDownload: false,
  });
  const dir = mkdtempSync(join(tmpdir(), 'hookflow-bench-'));
  cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
  const hookflowBundle = join(dir, 'hookflow-workflows.js');
  const ceilingBundle = join(dir, 'ceiling-workflows.js');
  await writeWorkflowBundle(hookflowBundle);
  await writeWorkflowBundle(ceilingBundle, join(repoRoot, 'bench/ceiling/workflows.ts'));
  const database = await createTestDatabase();
  cleanups.push(() => database.drop());
  const resend = await startFakeResend();
  cleanups.push(() => resend.close());
  const httpTarget = await startHttpTarget();
  cleanups.push(() => httpTarget.close());
  const runTag = randomBytes(4).toString('hex');

  // --- 1. ceilings ---------------------------------------------------------------------------------------------------
  log('ceiling: trivial Fastify route');
  const trivial = spawnBenchChild('bench/ceiling/http-server.ts', {}, 'trivial-server');
  cleanups.push(() => stopChild(trivial));
  const [, trivialUrl] = await waitForOutput(trivial, /listening (http:\/\/\S+)/);
  memory.track('trivial-server', trivial.child.pid);
  const trivialHttp = await httpLoad({
    url: `${trivialUrl}/ping`,
    connections: 64,
    durationS: profile.httpS,
    warmupS: profile.warmupS,
  });
  memory.markAfter('trivial-server');
  await stopChild(trivial);

  // StartWorkflow onto a task queue nobody polls: what Temporal itself accepts, with no HTTP and no database.
  const rawStart: Record<string, LoadResult> = {};
  for (const concurrency of INTAKE_LEVELS) {
    log(`ceiling: raw StartWorkflow, ${concurrency} concurrent`);
    rawStart[`c${concurrency}`] = await withTemporal(cliPath, (_, client, temporalPid) =>
      measureRawStart({
        client,
        concurrency,
        temporalPid,
        idPrefix: runTag,
        durationS: profile.rawStartS,
        warmupS: profile.warmupS,
      }),
    );
  }
  // The same start with what Hookflow's start carries (the run input, memo, search attributes, summary): how much
  // of the gap to the bare ceiling is Temporal's own work for Hookflow's run shape rather than the API's.
  let rawStartHookflowShaped: LoadResult | undefined;
  if (profile.shapedStart) {
    log("ceiling: raw StartWorkflow with Hookflow's run shape, 16 concurrent");
    rawStartHookflowShaped = await withTemporal(cliPath, (_, client, temporalPid) =>
      measureRawStart({
        client,
        concurrency: 16,
        temporalPid,
        idPrefix: runTag,
        start: startShaped,
        durationS: profile.rawStartS,
        warmupS: profile.warmupS,
      }),
    );
  }

  log('ceiling: raw one-activity workflow, start to activity');
  const rawActivity = await withTemporal(cliPath, (address, client, temporalPid) =>
    measureOneActivity({
      client,
      address,
      temporalPid,
      taskQueue: `bench-ceiling-${runTag}`,
      workflowBundle: ceilingBundle,
      levels: e2eLevels.map(({ concurrency, durationS }) => ({
        concurrency,
        durationS: concurrency === 1 ? durationS : profile.rawActivityS,
      })),
      warmupS: profile.warmupS,
      extraEnv,
      memory: { sampler: memory, label: 'ceiling-worker' },
      onCleanup: (stop) => cleanups.push(stop),
    }),
  );

  // --- 2. webhook intake (no worker polls the API's task queue, like the raw start ceiling), reads, login ----------
  const intake: Record<string, LoadResult & { ratioToRawStart: number | null }> = {};
  let reads: LoadResult | undefined;
  let login: { argon2VerifyMs: LatencySummary; http: Record<string, LoadResult> } | undefined;
  for (const concurrency of INTAKE_LEVELS) {
    await withTemporal(cliPath, async (address, _, temporalPid) => {
      const label = `api (intake c${concurrency})`;
      const api = await startApi({
        databaseUrl: database.url,
        temporalAddress: address,
        taskQueue: `bench-intake-${runTag}`,
        logLevel,
        name: label,
        extraEnv,
        dist: flags.dist,
      });
      cleanups.push(() => stopChild(api.process));
      memory.track(label, api.process.child.pid);
      const account = await seedAccount(api.baseUrl, 3);
      if (!reads || !login) {
        // Neither touches Temporal: measured once, against the first API, before any intake load.
        log('authenticated reads: GET /v1/workflows');
        reads = await httpLoad({
          url: `${api.baseUrl}/v1/workflows?limit=20`,
          headers: { authorization: account.authorization },
          connections: 16,
          durationS: profile.readsS,
          warmupS: profile.warmupS,
        });
        log('login: argon2 verify and POST /v1/auth/login');
        login = await measureLogin(api.baseUrl, database.url, account.email);
      }
      log(`webhook intake, ${concurrency} concurrent`);
      let cpu: CpuAccount | undefined;
      const result = await httpLoad({
        onMeasureStart: () => (cpu = startCpuAccount({ api: api.process.child.pid, temporal: temporalPid })),
        url: `${api.baseUrl}/hooks/${account.tokens[0]}`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'bench@example.com', name: 'Bench', seq: 0 }),
        connections: concurrency,
        durationS: profile.intakeS,
        warmupS: profile.warmupS,
      });
      intake[`c${concurrency}`] = {
        ...result,
        cpuCores: cpu?.stop(),
        ratioToRawStart: ratio(result.perSecond, rawStart[`c${concurrency}`]?.perSecond ?? 0),
      };
      await sleep(1000);
      memory.markAfter(label);
      await stopChild(api.process);
    });
  }

  /**
   * The API and worker of an end-to-end phase, on one task queue of the phase's fresh Temporal, with their memory
   * tracked under labels that end in `suffix`; stop() lets in-flight work settle, records memory and stops both.
   */
  const startEndToEndStack = async (
    address: string,
    temporalPid: number | undefined,
    { taskQueue, suffix = '' }: { taskQueue: string; suffix?: string },
  ) => {
    const labels = { api: `api${suffix}`, worker: `worker${suffix}`, sum: `api+worker${suffix}` };
    const api = await startApi({
      databaseUrl: database.url,
      temporalAddress: address,
      taskQueue,
      logLevel,
      name: labels.api,
      extraEnv,
      dist: flags.dist,
    });
    cleanups.push(() => stopChild(api.process));
    const worker = await startWorker({
      databaseUrl: database.url,
      temporalAddress: address,
      taskQueue,
      workflowBundlePath: hookflowBundle,
      resendUrl: resend.url,
      logLevel,
      extraEnv,
      dist: flags.dist,
    });
    cleanups.push(() => stopChild(worker));
    memory.track(labels.api, api.process.child.pid);
    memory.track(labels.worker, worker.child.pid);
    memory.trackSum(labels.sum, [labels.api, labels.worker]);
    return {
      baseUrl: api.baseUrl,
      processes: { api: api.process.child.pid, worker: worker.child.pid, temporal: temporalPid },
      async stop() {
        await sleep(2000);
        memory.markAfter(labels.api);
        memory.markAfter(labels.worker);
        await stopChild(api.process);
        await stopChild(worker);
      },
    };
  };

  // --- 3. end to end: webhook → worker → email accepted by the fake Resend ------------------------------------------
  const { endToEnd, burst } = await withTemporal(cliPath, async (address, _, temporalPid) => {
    log('end to end: API and worker on one task queue, emails through the Resend SDK to the fake');
    const stack = await startEndToEndStack(address, temporalPid, { taskQueue: `bench-e2e-${runTag}` });
    const account = await seedAccount(stack.baseUrl, 1);
    const watcher = createArrivalWatcher(
      () => resend.emails,
      (email) => ({ seq: Number(/^bench (\d+)$/.exec(email.subject)?.[1]), at: email.receivedAt }),
    );
    cleanups.push(() => Promise.resolve(watcher.stop()));
    const driver = createWebhookDriver(`${stack.baseUrl}/hooks/${account.tokens[0]}`, watcher);
    const endToEnd = await measureEndToEnd({
      driver,
      levels: e2eLevels,
      warmupS: profile.warmupS,
      processes: stack.processes,
      rawOneActivity: rawActivity,
      log,
      label: 'end to end',
    });

    log(`end to end: a burst of ${profile.burstRuns} webhooks, then the backlog drains`);
    const burstCpu = startCpuAccount(stack.processes);
    const burstSeqs: number[] = [];
    const burstStart = Date.now();
    const burstIntake = await closedLoop({
      concurrency: E2E_CONCURRENCY,
      durationMs: profile.drainLimitS * 1000,
      maxOps: profile.burstRuns,
      op: async () => {
        const seq = driver.nextSeq();
        burstSeqs.push(seq);
        await driver.deliver(seq);
      },
    });
    const intakeEnd = Date.now();
    const drainDeadline = intakeEnd + profile.drainLimitS * 1000;
    while (Date.now() < drainDeadline && burstSeqs.some((seq) => !watcher.arrivals.has(seq))) await sleep(20);
    const arrivals = burstSeqs
      .map((seq) => watcher.arrivals.get(seq))
      .filter((t): t is number => t !== undefined);
    const lastArrival = arrivals.length > 0 ? Math.max(...arrivals) : intakeEnd;
    const burst = {
      runs: burstSeqs.length,
      accepted: burstIntake.ok,
      rejected: burstIntake.failed,
      emailed: arrivals.length,
      intakePerSecond: burstIntake.perSecond,
      intakeLatencyMs: burstIntake.latencyMs,
      /** From the last accepted webhook to the last email. */
      drainS: round((lastArrival - intakeEnd) / 1000),
      drainedWithinLimit: arrivals.length === burstSeqs.length,
      completedPerSecond: round(arrivals.length / Math.max(0.001, (lastArrival - burstStart) / 1000), 1),
      hitToEmailMs: driver.hitToArrival(burstSeqs),
      cpuCores: burstCpu.stop(),
    };
    await stack.stop();
    return { endToEnd, burst };
  });

  // --- 4. end to end with an http step: webhook → worker → the step's POST received by the local target ------------
  // Measured like the email phase (same callers and durations, a fresh Temporal, the same API and worker settings);
  // the http activity runs on the second task queue (<queue>-http) that the same worker process serves.
  const httpClosedLoop = await withTemporal(cliPath, async (address, _, temporalPid) => {
    log(
      'end to end, http step: one POST with a JSON body to the local target, through the SSRF-guarded client',
    );
    const stack = await startEndToEndStack(address, temporalPid, {
      taskQueue: `bench-e2e-http-${runTag}`,
      suffix: ' (http step)',
    });
    const account = await seedAccount(stack.baseUrl, 1, httpStepWorkflow(httpTarget.url));
    const watcher = createArrivalWatcher(
      () => httpTarget.requests,
      (request) => ({ seq: seqOfHttpStepBody(request.body), at: request.receivedAt }),
    );
    cleanups.push(() => Promise.resolve(watcher.stop()));
    const results = await measureEndToEnd({
      driver: createWebhookDriver(`${stack.baseUrl}/hooks/${account.tokens[0]}`, watcher),
      levels: e2eLevels,
      warmupS: profile.warmupS,
      processes: stack.processes,
      rawOneActivity: rawActivity,
      log,
      label: 'end to end, http step',
    });
    await stack.stop();
    return results;
  });
  const httpStep = Object.fromEntries(
    Object.entries(httpClosedLoop).map(([level, result]) => [
      level,
      { ...result, ratioToEmail: ratio(result.perSecond, endToEnd[level]?.perSecond ?? 0) },
    ]),
  );
  /** The two step types side by side, per level: runs/s and hit → arrival p50, and their ratios. */
  const httpVsEmail = Object.fromEntries(
    Object.entries(httpStep).map(([level, http]) => [
      level,
      {
        emailPerSecond: endToEnd[level]?.perSecond ?? null,
        httpPerSecond: http.perSecond,
        httpToEmail: http.ratioToEmail,
        emailToRawOneActivity: endToEnd[level]?.ratioToRawOneActivity ?? null,
        httpToRawOneActivity: http.ratioToRawOneActivity,
        emailP50Ms: endToEnd[level]?.latencyMs.p50 ?? null,
        httpP50Ms: http.latencyMs.p50,
      },
    ]),
  );
  // --- 5. the embedded default: `npm start` beside the ceilings of its own Temporal configuration (SQLite file) -----
  const embedded = flags['skip-embedded']
    ? undefined
    : await measureEmbedded({
        profile: embeddedProfile(flags.quick),
        cliPath,
        workDir: dir,
        ceilingBundle,
        resend,
        runTag,
        log,
        onCleanup: (stop) => cleanups.push(stop),
      });
  /** npm start's ceilings (the dev server on a SQLite file) ÷ the in-memory dev server's of this run: the file's cost. */
  const embeddedToInMemory = embedded && {
    rawStartWorkflow: ratio(
      embedded.ceilings[NPM_START_SQLITE]?.rawStartWorkflow[`c${E2E_CONCURRENCY}`]?.perSecond ?? 0,
      rawStart[`c${E2E_CONCURRENCY}`]?.perSecond ?? 0,
    ),
    rawOneActivity: ratio(
      embedded.ceilings[NPM_START_SQLITE]?.rawOneActivity[`c${E2E_CONCURRENCY}`]?.perSecond ?? 0,
      rawActivity[`c${E2E_CONCURRENCY}`]?.perSecond ?? 0,
    ),
  };

  // --- 6. the same phases on the native topology: temporal-server on PostgreSQL (bench/lib/native.ts) --------------
  const native = flags['skip-native']
    ? undefined
    : await measureNative({
        profile: nativeProfile(flags.quick),
        historyShards: Number(flags['native-shards']),
        ...(flags['native-dynamic-config'] && {
          dynamicConfigFile: resolve(flags['native-dynamic-config']),
        }),
        workDir: dir,
        ceilingBundle,
        hookflowBundle,
        resend,
        runTag,
        logLevel,
        extraEnv,
        dist: flags.dist,
        log,
        onCleanup: (stop) => cleanups.push(stop),
      });
  /** Native figure ÷ dev-server figure of the same measure in this run (what the production server changes). */
  const nativeToDevServer = native && {
    rawStartWorkflow: Object.fromEntries(
      Object.entries(native.ceilings.rawStartWorkflow).map(([level, result]) => [
        level,
        ratio(result.perSecond, rawStart[level]?.perSecond ?? 0),
      ]),
    ),
    rawOneActivity: Object.fromEntries(
      Object.entries(native.ceilings.rawOneActivity).map(([level, result]) => [
        level,
        ratio(result.perSecond, rawActivity[level]?.perSecond ?? 0),
      ]),
    ),
  };

  const fakeHttpTarget = { requests: httpTarget.requests.length };
  const fakeResend = { emailsAccepted: resend.emails.length, requests: resend.requests.length };

  if (!reads || !login) throw new Error('reads and login were not measured');
  const mem = memory.report();
  const peakOf = (label: string) => mem.processes[label]?.peakMiB ?? 0;
  const highestPeak = (prefix: string) =>
    Math.max(
      ...Object.keys(mem.processes)
        .filter((l) => l.startsWith(prefix))
        .map(peakOf),
    );
  // Conservative: the highest API peak of any phase plus the highest worker peak (email or http step phase), even
  // if they were not simultaneous.
  const apiPlusWorkerPeak = highestPeak('api') + highestPeak('worker');
  const simultaneousPeak = Math.max(...Object.values(mem.sums).map((sum) => sum.peakMiB));
  const intake16 = intake.c16;
  const e2e = endToEnd[`c${E2E_CONCURRENCY}`];
  const targets = [
    {
      name: 'webhook intake at 16 concurrent ≥ 80% of raw StartWorkflow',
      target: 0.8,
      actual: intake16?.ratioToRawStart ?? null,
      met: (intake16?.ratioToRawStart ?? 0) >= 0.8,
    },
    {
      name: 'webhook intake p99 at 16 concurrent ≤ 100 ms',
      target: 100,
      actual: intake16?.latencyMs.p99 ?? null,
      met: (intake16?.latencyMs.p99 ?? Number.POSITIVE_INFINITY) <= 100,
    },
    {
      name: 'webhook intake: zero non-2xx',
      target: 0,
      actual: Object.values(intake).reduce((n, r) => n + r.failed + r.errors, 0),
      met: Object.values(intake).every((r) => r.failed === 0 && r.errors === 0),
    },
    {
      name: `end to end ≥ 60% of raw one-activity (${E2E_CONCURRENCY} in flight)`,
      target: 0.6,
      actual: e2e?.ratioToRawOneActivity ?? null,
      met: (e2e?.ratioToRawOneActivity ?? 0) >= 0.6,
    },
    {
      name: 'API + worker RSS ≤ 500 MiB, simultaneous peak under end-to-end load (email or http step phase)',
      target: 500,
      actual: simultaneousPeak,
      met: simultaneousPeak <= 500,
    },
    {
      name: 'API + worker RSS ≤ 500 MiB, conservative: highest API peak of any phase (login included) + highest worker peak',
      target: 500,
      actual: round(apiPlusWorkerPeak, 1),
      met: apiPlusWorkerPeak <= 500,
    },
    // The embedded default's goals, each against the ceilings of npm start's own configuration (bench/lib/embedded.ts).
    ...(embedded?.goals.map((goal) => ({ ...goal, name: `npm start: ${goal.name}` })) ?? []),
  ];

  return {
    meta: {
      date: startedAt.toISOString(),
      commit: commitInfo(repoRoot),
      profile: flags.quick ? 'quick' : 'full',
      nodeOptions: nodeOptions || null,
      entrypoints: flags.dist ? 'dist' : 'tsx',
      durationsS: {
        ...profile,
        embedded: flags['skip-embedded'] ? null : embeddedProfile(flags.quick),
        native: flags['skip-native'] ? null : nativeProfile(flags.quick),
      },
      node: process.version,
      cpus: cpus().length,
      memoryGiB: round(totalmem() / 2 ** 30, 1),
      loadAverageAtStart: loadAtStart,
      notes: [
        'Everything runs on this machine: bench driver (load generator, fake Resend), API, worker, Temporal dev server, PostgreSQL.',
        'Temporal is the CLI dev server (SQLite in memory); the ratios compare Hookflow with the same server.',
        `API and worker run ${flags.dist ? 'compiled (node dist/…)' : 'from source with tsx (node --import tsx)'}, LOG_LEVEL=${logLevel}, NODE_ENV=production, NODE_OPTIONS=${nodeOptions || '(none)'}.`,
        'cpuCores: CPU used during a measured run, in cores (machine = all processes; the rest of it is PostgreSQL, the tsx loader threads and anything else).',
        `EMAIL_MAX_PER_SECOND=${BENCH_LIMITS.EMAIL_MAX_PER_SECOND} (default 5; 0 = no limit, so sends are eager activities where the server allows them): the provider rate limit is not what is measured.`,
        'Rate limits (webhook, login, register) raised so no request is refused; the limiters still run.',
        'Webhook intake runs with no worker on the API task queue, like the raw StartWorkflow ceiling.',
        'The one-activity ceiling worker uses createHookflowWorker (same worker options as Hookflow); it is timed from the start call to the activity running, as end to end is timed from the hit to the email.',
        'Each Temporal phase (raw start per level, intake per level, one-activity ceiling, end to end with email, end to end with an http step) gets a fresh dev server.',
        'native: the same phases on temporal-server 1.31.0 with PostgreSQL persistence and SQL visibility on the machine PostgreSQL (fsync on), fresh databases and roles of the run (dropped after), the dynamic config and shard count in native.config; one cluster for all native phases, raw start and intake alternating per level; API and worker launched like the dev-server phases (same settings), intake and end to end on task queues of their own. Ratios are to the native ceilings of the same run; nativeToDevServer compares the ceilings of the two servers.',
        "embedded: `npm start` as package.json's start script runs it (node --import tsx src/dev.ts: API, worker and PGlite in one process, the dev server on a SQLite file in WAL mode, synchronous=normal) on a fresh data directory, beside the ceilings of the same configuration (a dev server on a fresh SQLite file per ceiling) for the three SQLite settings; figures as ratios to those ceilings; embeddedToInMemory compares npm start's ceilings with the in-memory dev server's. Details in embedded.config.notes.",
        `End to end with an http step: the same callers and durations as with email; the step POSTs a small JSON body to a local target in the bench driver (test/helpers/http-target.ts, 200 with a JSON echo of the request), timed from the hit to the request's arrival there. API and worker get HTTP_ALLOWED_PRIVATE_NETWORKS=${BENCH_HTTP_STEP_ENV.HTTP_ALLOWED_PRIVATE_NETWORKS} (loopback is refused by default); the http activity runs on the second task queue (<queue>-http) of the same worker process, the ceiling's activity on the workflow's own queue.`,
      ],
    },
    ceilings: {
      trivialHttp,
      rawStartWorkflow: rawStart,
      ...(rawStartHookflowShaped && { rawStartWorkflowHookflowShapedC16: rawStartHookflowShaped }),
      rawOneActivity: rawActivity,
    },
    webhookIntake: intake,
    endToEnd: { closedLoop: endToEnd, burst, httpStep: { closedLoop: httpStep, httpVsEmail } },
    ...(embedded && embeddedToInMemory && { embedded: { ...embedded, embeddedToInMemory } }),
    ...(native && { native: { ...native, nativeToDevServer } }),
    reads,
    login,
    memory: mem,
    fakeResend,
    fakeHttpTarget,
    targets,
  };
}

try {
  const report = await main();
  await cleanups.cleanup();
  process.stderr.write(`\n${renderTable(report)}\n`);
  emitReport(report, flags.out);
} catch (error) {
  benchFailed(error);
  await cleanups.cleanup();
}

export type BenchReport = Awaited<ReturnType<typeof main>>;
