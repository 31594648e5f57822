import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import postgres from 'postgres';
import {
  DYNAMIC_CONFIG_FILE,
  ensureNativeBinaries,
  findFreeMembershipPort,
  setupDatabases,
  startTemporalServer,
  type DatabaseRoles,
  type TemporalServer,
  type TemporalServerPorts,
} from '../../src/stack/native-temporal.js';
import { findFreePort } from '../../src/temporal/dev-server.js';
import { adminDatabaseUrl } from '../../test/helpers/database.js';
import { measureRawStart, startOneActivityCeiling } from './ceilings.js';
import { stopChild } from './children.js';
import { postgresBackends, startCpuAccount, type CpuAccount } from './cpu.js';
import {
  createArrivalWatcher,
  createWebhookDriver,
  measureEndToEnd,
  type EndToEndResult,
} from './end-to-end.js';
import { httpLoad, ratio, round, type LoadResult } from './load.js';
import { createMemorySampler } from './memory.js';
import { measurePaired, type PairedSummary } from './paired.js';
import { seedAccount, startApi, startWorker } from './stack.js';
import type { FakeResend } from '../../test/helpers/fake-resend.js';

/*
 * The bench's phases on the native production topology (DESIGN §9, `npm run start:stack`): temporal-server 1.31.0
 * with PostgreSQL persistence and SQL visibility on the machine's PostgreSQL (fsync on, as in production), the shipped
 * dynamic config, the history shard count `npm run start:stack` defaults to. The Temporal half is started by the
 * helpers startStack uses (setupDatabases, startTemporalServer) on fresh databases and roles of this run's own,
 * dropped afterwards. The API and worker are the bench's own launches (bench/lib/stack.ts), with the settings of the
 * dev-server phases: each phase gets a task queue of its own (intake must have no poller, end to end must not drain
 * intake's runs), and the figures beside the dev server's differ only in the Temporal server. The UI server is not
 * started: nothing in a phase uses it.
 */

const NAMESPACE = 'default';

/** `fn` on its first call only (later calls get the first call's promise): cleanups may repeat a normal stop. */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}

export interface NativeTemporalOptions {
  historyShards: number;
  /** A dynamic config file instead of the shipped one (deploy/temporal/dynamicconfig/development-sql.yaml). */
  dynamicConfigFile?: string;
  /** A scratch directory of the run's (removed by the caller). */
  workDir: string;
  log: (message: string) => void;
  /** Registers the stop (server, databases, roles) with the run's cleanups (deadline, Ctrl-C, failure). */
  onCleanup: (stop: () => Promise<unknown>) => void;
}

export interface NativeTemporal {
  address: string;
  pid: number;
  /** Hookflow's own database on the same PostgreSQL, owned by a role of this run's. */
  hookflowDatabaseUrl: string;
  /** PostgreSQL's backends serving this run's databases now (for CPU accounting). */
  postgresPids(): number[];
  setupS: { databases: number; server: number };
  /** Stops the server, then drops the run's databases and roles. */
  stop(): Promise<void>;
}

async function freeServerPorts(): Promise<TemporalServerPorts> {
  return {
    frontend: await findFreePort(),
    frontendHttp: await findFreePort(),
    frontendMembership: await findFreeMembershipPort(),
    history: await findFreePort(),
    historyMembership: await findFreeMembershipPort(),
    matching: await findFreePort(),
    matchingMembership: await findFreeMembershipPort(),
    worker: await findFreePort(),
    workerMembership: await findFreeMembershipPort(),
    metrics: await findFreePort(),
  };
}

/**
 * The binaries directory, or (to try another dynamic config without touching the shipped file, which compose and
 * `npm run start:stack` read) a copy of it whose temporal-server is a wrapper setting DYNAMIC_CONFIG_FILE_PATH.
 */
function binariesWithDynamicConfig(binaries: string, file: string | undefined, workDir: string): string {
  if (file === undefined) return binaries;
  const dir = join(workDir, 'temporal-native');
  mkdirSync(dir, { recursive: true });
  for (const name of ['temporal-sql-tool', 'temporal-ui-server', 'schema'])
    symlinkSync(join(binaries, name), join(dir, name));
  const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;
  writeFileSync(
    join(dir, 'temporal-server'),
    `#!/bin/sh\nDYNAMIC_CONFIG_FILE_PATH=${quote(file)} exec ${quote(join(binaries, 'temporal-server'))} "$@"\n`,
  );
  chmodSync(join(dir, 'temporal-server'), 0o755);
  return dir;
}

/** temporal-server on fresh databases and roles of this run's, on the machine's PostgreSQL. */
export async function startNativeTemporal(options: NativeTemporalOptions): Promise<NativeTemporal> {
  const binaries = binariesWithDynamicConfig(
    await ensureNativeBinaries(options.log),
    options.dynamicConfigFile,
    options.workDir,
  );
  const tag = `bench_${randomBytes(4).toString('hex')}`;
  const admin = new URL(adminDatabaseUrl);
  const password = () => randomBytes(12).toString('hex');
  const roles: DatabaseRoles = {
    adminUrl: adminDatabaseUrl,
    host: admin.hostname,
    port: Number(admin.port || 5432),
    temporal: {
      user: `${tag}_temporal`,
      password: password(),
      database: `${tag}_temporal`,
      visibilityDatabase: `${tag}_temporal_visibility`,
    },
    hookflow: { user: `${tag}_hookflow`, password: password(), database: `${tag}_hookflow` },
  };
  const databases = [roles.temporal.database, roles.temporal.visibilityDatabase, roles.hookflow.database];
  const dropAll = async () => {
    const sql = postgres(adminDatabaseUrl, { max: 1, onnotice: () => {} });
    try {
      for (const database of databases) await sql.unsafe(`drop database if exists ${database} with (force)`);
      for (const role of [roles.temporal.user, roles.hookflow.user])
        await sql.unsafe(`drop role if exists ${role}`);
    } finally {
      await sql.end();
    }
  };

  // Registered before anything exists, so an interrupted set-up leaves no databases or roles behind either.
  const started: { server?: TemporalServer } = {};
  const stop = once(async () => {
    await started.server?.process.stop(30_000);
    await dropAll();
  });
  options.onCleanup(stop);
  const t0 = performance.now();
  await setupDatabases(binaries, roles);
  const t1 = performance.now();
  const server = await startTemporalServer({
    binaries,
    roles,
    ports: await freeServerPorts(),
    historyShards: options.historyShards,
    namespace: NAMESPACE,
    retention: '24h',
  });
  started.server = server;
  const t2 = performance.now();
  return {
    address: server.address,
    pid: await server.process.pid(),
    hookflowDatabaseUrl: `postgres://${roles.hookflow.user}:${roles.hookflow.password}@${roles.host}:${roles.port}/${roles.hookflow.database}`,
    postgresPids: () => postgresBackends(databases),
    setupS: { databases: round((t1 - t0) / 1000, 1), server: round((t2 - t1) / 1000, 1) },
    stop,
  };
}

/** The dynamic config's settings as the server reads them (comments and blank lines dropped), for the report. */
export function dynamicConfigSettings(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'));
}

export interface NativeProfile {
  warmupS: number;
  /** Raw start and intake levels (concurrent callers), each with the same duration. */
  startLevels: readonly number[];
  rawStartS: number;
  intakeS: number;
  /** One-activity ceiling and end to end: runs in flight and durations. */
  runLevels: readonly { concurrency: number; durationS: number }[];
  rawActivityS: number;
}

/** The shard count `npm run start:stack` uses unless STACK_HISTORY_SHARDS says otherwise (src/stack/start.ts). */
export const STACK_DEFAULT_HISTORY_SHARDS = 4;

/** The dev-server phases' load shapes; `--quick` measures only the 16-caller level of raw start and intake. */
export function nativeProfile(quick: boolean): NativeProfile {
  return quick
    ? {
        warmupS: 1,
        startLevels: [16],
        rawStartS: 3,
        intakeS: 4,
        runLevels: [
          { concurrency: 1, durationS: 3 },
          { concurrency: 64, durationS: 6 },
        ],
        rawActivityS: 5,
      }
    : {
        warmupS: 2,
        startLevels: [1, 16, 64],
        rawStartS: 10,
        intakeS: 15,
        runLevels: [
          { concurrency: 1, durationS: 8 },
          { concurrency: 64, durationS: 30 },
        ],
        rawActivityS: 15,
      };
}

export interface NativeDeps {
  profile: NativeProfile;
  historyShards: number;
  dynamicConfigFile?: string;
  workDir: string;
  ceilingBundle: string;
  hookflowBundle: string;
  resend: FakeResend;
  runTag: string;
  logLevel: string;
  extraEnv: Record<string, string>;
  dist: boolean;
  log: (message: string) => void;
  onCleanup: (stop: () => Promise<unknown>) => void;
}

/**
 * Raw start and webhook intake per level (the intake right after the raw start of the same level, on the same
 * server), the one-activity ceiling, then end to end: all on one native cluster of this run's.
 */
export async function measureNative(deps: NativeDeps) {
  const { profile, log } = deps;
  const memory = createMemorySampler();
  deps.onCleanup(() => Promise.resolve(memory.stop()));
  log(`native: databases and temporal-server (${deps.historyShards} history shards) on this PostgreSQL`);
  const temporal = await startNativeTemporal({
    historyShards: deps.historyShards,
    ...(deps.dynamicConfigFile !== undefined && { dynamicConfigFile: deps.dynamicConfigFile }),
    workDir: deps.workDir,
    log,
    onCleanup: deps.onCleanup,
  });
  memory.track('temporal-server', temporal.pid);
  const connection = await Connection.connect({ address: temporal.address });
  const closeConnection = once(() => connection.close());
  deps.onCleanup(closeConnection);
  const client = new Client({ connection, namespace: NAMESPACE });
  const extraCpu = () => ({ postgres: temporal.postgresPids() });
  const hookflow = {
    databaseUrl: temporal.hookflowDatabaseUrl,
    temporalAddress: temporal.address,
    logLevel: deps.logLevel,
    extraEnv: deps.extraEnv,
    dist: deps.dist,
  };

  // --- raw start and webhook intake, level by level (no worker polls either queue) --------------------------------
  const intakeApi = await startApi({
    ...hookflow,
    taskQueue: `native-intake-${deps.runTag}`,
    name: 'native api (intake)',
  });
  deps.onCleanup(() => stopChild(intakeApi.process));
  memory.track('api (intake)', intakeApi.process.child.pid);
  const intakeAccount = await seedAccount(intakeApi.baseUrl, 1);
  const rawStart: Record<string, LoadResult> = {};
  const intake: Record<string, LoadResult & { ratioToRawStart: number | null }> = {};
  for (const concurrency of profile.startLevels) {
    log(`native: raw StartWorkflow, ${concurrency} concurrent`);
    const ceiling = await measureRawStart({
      client,
      concurrency,
      temporalPid: temporal.pid,
      idPrefix: `native-${deps.runTag}-c${concurrency}`,
      durationS: profile.rawStartS,
      warmupS: profile.warmupS,
      extraCpu,
    });
    rawStart[`c${concurrency}`] = ceiling;
    log(`native: webhook intake, ${concurrency} concurrent`);
    let cpu: CpuAccount | undefined;
    const result = await httpLoad({
      onMeasureStart: () =>
        (cpu = startCpuAccount({
          api: intakeApi.process.child.pid,
          temporal: temporal.pid,
          ...extraCpu(),
        })),
      url: `${intakeApi.baseUrl}/hooks/${intakeAccount.tokens[0]}`,
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
      ratioToRawStart: ratio(result.perSecond, ceiling.perSecond),
    };
  }
  memory.markAfter('api (intake)');
  await stopChild(intakeApi.process);

  // --- the one-activity ceiling ----------------------------------------------------------------------------------
  // Its worker stays up (idle in a long poll) for the paired rounds of end to end below.
  log('native: raw one-activity workflow, start to activity');
  const ceilingWorker = await startOneActivityCeiling({
    client,
    address: temporal.address,
    temporalPid: temporal.pid,
    taskQueue: `native-ceiling-${deps.runTag}`,
    workflowBundle: deps.ceilingBundle,
    warmupS: profile.warmupS,
    extraEnv: deps.extraEnv,
    memory: { sampler: memory, label: 'ceiling-worker' },
    onCleanup: deps.onCleanup,
    extraCpu,
  });
  const rawActivity: Record<string, LoadResult> = {};
  for (const { concurrency, durationS } of profile.runLevels)
    rawActivity[`c${concurrency}`] = await ceilingWorker.measure(
      concurrency,
      concurrency === 1 ? durationS : profile.rawActivityS,
    );
  memory.markAfter('ceiling-worker');

  // --- end to end: webhook → worker → email accepted by the fake Resend --------------------------------------------
  log('native: end to end, API and worker on one task queue');
  const taskQueue = `native-e2e-${deps.runTag}`;
  const api = await startApi({ ...hookflow, taskQueue, name: 'native api' });
  deps.onCleanup(() => stopChild(api.process));
  const worker = await startWorker({
    ...hookflow,
    taskQueue,
    workflowBundlePath: deps.hookflowBundle,
    resendUrl: deps.resend.url,
  });
  deps.onCleanup(() => stopChild(worker));
  memory.track('api', api.process.child.pid);
  memory.track('worker', worker.child.pid);
  memory.trackSum('api+worker', ['api', 'worker']);
  const account = await seedAccount(api.baseUrl, 1);
  const watcher = createArrivalWatcher(
    () => deps.resend.emails,
    (email) => ({ seq: Number(/^bench (\d+)$/.exec(email.subject)?.[1]), at: email.receivedAt }),
  );
  deps.onCleanup(() => Promise.resolve(watcher.stop()));
  const driver = createWebhookDriver(`${api.baseUrl}/hooks/${account.tokens[0]}`, watcher);
  const endToEndAt = (levels: NativeProfile['runLevels'], label: string) =>
    measureEndToEnd({
      driver,
      levels,
      warmupS: profile.warmupS,
      processes: {
        api: api.process.child.pid,
        worker: worker.child.pid,
        temporal: temporal.pid,
        postgres: temporal.postgresPids(),
      },
      rawOneActivity: rawActivity,
      log,
      label,
    });
  // One run in flight once; at the saturating level, rounds alternating with the ceiling on this cluster
  // (bench/lib/paired.ts). Round 1's figure is the level's result, against the ceiling measured before it.
  const endToEnd: Record<string, EndToEndResult> = await endToEndAt(
    profile.runLevels.filter(({ concurrency }) => concurrency === 1),
    'native: end to end',
  );
  const saturating = profile.runLevels.filter(({ concurrency }) => concurrency > 1);
  const pairedByLevel: Record<string, PairedSummary> = {};
  try {
    for (const level of saturating) {
      const key = `c${level.concurrency}`;
      pairedByLevel[key] = await measurePaired({
        endToEnd: async (pairedRound) => {
          const result = (await endToEndAt([level], `native: round ${pairedRound}, end to end`))[key];
          if (pairedRound === 1 && result) endToEnd[key] = result;
          return result;
        },
        ceiling: (pairedRound) => {
          log(`native: round ${pairedRound}, raw one-activity workflow, ${level.concurrency} in flight`);
          return ceilingWorker.measure(level.concurrency, profile.rawActivityS);
        },
      });
    }
  } finally {
    await ceilingWorker.stop();
  }
  watcher.stop();
  log('native: stopping the API, the worker and temporal-server; dropping the databases');
  await sleep(2000);
  memory.markAfter('api');
  memory.markAfter('worker');
  await stopChild(api.process);
  await stopChild(worker);
  memory.markAfter('temporal-server');
  const mem = memory.report();
  memory.stop();
  await closeConnection();
  const stopStart = performance.now();
  await temporal.stop();
  log(`native: stopped and dropped in ${round((performance.now() - stopStart) / 1000, 1)} s`);

  const dynamicConfigFile = deps.dynamicConfigFile ?? DYNAMIC_CONFIG_FILE;
  return {
    config: {
      server: 'temporal-server 1.31.0, PostgreSQL persistence + SQL visibility (postgres12 plugin)',
      historyShards: deps.historyShards,
      dynamicConfigFile,
      dynamicConfig: dynamicConfigSettings(dynamicConfigFile),
    },
    setupS: temporal.setupS,
    ceilings: { rawStartWorkflow: rawStart, rawOneActivity: rawActivity },
    webhookIntake: intake,
    endToEnd,
    /** End to end ÷ the one-activity ceiling in rounds alternating on this cluster, per saturating level. */
    endToEndPaired: pairedByLevel,
    memory: mem,
  };
}

export type NativeReport = Awaited<ReturnType<typeof measureNative>>;
