import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import {
  findFreePort,
  startDevServer,
  type DevServer,
  type SqliteSynchronous,
} from '../../src/temporal/dev-server.js';
import { startSupervised } from '../../src/supervised-process.js';
import type { FakeResend } from '../../test/helpers/fake-resend.js';
import { measureOneActivity, measureRawStart, startOneActivityCeiling } from './ceilings.js';
import { startCpuAccount, type CpuAccount } from './cpu.js';
import {
  createArrivalWatcher,
  createWebhookDriver,
  measureEndToEnd,
  type EndToEndResult,
  type WebhookDriver,
} from './end-to-end.js';
import { httpLoad, ratio, round, summarizeLatencies, type LoadResult } from './load.js';
import { readRss } from './memory.js';
import { once } from './native.js';
import { measurePaired, PAIRED_ROUNDS, type PairedSummary } from './paired.js';
import { BENCH_LIMITS, seedAccount } from './stack.js';

/*
 * `npm start` (the embedded default, README "What `npm start` does") measured as people first meet it: the start
 * script's own command (`node --import tsx src/dev.ts`: the API, the worker and PGlite in one Node process, which
 * starts the Temporal CLI dev server on a SQLite file with the pragmas src/dev.ts passes), on a fresh data directory
 * of the run's, beside the ceilings of the same Temporal configuration: a dev server on a fresh SQLite file with the
 * same pragmas. The two alternatives (synchronous=full, and SQLite's own default: no pragmas at all) are measured the
 * same way, so the choice src/dev.ts makes is a measured one. Every ceiling gets a fresh server and a fresh file (the
 * dev server slows down as executions pile up); the Hookflow phases share one `npm start`, as a user would, each
 * starting once the runs of the one before have all sent their email.
 */

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * How the dev server writes its SQLite file: WAL with synchronous=normal (what `npm start` does by default), WAL with
 * synchronous=full (TEMPORAL_DEV_SQLITE_SYNCHRONOUS=full), or no pragmas (SQLite's default: a rollback journal,
 * every commit synced).
 */
export type SqliteSetting = 'wal-normal' | 'wal-full' | 'sqlite-default';
export const SQLITE_SETTINGS: readonly SqliteSetting[] = ['wal-normal', 'wal-full', 'sqlite-default'];
/** The setting `npm start` runs with when TEMPORAL_DEV_SQLITE_SYNCHRONOUS is unset (src/config.ts). */
export const NPM_START_SQLITE: SqliteSetting = 'wal-normal';
const SYNCHRONOUS: Record<Exclude<SqliteSetting, 'sqlite-default'>, SqliteSynchronous> = {
  'wal-normal': 'normal',
  'wal-full': 'full',
};

/** Callers (and runs in flight) of the saturating phases: the ceilings and end to end. */
const IN_FLIGHT = 64;
/** The issue's bar for a sustainable rate: end-to-end p99 (webhook hit → email) at most this long. */
const SUSTAINABLE_P99_MS = 2000;
/** A step's intake keeps up when the webhooks answered 202 per second reach this share of the offered rate. */
const INTAKE_KEEPS_UP = 0.95;
/** The issue's memory bar for all processes of `npm start` together under 64 callers: 0.8 GiB. */
const MEMORY_GOAL_MIB = 0.8 * 1024;

export interface EmbeddedProfile {
  warmupS: number;
  /** Raw StartWorkflow ceiling (64 concurrent) and one-activity ceiling (64 in flight), per SQLite setting. */
  rawStartS: number;
  rawActivityS: number;
  /** Webhook latency at one caller (after a warm-up of warmupS). */
  webhookC1S: number;
  /** The 16-caller intake during which the emails arriving are counted; the backlog it leaves gives the drain rate. */
  intakeS: number;
  /** End to end, 64 runs in flight. */
  e2eS: number;
  /** The longest any backlog may take to drain before the phase is reported incomplete. */
  drainLimitS: number;
  /** Offered webhooks/s of the open-loop steps, in order; the search stops at the first step that fails. */
  rateSteps: readonly number[];
  rateStepS: number;
  /** The offered-rate search stops before a step that would start after this long. */
  rateBudgetS: number;
}

export function embeddedProfile(quick: boolean): EmbeddedProfile {
  return quick
    ? {
        warmupS: 1,
        rawStartS: 3,
        // At 64 in flight a one-activity run or an end-to-end run takes seconds here: a shorter window counts
        // one or two runs per caller, and the figure is mostly noise.
        rawActivityS: 8,
        webhookC1S: 3,
        intakeS: 6,
        e2eS: 8,
        drainLimitS: 60,
        rateSteps: [10, 20, 30, 40, 60, 80, 120],
        rateStepS: 5,
        rateBudgetS: 45,
      }
    : {
        warmupS: 2,
        rawStartS: 10,
        rawActivityS: 15,
        webhookC1S: 10,
        intakeS: 20,
        e2eS: 20,
        drainLimitS: 180,
        rateSteps: [5, 10, 15, 20, 25, 30, 35, 40, 50, 60, 80, 100, 130, 160],
        rateStepS: 15,
        rateBudgetS: 300,
      };
}

// --- processes under /proc -------------------------------------------------------------------------------------------

/** The argv of a process, or undefined once it exited. */
function commandLine(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return undefined;
  }
}

/** The command name of a process (`/proc/<pid>/comm`), `?` once it exited. */
function processName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** Every process descending from `root` (children, their children, …), from the parent pids in /proc. */
function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) start at the last ')': state, then the parent pid.
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // exited meanwhile
    }
  }
  const found: number[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

const isAlive = (pid: number) => existsSync(`/proc/${pid}`);

/**
 * The resident memory of a whole process tree (`npm start`: the Node process, the dev server's watchdog shells, the
 * dev server), sampled every `intervalMs`, with the peak of the simultaneous sum per phase and per process role, so
 * "all processes together under 64 callers" is one figure read at one moment, not a sum of peaks.
 */
function createTreeMemorySampler(root: number, roleOf: (pid: number) => string, intervalMs = 250) {
  interface PhaseMemory {
    /** Highest simultaneous sum of the tree's RSS seen in the phase. */
    peakSumMiB: number;
    /** Highest RSS of each role seen in the phase (a role's processes summed, e.g. the two watchdog shells). */
    peakByRoleMiB: Record<string, number>;
  }
  const phases = new Map<string, PhaseMemory>();
  const pidsByRole = new Map<string, Set<number>>();
  let current: PhaseMemory | undefined;
  const sample = () => {
    if (!current) return;
    const byRole: Record<string, number> = {};
    for (const pid of [root, ...descendantsOf(root)]) {
      const reading = readRss(pid);
      if (!reading) continue;
      const role = roleOf(pid);
      byRole[role] = round((byRole[role] ?? 0) + reading.rssMiB, 1);
      pidsByRole.set(role, (pidsByRole.get(role) ?? new Set()).add(pid));
    }
    const sum = round(
      Object.values(byRole).reduce((a, b) => a + b, 0),
      1,
    );
    current.peakSumMiB = Math.max(current.peakSumMiB, sum);
    for (const [role, mib] of Object.entries(byRole))
      current.peakByRoleMiB[role] = Math.max(current.peakByRoleMiB[role] ?? 0, mib);
  };
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  return {
    /** Samples from now on count towards `name` (the phase before it ends); a phase entered again keeps its peaks. */
    phase(name: string): void {
      sample();
      current = phases.get(name) ?? { peakSumMiB: 0, peakByRoleMiB: {} };
      phases.set(name, current);
      sample();
    },
    report() {
      sample();
      // The kernel's own peak (VmHWM) of each process over its life, start-up included (a sampled peak can miss a
      // spike between samples); a role's processes summed, read while they still run.
      const lifetimePeakByRoleMiB: Record<string, number> = {};
      for (const [role, pids] of pidsByRole) {
        const hwm = [...pids].reduce((total, pid) => total + (readRss(pid)?.hwmMiB ?? 0), 0);
        if (hwm > 0) lifetimePeakByRoleMiB[role] = round(hwm, 1);
      }
      return { phases: Object.fromEntries(phases), lifetimePeakByRoleMiB };
    },
    stop: () => clearInterval(timer),
  };
}

// --- Temporal dev servers on a SQLite file -------------------------------------------------------------------------

/**
 * A headless dev server on `dbFile` written with `setting`, started by src/temporal/dev-server.ts (the code `npm start`
 * runs, so the ceilings follow whatever pragmas it passes).
 */
function startFileDevServer(cliPath: string, dbFile: string, setting: SqliteSetting): Promise<DevServer> {
  return startDevServer({
    cliPath,
    port: 0,
    uiPort: 0,
    dbFile,
    ...(setting === 'sqlite-default'
      ? { sqliteDefaults: true }
      : { sqliteSynchronous: SYNCHRONOUS[setting] }),
  });
}

export interface SqliteCeilings {
  /** What was seen next to the file while the server ran: a `-wal` file means the log is in WAL mode. */
  walFileSeen: boolean;
  rawStartWorkflow: Record<string, LoadResult>;
  rawOneActivity: Record<string, LoadResult>;
  /** The one-activity ceiling with a local activity instead: measured for npm start's own setting only. */
  rawOneLocalActivity?: Record<string, LoadResult>;
}

interface CeilingDeps {
  cliPath: string;
  workDir: string;
  ceilingBundle: string;
  runTag: string;
  profile: EmbeddedProfile;
  log: (message: string) => void;
  onCleanup: (stop: () => Promise<unknown>) => void;
}

/**
 * Raw start at each of `rawStartLevels` (concurrent callers) and the one-activity ceiling (64 in flight), with a
 * local activity too when `local`, each on a fresh server and file.
 */
async function measureSqliteCeilings(
  deps: CeilingDeps,
  setting: SqliteSetting,
  rawStartLevels: readonly number[],
  local: boolean,
): Promise<SqliteCeilings> {
  const { profile } = deps;
  let walFileSeen = false;
  const withServer = async <T>(
    name: string,
    phase: (server: DevServer, client: Client) => Promise<T>,
  ): Promise<T> => {
    const dbFile = join(deps.workDir, `ceiling-${setting}-${name}.db`);
    const server = await startFileDevServer(deps.cliPath, dbFile, setting);
    const stop = once(async () => {
      await server.stop();
      for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${dbFile}${suffix}`, { force: true });
    });
    deps.onCleanup(stop);
    const connection = await Connection.connect({ address: server.address });
    try {
      const result = await phase(server, new Client({ connection, namespace: 'default' }));
      walFileSeen ||= existsSync(`${dbFile}-wal`);
      return result;
    } finally {
      await connection.close();
      await stop();
    }
  };
  const rawStart: Record<string, LoadResult> = {};
  for (const concurrency of rawStartLevels) {
    deps.log(`npm start's configuration: raw StartWorkflow, ${concurrency} concurrent, SQLite ${setting}`);
    rawStart[`c${concurrency}`] = await withServer(`raw-start-c${concurrency}`, (server, client) =>
      measureRawStart({
        client,
        concurrency,
        temporalPid: server.pid,
        idPrefix: `embedded-${deps.runTag}-${setting}-c${concurrency}`,
        durationS: profile.rawStartS,
        warmupS: profile.warmupS,
      }),
    );
  }
  const oneActivity = (kind: 'one-activity' | 'one-local-activity') => {
    deps.log(`npm start's configuration: raw ${kind} workflow, ${IN_FLIGHT} in flight, SQLite ${setting}`);
    return withServer(kind, (server, client) =>
      measureOneActivity({
        client,
        address: server.address,
        temporalPid: server.pid,
        taskQueue: `embedded-ceiling-${deps.runTag}-${setting}`,
        workflowBundle: deps.ceilingBundle,
        levels: [{ concurrency: IN_FLIGHT, durationS: profile.rawActivityS }],
        warmupS: profile.warmupS,
        // The ceiling's worker runs with the environment npm start's script sets (its NODE_OPTIONS heap limits).
        extraEnv: npmStartCommand().env,
        onCleanup: deps.onCleanup,
        local: kind === 'one-local-activity',
      }),
    );
  };
  const rawActivity = await oneActivity('one-activity');
  const rawLocalActivity = local ? await oneActivity('one-local-activity') : undefined;
  return {
    walFileSeen,
    rawStartWorkflow: rawStart,
    rawOneActivity: rawActivity,
    ...(rawLocalActivity && { rawOneLocalActivity: rawLocalActivity }),
  };
}

// --- npm start ------------------------------------------------------------------------------------------------------

/**
 * package.json's `start` script as node arguments and the environment it sets: the bench runs exactly that, so a
 * change to the script (NODE_OPTIONS, another entrypoint) is measured without anyone editing the bench. Understands
 * `[NAME="value" …] [exec] node <args>`, the only shape the script has had; anything else fails loudly.
 */
export function npmStartCommand(): { script: string; nodeArgs: string[]; env: Record<string, string> } {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  const script = pkg.scripts?.start ?? '';
  const words = script.match(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g) ?? [];
  const unquote = (word: string) => word.replace(/^(["'])(.*)\1$/, '$2');
  const env: Record<string, string> = {};
  let index = 0;
  for (;;) {
    const assignment = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(words[index] ?? '');
    if (!assignment) break;
    // `$NODE_OPTIONS` and the like are the caller's own settings: the bench's callers have none.
    env[assignment[1] ?? ''] = unquote(assignment[2] ?? '')
      .replace(/\$\{?[A-Z_][A-Z0-9_]*\}?/g, '')
      .trim();
    index++;
  }
  if (words[index] === 'exec') index++;
  const nodeArgs = words.slice(index + 1).map(unquote);
  if (words[index] !== 'node' || nodeArgs.some((arg) => /[$`|&;<>]/.test(arg))) {
    throw new Error(
      `package.json's start script is not "[NAME=value …] [exec] node <args>" (${JSON.stringify(script)}): ` +
        'teach npmStartCommand in bench/lib/embedded.ts its new shape',
    );
  }
  return { script, nodeArgs, env: Object.fromEntries(Object.entries(env).filter(([, value]) => value)) };
}

interface NpmStart {
  baseUrl: string;
  /** The dev server npm start runs, as a Temporal client reaches it. */
  temporalAddress: string;
  nodePid: number;
  temporalPid: number;
  /** From the spawn to /readyz answering 200. */
  startupS: number;
  /** Lines the process printed at level warn or above (pino's JSON levels 40+ or the words), and the first few. */
  problems: { lines: number; samples: string[] };
  output(): string;
  stop(): Promise<void>;
}

/** Distinct free ports (findFreePort releases each one, so two calls could in principle hand out the same). */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await findFreePort());
  return [...ports];
}

/**
 * `npm start` on a data directory of the run's: the Temporal file and PGlite in `dataDir`, every port free, the three
 * keys src/dev.ts would otherwise generate into `.data/` under the current directory (the repository) given through
 * the environment instead, emails through the Resend SDK to the fake, the bench's limits. Nothing else is set: the
 * dev server's SQLite setting, the log level and NODE_ENV are npm start's defaults. Launched under the same watchdog
 * npm start puts its dev server under, so it cannot outlive the bench even if the bench is killed outright.
 */
async function startNpmStart(options: {
  cliPath: string;
  dataDir: string;
  resendUrl: string;
  extraEnv: Record<string, string>;
  onCleanup: (stop: () => Promise<unknown>) => void;
}): Promise<NpmStart> {
  const command = npmStartCommand();
  const [port, temporalPort, uiPort, metricsPort, codecPort] = await freePorts(5);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    ...command.env,
    TEMPORAL_CLI_PATH: options.cliPath,
    TEMPORAL_DEV_DB_FILE: join(options.dataDir, 'temporal.db'),
    PGLITE_DATA_DIR: join(options.dataDir, 'pglite'),
    PORT: String(port),
    TEMPORAL_DEV_PORT: String(temporalPort),
    TEMPORAL_DEV_UI_PORT: String(uiPort),
    WORKER_METRICS_PORT: String(metricsPort),
    PAYLOAD_CODEC_PORT: String(codecPort),
    JWT_SECRET: randomBytes(32).toString('hex'),
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    PAYLOAD_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    RESEND_BASE_URL: options.resendUrl,
    ...BENCH_LIMITS,
    ...options.extraEnv,
  };
  const problems = { lines: 0, samples: [] as string[] };
  const started = performance.now();
  const program = startSupervised('npm start', process.execPath, command.nodeArgs, {
    env,
    cwd: repoRoot,
    log: (line) => {
      if (!/"level":(4|5|6)\d|\b(warn|warning|error|fatal)\b/i.test(line)) return;
      problems.lines += 1;
      if (problems.samples.length < 5) problems.samples.push(line.slice(0, 500));
    },
  });
  const devServerUnder = (nodePid: number) =>
    descendantsOf(nodePid).find((pid) => commandLine(pid)?.[0] === options.cliPath);
  const stop = once(async () => {
    // The dev server stops with the Node process (its own watchdog sees the pipe close): note its pid while it is
    // still under the Node process, then wait until it has gone too.
    const devServer = await program.pid().then(devServerUnder, () => undefined);
    await program.stop(30_000);
    const deadline = Date.now() + 15_000;
    while (devServer !== undefined && isAlive(devServer) && Date.now() < deadline) await sleep(100);
    if (devServer !== undefined && isAlive(devServer)) process.kill(devServer, 'SIGKILL');
  });
  options.onCleanup(stop);
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (program.hasExited()) throw new Error(`npm start exited during start-up:\n${program.output()}`);
    if (Date.now() > deadline) throw new Error(`npm start not ready within 180 s:\n${program.output()}`);
    const ready = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(5000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) break;
    await sleep(200);
  }
  const startupS = round((performance.now() - started) / 1000, 1);
  const nodePid = await program.pid();
  const temporalPid = devServerUnder(nodePid);
  if (temporalPid === undefined)
    throw new Error('npm start is ready but no Temporal dev server runs under it');
  return {
    baseUrl,
    temporalAddress: `127.0.0.1:${temporalPort}`,
    nodePid,
    temporalPid,
    startupS,
    problems,
    output: () => program.output(),
    stop,
  };
}

// --- backlogs and rates -----------------------------------------------------------------------------------------------

/** Emails the fake accepted per second between two moments (epoch ms). */
function emailsPerSecond(resend: FakeResend, fromIndex: number, start: number, end: number): number {
  const count = resend.emails
    .slice(fromIndex)
    .filter((e) => e.receivedAt >= start && e.receivedAt <= end).length;
  return round(count / Math.max(0.001, (end - start) / 1000), 1);
}

/** No new email for this long once the expected count is reached: the backlog is empty. */
const DRAIN_QUIET_MS = 500;

/**
 * Waits until the fake holds `expected` emails from index `fromIndex` on (every webhook answered 202 sends one) and
 * then none arrives for DRAIN_QUIET_MS (autocannon stops counting at its deadline, so up to one hit per caller can be
 * accepted uncounted and still send), then says how the backlog left at `intakeEnd` drained: its size, how long it
 * took, the emails per second meanwhile.
 */
async function drainAfter(
  resend: FakeResend,
  options: { fromIndex: number; expected: number; intakeEnd: number; limitS: number },
) {
  const deadline = Date.now() + options.limitS * 1000;
  while (resend.emails.length - options.fromIndex < options.expected && Date.now() < deadline)
    await sleep(20);
  for (let seen = -1; seen !== resend.emails.length && Date.now() < deadline;) {
    seen = resend.emails.length;
    await sleep(DRAIN_QUIET_MS);
  }
  const emails = resend.emails.slice(options.fromIndex);
  const afterIntake = emails.filter((e) => e.receivedAt > options.intakeEnd);
  const lastAt = emails.reduce((last, e) => Math.max(last, e.receivedAt), options.intakeEnd);
  const drainS = (lastAt - options.intakeEnd) / 1000;
  return {
    /** Runs without their email when the intake ended. */
    backlogAtIntakeEnd: afterIntake.length,
    emailed: emails.length,
    expected: options.expected,
    complete: emails.length >= options.expected,
    drainS: round(drainS),
    /** Emails per second from the end of the intake to the last email: the drain rate with no intake. */
    perSecond: drainS > 0 ? round(afterIntake.length / drainS, 1) : null,
  };
}

/** Nearest-rank percentile where the runs that never arrived count as slower than any that did. */
function percentileWithMissing(latencies: readonly number[], missing: number, q: number): number | null {
  const sorted = [...latencies].sort((a, b) => a - b);
  const rank = Math.ceil(q * (sorted.length + missing)) - 1;
  return rank < sorted.length ? round(sorted[Math.max(0, rank)] ?? 0) : null;
}

export interface RateStep {
  offeredPerSecond: number;
  /** Webhooks actually sent per second (the bench's own timer may lag). */
  sentPerSecond: number;
  sent: number;
  accepted: number;
  /** Webhooks answered 202 per second, from the first send to the last answer. */
  acceptedPerSecond: number;
  webhookLatencyMs: ReturnType<typeof summarizeLatencies>;
  /** Hit → email of the runs that arrived, and how many had not within the wait. */
  hitToEmailMs: ReturnType<typeof summarizeLatencies>;
  missing: number;
  /** p99 hit → email with the missing runs counted as slowest; null when they are the p99 itself. */
  p99Ms: number | null;
  cpuCores: Record<string, number>;
  passed: boolean;
  failedBecause: string[];
}

/**
 * One open-loop step: webhooks sent on a fixed schedule of `rate` per second for `durationS` whatever the answers
 * (each on its own connection slot, none waiting for another), then up to `waitS` for their emails.
 */
async function offerRate(
  driver: WebhookDriver,
  options: { rate: number; durationS: number; waitS: number; processes: Record<string, number> },
): Promise<RateStep> {
  const total = Math.max(1, Math.round(options.rate * options.durationS));
  const accepted: number[] = [];
  const webhookLatencies: number[] = [];
  let rejected = 0;
  let firstError: string | undefined;
  let lastAnswerAt = performance.now();
  const cpu = startCpuAccount(options.processes);
  const t0 = performance.now();
  const deliveries: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const wait = t0 + (i * 1000) / options.rate - performance.now();
    if (wait > 0) await sleep(wait);
    const seq = driver.nextSeq();
    const sentAt = performance.now();
    deliveries.push(
      driver.deliver(seq).then(
        () => {
          lastAnswerAt = performance.now();
          webhookLatencies.push(lastAnswerAt - sentAt);
          accepted.push(seq);
        },
        (error: unknown) => {
          rejected += 1;
          firstError ??= error instanceof Error ? error.message : String(error);
        },
      ),
    );
  }
  const sendS = (performance.now() - t0) / 1000 + 1 / options.rate;
  await Promise.all(deliveries);
  const acceptS = (lastAnswerAt - t0) / 1000 + 1 / options.rate;
  const waitUntil = Date.now() + options.waitS * 1000;
  const arrived = (seq: number) => driver.watcher.arrivals.has(seq);
  while (!accepted.every(arrived) && Date.now() < waitUntil) await sleep(50);
  const cpuCores = cpu.stop();
  const hitToEmail = driver.hitToArrival(accepted);
  const missing = accepted.filter((seq) => !arrived(seq)).length;
  const latencies = accepted.flatMap((seq) => driver.hitToArrivalOf(seq) ?? []);
  const p99Ms = percentileWithMissing(latencies, missing, 0.99);
  const acceptedPerSecond = round(accepted.length / acceptS, 1);
  const failedBecause = [
    ...(rejected > 0 ? [`${rejected} webhooks not accepted (${firstError ?? '?'})`] : []),
    ...(acceptedPerSecond < INTAKE_KEEPS_UP * options.rate
      ? [`intake fell behind: ${acceptedPerSecond}/s accepted of ${options.rate}/s offered`]
      : []),
    ...(p99Ms === null || p99Ms > SUSTAINABLE_P99_MS
      ? [`p99 hit → email ${p99Ms === null ? `beyond the ${options.waitS} s wait` : `${p99Ms} ms`}`]
      : []),
  ];
  return {
    offeredPerSecond: options.rate,
    sentPerSecond: round(total / sendS, 1),
    sent: total,
    accepted: accepted.length,
    acceptedPerSecond,
    webhookLatencyMs: summarizeLatencies(webhookLatencies),
    hitToEmailMs: hitToEmail,
    missing,
    p99Ms,
    cpuCores,
    passed: failedBecause.length === 0,
    failedBecause,
  };
}

// --- the phases ---------------------------------------------------------------------------------------------------

export interface EmbeddedDeps extends CeilingDeps {
  resend: FakeResend;
  /** The SQLite settings whose ceilings are measured (default all three; fewer to try npm start settings quickly). */
  ceilingSettings?: readonly SqliteSetting[];
  /** More environment for npm start, to try a setting (e.g. NODE_OPTIONS); recorded in the report. */
  npmStartEnv?: Record<string, string>;
}

/** The SQLite ceilings, then `npm start` through every phase; see the comment at the top of this file. */
export async function measureEmbedded(deps: EmbeddedDeps) {
  const { profile, log, resend } = deps;
  const inFlight = `c${IN_FLIGHT}`;

  // --- ceilings of the same server configuration, and of the two other SQLite settings ------------------------------
  const ceilings: Partial<Record<SqliteSetting, SqliteCeilings>> = {};
  for (const setting of deps.ceilingSettings ?? SQLITE_SETTINGS)
    // At one caller too for npm start's own setting: the least a webhook's StartWorkflow can take there, the floor
    // under the webhook latency at one caller; and with a local activity, what the email send would gain as one.
    ceilings[setting] = await measureSqliteCeilings(
      deps,
      setting,
      setting === NPM_START_SQLITE ? [1, IN_FLIGHT] : [IN_FLIGHT],
      setting === NPM_START_SQLITE,
    );
  type CeilingMeasure = 'rawStartWorkflow' | 'rawOneActivity';
  /** A ceiling of this run in runs/s; 0 when that setting was not measured. */
  const ceilingOf = (setting: SqliteSetting, measure: CeilingMeasure) =>
    ceilings[setting]?.[measure][inFlight]?.perSecond ?? 0;
  const chosen: Omit<SqliteCeilings, 'walFileSeen'> = ceilings[NPM_START_SQLITE] ?? {
    rawStartWorkflow: {},
    rawOneActivity: {},
  };
  /** Each setting's ceilings ÷ npm start's (wal-normal) of this run. */
  const sqliteToNpmStart = Object.fromEntries(
    Object.keys(ceilings).map((key) => {
      const setting = key as SqliteSetting;
      const toChosen = (measure: CeilingMeasure) =>
        ratio(ceilingOf(setting, measure), ceilingOf(NPM_START_SQLITE, measure));
      return [
        setting,
        { rawStartWorkflow: toChosen('rawStartWorkflow'), rawOneActivity: toChosen('rawOneActivity') },
      ];
    }),
  ) as Partial<Record<SqliteSetting, Record<CeilingMeasure, number | null>>>;

  // --- npm start -------------------------------------------------------------------------------------------------
  log('npm start: node --import tsx src/dev.ts on a fresh data directory (dev server, PGlite, worker, API)');
  const dataDir = join(deps.workDir, `npm-start-${deps.runTag}`);
  deps.onCleanup(() => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })));
  const app = await startNpmStart({
    cliPath: deps.cliPath,
    dataDir,
    resendUrl: resend.url,
    extraEnv: deps.npmStartEnv ?? {},
    onCleanup: deps.onCleanup,
  });
  const processes = { node: app.nodePid, temporal: app.temporalPid };
  // Anything else under the Node process is named by its command: the dev server's watchdog shells (sh), or a helper
  // a dependency starts (esbuild's service for tsx, say), so nothing in the sum goes unexplained.
  const roleOf = (pid: number) =>
    pid === app.nodePid
      ? 'node (API + worker + PGlite)'
      : pid === app.temporalPid
        ? 'temporal dev server'
        : processName(pid);
  const memory = createTreeMemorySampler(app.nodePid, roleOf);
  deps.onCleanup(() => Promise.resolve(memory.stop()));
  memory.phase('ready, idle');
  await sleep(1000);

  const account = await seedAccount(app.baseUrl, 1);
  const hookUrl = `${app.baseUrl}/hooks/${account.tokens[0]}`;
  const webhookBody = JSON.stringify({ email: 'bench@example.com', name: 'Bench', seq: 0 });
  const watcher = createArrivalWatcher(
    () => resend.emails,
    (email) => ({ seq: Number(/^bench (\d+)$/.exec(email.subject)?.[1]), at: email.receivedAt }),
  );
  deps.onCleanup(() => Promise.resolve(watcher.stop()));
  const driver = createWebhookDriver(hookUrl, watcher);
  const answers: Record<string, number> = {};
  const countAnswers = (statuses: Record<string, number> | undefined) => {
    for (const [status, n] of Object.entries(statuses ?? {})) answers[status] = (answers[status] ?? 0) + n;
  };
  /** autocannon at `connections` callers against the webhook for `durationS`; its answers are counted by status. */
  const webhookLoad = async (connections: number, durationS: number) => {
    let cpu: CpuAccount | undefined;
    const result = await httpLoad({
      url: hookUrl,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: webhookBody,
      connections,
      durationS,
      onMeasureStart: () => (cpu = startCpuAccount(processes)),
    });
    countAnswers(result.statuses);
    return { ...result, cpuCores: cpu?.stop() };
  };

  // Webhook latency at one caller. The worker always runs under npm start, so the runs these hits start are being
  // worked on meanwhile, as they would be for a user; the next phase waits until all of them have sent their email.
  log('npm start: webhook latency, 1 caller');
  memory.phase('webhook, 1 caller');
  let fromIndex = resend.emails.length;
  const warmup = await webhookLoad(1, profile.warmupS);
  const webhookC1 = await webhookLoad(1, profile.webhookC1S);
  const afterC1 = await drainAfter(resend, {
    fromIndex,
    expected: (warmup.statuses?.['202'] ?? 0) + (webhookC1.statuses?.['202'] ?? 0),
    intakeEnd: Date.now(),
    limitS: profile.drainLimitS,
  });

  // 16 callers for intakeS: webhook latency at 16, and the emails that arrive meanwhile (the worker sharing the
  // process and the machine with the intake). The callers fire far faster than the runs complete, so a backlog builds;
  // from the moment the last hit is accepted it drains with no intake: the drain rate the email rate during the intake
  // is compared with (both on the same server, the same runs, minutes apart at most).
  log(`npm start: webhook intake, 16 callers for ${profile.intakeS} s, emails counted meanwhile`);
  memory.phase('intake, 16 callers, then its drain');
  fromIndex = resend.emails.length;
  const intakeStart = Date.now();
  const webhookC16 = await webhookLoad(16, profile.intakeS);
  const intakeEnd = Date.now();
  const emailsDuringIntakePerSecond = emailsPerSecond(resend, fromIndex, intakeStart, intakeEnd);
  log('npm start: the 16-caller intake drains');
  const drainAfterIntake = await drainAfter(resend, {
    fromIndex,
    expected: webhookC16.statuses?.['202'] ?? 0,
    intakeEnd,
    limitS: profile.drainLimitS,
  });

  // End to end at 64 in flight, against the one-activity ceiling of the same server configuration: in rounds that
  // alternate Hookflow's runs (the bare worker idle) with a bare worker's one-activity runs on npm start's own dev
  // server (npm start idle meanwhile), so both sides of each ratio meet the same server state and, seconds apart, the
  // same machine.
  log(
    `npm start: end to end and the one-activity ceiling on its own dev server, ${PAIRED_ROUNDS} alternating rounds`,
  );
  const sameServerConnection = await Connection.connect({ address: app.temporalAddress });
  const closeSameServerConnection = once(() => sameServerConnection.close());
  deps.onCleanup(closeSameServerConnection);
  const sameServerCeiling = await startOneActivityCeiling({
    client: new Client({ connection: sameServerConnection, namespace: 'default' }),
    address: app.temporalAddress,
    temporalPid: app.temporalPid,
    taskQueue: `embedded-paired-${deps.runTag}`,
    workflowBundle: deps.ceilingBundle,
    warmupS: profile.warmupS,
    extraEnv: npmStartCommand().env,
    onCleanup: deps.onCleanup,
  });
  let endToEnd: Record<string, EndToEndResult> = {};
  let paired: PairedSummary;
  try {
    paired = await measurePaired({
      endToEnd: async (pairedRound) => {
        // Round 1's end to end comes straight after the intake's drain, as when it was a phase of its own, so its
        // memory (the goal's figure under 64 callers) and its ratio to the fresh server's ceiling stay comparable
        // with earlier runs; the dev server grows with every run it holds, the ceiling's runs included.
        memory.phase(pairedRound === 1 ? `end to end, ${IN_FLIGHT} in flight` : 'end to end, later rounds');
        const roundEndToEnd = await measureEndToEnd({
          driver,
          levels: [{ concurrency: IN_FLIGHT, durationS: profile.e2eS }],
          warmupS: profile.warmupS,
          processes,
          rawOneActivity: chosen.rawOneActivity,
          log,
          label: `npm start: round ${pairedRound}, end to end`,
        });
        if (pairedRound === 1) endToEnd = roundEndToEnd;
        return roundEndToEnd[inFlight];
      },
      ceiling: (pairedRound) => {
        log(`npm start: round ${pairedRound}, the one-activity ceiling on npm start's dev server`);
        // npm start's tree holds the dev server, which serves the ceiling's runs too: its memory meanwhile is kept
        // apart from the figure under Hookflow's own 64 callers.
        memory.phase(`one-activity ceiling on npm start's dev server, ${IN_FLIGHT} in flight`);
        return sameServerCeiling.measure(IN_FLIGHT, profile.rawActivityS);
      },
    });
  } finally {
    await sameServerCeiling.stop();
    await closeSameServerConnection();
  }

  // The largest offered rate with end-to-end p99 ≤ 2 s: open-loop steps, each from an empty backlog (a passing
  // step's runs have all arrived); the search ends at the first failing step or when its time budget is spent.
  memory.phase('offered rates');
  const rateSteps: RateStep[] = [];
  const searchStart = performance.now();
  for (const rate of profile.rateSteps) {
    if ((performance.now() - searchStart) / 1000 + profile.rateStepS > profile.rateBudgetS) {
      log(`npm start: the offered-rate search stops before ${rate}/s (its ${profile.rateBudgetS} s budget)`);
      break;
    }
    log(`npm start: ${rate} webhooks/s offered for ${profile.rateStepS} s`);
    const step = await offerRate(driver, {
      rate,
      durationS: profile.rateStepS,
      waitS: Math.max(10, profile.rateStepS),
      processes,
    });
    rateSteps.push(step);
    if (!step.passed) {
      log(`npm start: ${rate}/s is not sustained: ${step.failedBecause.join('; ')}`);
      break;
    }
  }
  const passing = rateSteps.filter((step) => step.passed);
  const lastPassing = passing.at(-1);
  const maxSustainable = {
    /** The largest offered rate that passed; null when even the first step failed. */
    perSecond: lastPassing?.offeredPerSecond ?? null,
    /** The first offered rate that failed; null when every step tried passed (the true maximum may be higher). */
    firstFailingPerSecond: rateSteps.find((step) => !step.passed)?.offeredPerSecond ?? null,
    criteria: `end-to-end p99 ≤ ${SUSTAINABLE_P99_MS} ms, every webhook answered 202, ≥ ${INTAKE_KEEPS_UP * 100}% of the offered rate accepted`,
    steps: rateSteps,
  };
  countAnswers(driver.statuses);

  log('npm start: stopping (Ctrl-C path: API, worker, dev server)');
  watcher.stop();
  const mem = memory.report();
  memory.stop();
  const stopStart = performance.now();
  await app.stop();
  const stopS = round((performance.now() - stopStart) / 1000, 1);

  // --- ratios and goals ---------------------------------------------------------------------------------------------
  const drainRatio = ratio(emailsDuringIntakePerSecond, drainAfterIntake.perSecond ?? 0);
  const peakUnder64CallersMiB = mem.phases[`end to end, ${IN_FLIGHT} in flight`]?.peakSumMiB ?? 0;
  const chosenShareOfBest = (measure: CeilingMeasure) =>
    ratio(
      ceilingOf(NPM_START_SQLITE, measure),
      Math.max(...SQLITE_SETTINGS.map((setting) => ceilingOf(setting, measure))),
    );
  const goals = [
    {
      name: `SQLite setting chosen by measurement: ${NPM_START_SQLITE}'s raw start and one-activity ceilings within 10% of the best of the three settings`,
      target: 0.9,
      actual: Math.min(chosenShareOfBest('rawStartWorkflow') ?? 0, chosenShareOfBest('rawOneActivity') ?? 0),
      met:
        (chosenShareOfBest('rawStartWorkflow') ?? 0) >= 0.9 &&
        (chosenShareOfBest('rawOneActivity') ?? 0) >= 0.9,
    },
    {
      name: `end to end ≥ 80% of the raw one-activity ceiling of the same configuration (${IN_FLIGHT} in flight; median of ${PAIRED_ROUNDS} rounds alternating on npm start's own dev server)`,
      target: 0.8,
      actual: paired.medianRatio,
      met: (paired.medianRatio ?? 0) >= 0.8,
    },
    {
      name: 'emails/s during a 16-caller intake ≥ 70% of the drain rate with no intake',
      target: 0.7,
      actual: drainRatio,
      met: (drainRatio ?? 0) >= 0.7,
    },
    {
      name: `maximum sustainable rate reported (webhooks/s with end-to-end p99 ≤ ${SUSTAINABLE_P99_MS} ms)`,
      target: 'reported',
      actual: maxSustainable.perSecond,
      met: maxSustainable.perSecond !== null,
    },
    {
      name: 'webhook p50 at 1 caller ≤ 10 ms',
      target: 10,
      actual: webhookC1.latencyMs.p50,
      met: webhookC1.ok > 0 && webhookC1.latencyMs.p50 <= 10,
    },
    {
      name: `all processes of npm start together ≤ 0.8 GiB (${MEMORY_GOAL_MIB} MiB) at peak under ${IN_FLIGHT} callers`,
      target: MEMORY_GOAL_MIB,
      actual: peakUnder64CallersMiB,
      met: peakUnder64CallersMiB > 0 && peakUnder64CallersMiB <= MEMORY_GOAL_MIB,
    },
  ];

  const localActivity = {
    perSecond: chosen.rawOneLocalActivity?.[inFlight]?.perSecond ?? null,
    /** The local-activity ceiling ÷ the one-activity ceiling, same setting, same run. */
    ratioToOneActivity: ratio(
      chosen.rawOneLocalActivity?.[inFlight]?.perSecond ?? 0,
      ceilingOf(NPM_START_SQLITE, 'rawOneActivity'),
    ),
  };

  return {
    config: {
      command: `node ${npmStartCommand().nodeArgs.join(' ')}`,
      startScript: npmStartCommand().script,
      nodeOptions: npmStartCommand().env.NODE_OPTIONS ?? null,
      sqlite: NPM_START_SQLITE,
      /** Environment added to npm start's to try a setting (bench/embedded.ts --env); empty when measured as shipped. */
      extraEnv: deps.npmStartEnv ?? {},
      notes: [
        "npm start is package.json's start script run as written (node and its arguments, the environment it sets), cwd the repository; its dev server keeps its Web UI (as for a user), the ceilings' servers are headless.",
        `Environment: data under a fresh temporary directory (TEMPORAL_DEV_DB_FILE, PGLITE_DATA_DIR), free ports (PORT, TEMPORAL_DEV_PORT, TEMPORAL_DEV_UI_PORT, WORKER_METRICS_PORT, PAYLOAD_CODEC_PORT), JWT_SECRET / SECRETS_ENCRYPTION_KEY / PAYLOAD_ENCRYPTION_KEYS given (so nothing is written to the repository's .data/), RESEND_BASE_URL to the fake and the bench limits (${Object.keys(BENCH_LIMITS).join(', ')}). LOG_LEVEL, NODE_ENV and TEMPORAL_DEV_SQLITE_SYNCHRONOUS unset: npm start's defaults.`,
        `Ceilings: a fresh dev server on a fresh SQLite file per ceiling and setting (${SQLITE_SETTINGS.join(', ')}); the one-activity worker (bench/ceiling/worker.ts) runs with the NODE_OPTIONS npm start's script sets.`,
        'The Hookflow phases share one npm start and one account; each starts once every run of the one before has sent its email.',
        'Webhook latency at 1 and 16 callers: autocannon, with the worker working on the runs the hits start (it always runs under npm start).',
        'Drain: 16 callers post webhooks for intakeS (the emails arriving meanwhile give the rate during intake), then the backlog they leave drains with no intake: emails/s from the moment the last hit was answered until the last email.',
        `Memory: RSS of every process under the Node process (the dev server and its watchdog shells included), summed at each 250 ms sample; "under ${IN_FLIGHT} callers" is the highest sum seen during end to end at ${IN_FLIGHT} in flight (${IN_FLIGHT} callers, each posting its next webhook when the email of its last arrived). Memory grows with the runs done, so later phases can read higher: all phases and the lifetime peak are reported.`,
      ],
    },
    ceilings,
    sqliteToNpmStart,
    localActivity,
    startupS: app.startupS,
    stopS,
    webhook: {
      c1: { ...webhookC1, rawStartC1LatencyMs: chosen.rawStartWorkflow.c1?.latencyMs ?? null },
      c16: webhookC16,
    },
    drainAfterWebhookC1: afterC1,
    /** Round 1's end to end, its ratio to the fresh server's ceiling (`ceilings`) as before the paired rounds. */
    endToEnd,
    /** End to end ÷ the one-activity ceiling on npm start's own dev server, in alternating rounds. */
    endToEndPaired: paired,
    drain: {
      emailsDuringIntakePerSecond,
      intakeC16DurationS: round((intakeEnd - intakeStart) / 1000),
      drainAfterIntake,
      /** Emails/s during the 16-caller intake ÷ the drain rate of the backlog it left, with no intake. */
      duringToDrain: drainRatio,
    },
    maxSustainable,
    memory: { ...mem, peakUnder64CallersMiB },
    answersByStatus: answers,
    problemsLogged: app.problems,
    goals,
  };
}

export type EmbeddedReport = Awaited<ReturnType<typeof measureEmbedded>>;
