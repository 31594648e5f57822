import { accessSync, constants, mkdirSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { startSupervised, type SupervisedProcess } from '../supervised-process.js';
import { goIsAvailable, runBuildScript, scriptsDir } from './go-build.js';
import { hookflowSearchAttributes } from './search-attributes.js';

/** The Temporal CLI version that scripts/install-temporal-cli.sh builds. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

export class TemporalCliNotFoundError extends Error {
  constructor(tried: string[], failure?: string) {
    super(
      [
        'No Temporal CLI (the local dev server) could be found, built or downloaded.',
        `Looked in: ${tried.join('; ')}.`,
        failure ?? '',
        'Get one in either of these ways, then run the command again:',
        '  - build it from the Go module proxy (needs Go, takes a few minutes once): npm run temporal:install',
        '  - or install the Temporal CLI (https://docs.temporal.io/cli#install) and set TEMPORAL_CLI_PATH=/path/to/temporal',
        'Or point TEMPORAL_ADDRESS at a Temporal server that is already running.',
      ]
        .filter(Boolean)
        .join('\n'),
    );
    this.name = 'TemporalCliNotFoundError';
  }
}

export function hookflowCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HOOKFLOW_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'hookflow');
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds the Temporal CLI: TEMPORAL_CLI_PATH, then `temporal` on PATH, then the cache that
 * scripts/install-temporal-cli.sh builds into. Failing those it gets one: where Go is installed it runs that
 * script (the Go module proxy is reachable where the internet is not), otherwise the SDK's download (needs
 * internet). So `npm start` and the tests work first time on a fresh machine, a couple of minutes slower once.
 */
export async function findTemporalCli(
  options: { cliPath?: string; allowDownload?: boolean; log?: (line: string) => void } = {},
): Promise<string> {
  const tried: string[] = [];
  if (options.cliPath) {
    if (isExecutable(options.cliPath)) return options.cliPath;
    throw new TemporalCliNotFoundError([`TEMPORAL_CLI_PATH=${options.cliPath} (not an executable file)`]);
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'temporal');
    if (isExecutable(candidate)) return candidate;
  }
  tried.push('`temporal` on PATH');
  const cached = join(hookflowCacheDir(), `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal');
  if (isExecutable(cached)) return cached;
  tried.push(cached);
  if (options.allowDownload === false) throw new TemporalCliNotFoundError(tried);
  if (goIsAvailable()) {
    try {
      return await buildTemporalCli(options.log);
    } catch (error) {
      throw new TemporalCliNotFoundError(tried, (error as Error).message);
    }
  }
  tried.push('a build from the Go module proxy (no `go` on PATH)');
  const downloadDir = join(hookflowCacheDir(), 'sdk-download');
  tried.push(`the SDK's download into ${downloadDir}`);
  try {
    return await downloadWithSdk(downloadDir);
  } catch (error) {
    throw new TemporalCliNotFoundError(
      tried,
      `The SDK's download failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}.`,
    );
  }
}

/** Builds the CLI into the cache with scripts/install-temporal-cli.sh, saying so, and returns its path. */
export async function buildTemporalCli(log?: (line: string) => void): Promise<string> {
  const built = await runBuildScript(join(scriptsDir, 'install-temporal-cli.sh'), {
    what: `building the Temporal CLI ${TEMPORAL_CLI_VERSION} from the Go module proxy`,
    expect: 'about 2 minutes, once',
    env: { ...process.env, HOOKFLOW_CACHE_DIR: hookflowCacheDir() },
    log,
  });
  const path = built.split('\n').pop() ?? '';
  if (!isExecutable(path)) throw new Error(`the build printed ${JSON.stringify(built)}, not a binary`);
  return path;
}

/**
 * The SDK only downloads its dev server as part of starting it, so start one briefly and keep the binary it
 * left in `downloadDir`. Only reached on machines with internet access and no CLI installed.
 */
async function downloadWithSdk(downloadDir: string): Promise<string> {
  mkdirSync(downloadDir, { recursive: true });
  const findDownloaded = () =>
    readdirSync(downloadDir)
      .filter((name) => name.startsWith('temporal-cli'))
      .map((name) => join(downloadDir, name))
      .find(isExecutable);
  const existing = findDownloaded();
  if (existing) return existing;
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  console.error(`Downloading the Temporal dev server with the Temporal SDK into ${downloadDir}...`);
  try {
    const env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'cached-download', downloadDir } },
    });
    await env.teardown();
  } catch (error) {
    // The download may have succeeded even if the SDK's short start-up wait did not: look before giving up.
    const downloaded = findDownloaded();
    if (downloaded) return downloaded;
    throw error;
  }
  const downloaded = findDownloaded();
  if (!downloaded) throw new Error('the SDK reported success but left no binary');
  return downloaded;
}

export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/**
 * A free port below the ephemeral range (where the OS never hands out `listen(0)` ports or the local ends of
 * outgoing connections), so it stays free while something slow happens before it is bound: a build, say. Also what
 * Temporal's membership listeners need (their ports are stored in a PostgreSQL smallint).
 */
export async function findStablePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const candidate = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(candidate, host, () => server.close(() => resolve(true)));
    });
    if (free) return candidate;
  }
  throw new Error('no free port between 20000 and 32000');
}

/**
 * The dev server's dynamic config. Task-queue fairness, which Hookflow keys by account (runStartDetails), and eager
 * activities (taken by a worker only when EMAIL_MAX_PER_SECOND=0 turns the provider rate limit off; see
 * src/temporal/worker.ts) are what every Temporal that Hookflow runs on gets
 * (deploy/temporal/dynamicconfig/development-sql.yaml says the same for compose and the native stack).
 *
 * The state cache is the dev server's own, as npm start's Temporal: the CLI keeps the state of up to 8,096
 * executions in memory, closed ones included (for an hour), ~20 KB each for Hookflow's runs, so the dev server grew
 * by 20-50 MiB over one bench run and would keep growing to ~150 MiB more. 1,024 holds every run in flight of a
 * single-machine install; a run whose state was evicted has it read back from SQLite when its next task comes (a
 * timer firing, say). Measured: bench/RESULTS.md, "2026-12-02".
 *
 * The CLI also turns on `system.forceSearchAttributesCacheRefreshOnRead`, so that a search attribute added at run
 * time is seen at once in tests; Temporal's own description says it is not for production. With it every start and
 * every task of a run read the cluster metadata and the namespace from SQLite again (~20 reads per Hookflow run,
 * counted from the dev server's metrics), all waiting for the one SQLite connection the runs' writes use. Hookflow
 * registers its search attributes when the dev server starts (--search-attribute), before anything reads them, so
 * the caches are right from the start; it is turned off here.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Readonly<Record<string, string | number | boolean>> = {
  'matching.enableFairness': true,
  'history.hostLevelCacheMaxSize': 1024,
  'system.forceSearchAttributesCacheRefreshOnRead': false,
  'system.enableActivityEagerExecution': true,
};

export type SqliteSynchronous = 'normal' | 'full';

/**
 * The dev server's SQLite settings. Its own default (a rollback journal, every commit synced) caps a 2-core machine
 * at ~130 workflow starts/s; WAL with `synchronous=normal` measured 2.5-3x that (issue 12). In WAL mode a commit is
 * in the log file once `write()` returns, so a crashed or killed process (Temporal's, Hookflow's) loses nothing it
 * acknowledged; only an OS crash or power loss can undo the commits since the last checkpoint, which `full` prevents
 * at the cost of an fsync per commit. The database is never corrupted either way (sqlite.org/wal.html).
 */
export function sqlitePragmaArgs(synchronous: SqliteSynchronous): string[] {
  return ['--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', `synchronous=${synchronous}`];
}

export interface DevServerOptions {
  cliPath: string;
  /** gRPC port; 0 picks a free one. */
  port: number;
  /** Web UI port; 0 disables the UI (headless). */
  uiPort: number;
  /** SQLite file that makes runs survive a restart; omitted: in memory. */
  dbFile?: string;
  /**
   * How the SQLite file is written (only with `dbFile`). Always WAL; `normal` syncs the log to disk at checkpoints
   * only, so a process crash loses nothing and a power loss may lose the last moments; `full` syncs every commit.
   */
  sqliteSynchronous?: SqliteSynchronous;
  /** No pragmas at all: SQLite's own defaults (a rollback journal synced per commit). Only the bench compares it. */
  sqliteDefaults?: boolean;
  namespace?: string;
  /** Dynamic config values (`--dynamic-config-value key=value`), on top of DEV_SERVER_DYNAMIC_CONFIG. */
  dynamicConfig?: Record<string, string | number | boolean>;
  /** The payload codec endpoint the Web UI decodes run data through (the API serves it when payloads are encrypted). */
  codecEndpoint?: string;
  /** Port of the server's Prometheus `/metrics` endpoint; omitted: a free port the CLI picks (and prints). */
  metricsPort?: number;
  startTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface DevServer {
  address: string;
  uiUrl: string | undefined;
  /** The Temporal CLI's own pid. */
  pid: number | undefined;
  /** Stops the server and waits for it to exit. Safe to call twice. */
  stop(): Promise<void>;
}

/** Go's garbage collector target for the dev server when the environment does not set one (Go's default: 100). */
const DEV_SERVER_GOGC = '50';

/**
 * The dev server's environment: the caller's, with GOGC=50 unless it sets GOGC. The server's heap grew from ~130 to
 * ~260 MiB under load with Go's default; collecting at half the growth kept it near 210 MiB with no throughput change
 * the bench could separate from the noise (bench/RESULTS.md, npm start's memory goal).
 */
export function devServerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, GOGC: env.GOGC || DEV_SERVER_GOGC };
}

/** Starts `temporal server start-dev` with Hookflow's search attributes and waits until it answers. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const port = options.port || (await findFreePort());
  const namespace = options.namespace ?? 'default';
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--namespace',
    namespace,
    '--log-level',
    'error',
    ...hookflowSearchAttributes.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]),
  ];
  for (const [key, value] of Object.entries({ ...DEV_SERVER_DYNAMIC_CONFIG, ...options.dynamicConfig })) {
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  }
  if (options.uiPort) args.push('--ui-port', String(options.uiPort));
  else args.push('--headless');
  if (options.uiPort && options.codecEndpoint) args.push('--ui-codec-endpoint', options.codecEndpoint);
  if (options.metricsPort) args.push('--metrics-port', String(options.metricsPort));
  if (options.dbFile) {
    mkdirSync(dirname(options.dbFile), { recursive: true });
    args.push('--db-filename', options.dbFile);
    if (!options.sqliteDefaults) args.push(...sqlitePragmaArgs(options.sqliteSynchronous ?? 'normal'));
  }

  const program = startSupervised('temporal dev server', options.cliPath, args, {
    log: options.log,
    env: devServerEnv(process.env),
  });
  const address = `127.0.0.1:${port}`;
  const server: DevServer = {
    address,
    uiUrl: options.uiPort ? `http://localhost:${options.uiPort}` : undefined,
    pid: await program.pid().catch(() => undefined),
    stop: () => program.stop(),
  };
  try {
    await waitUntilServing(address, namespace, program, options.startTimeoutMs ?? 60_000);
  } catch (error) {
    await server.stop();
    throw new Error(`${(error as Error).message}\n--- temporal output ---\n${program.output().trim()}`, {
      cause: error,
    });
  }
  return server;
}

/** Waits until `namespace` answers on `address`: the frontend and its persistence are up, not just the port. */
export async function waitUntilServing(
  address: string,
  namespace: string,
  program: SupervisedProcess,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (program.hasExited())
      throw new Error(`${program.name} exited during start-up (exit status ${await program.exited}).`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2000 });
      try {
        // The namespace answering means the frontend and its persistence are up, not just the gRPC port.
        await connection.workflowService.describeNamespace({ namespace });
        return;
      } finally {
        await connection.close();
      }
    } catch (error) {
      lastError = error;
      await sleep(250);
    }
  }
  throw new Error(
    `${program.name} did not answer on ${address} within ${timeoutMs} ms: ${String(lastError)}`,
  );
}
