import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSupervised, type SupervisedProcess } from '../supervised-process.js';
import {
  setupDatabases,
  startTemporalServer,
  startUiServer,
  type DatabaseRoles,
  type NativeBinariesDir,
  type TemporalServer,
  type TemporalServerPorts,
} from './native-temporal.js';

/*
 * The compose topology as processes on this host (`npm run start:stack`, the stack tests and the bench): PostgreSQL
 * (already running; we only create roles and databases), temporal-server on it, temporal-ui-server, the Hookflow API
 * and N workers, each the production entrypoint. Every process dies with the one that started it.
 */

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Node's default heap sizing follows the host's memory, and the Temporal SDK sizes its workflow cache from the heap:
 * bench/RESULTS.md measured API + worker at 1.1 GiB RSS under load without a limit and about half with these. The
 * Dockerfile sets the same through NODE_OPTIONS; raise the old space for very large run inputs.
 */
export const LOW_MEMORY_NODE_FLAGS = ['--max-semi-space-size=8', '--max-old-space-size=384'];

/**
 * tsx compiles each source once (then reads its cache) through esbuild; with this, each compile is a short-lived
 * esbuild process instead of an esbuild service per compiling thread that stays up for the life of the process
 * (~29 MiB after a deploy's first start; README, "What npm start does"). The npm scripts set it too; the API and the
 * workers are given an environment of their own, so it is set for them here.
 */
export const SHORT_LIVED_COMPILER_ENV = { ESBUILD_WORKER_THREADS: '0' } as const;

export interface StackOptions {
  binaries: NativeBinariesDir;
  roles: DatabaseRoles;
  temporalPorts: TemporalServerPorts;
  historyShards: number;
  namespace: string;
  retention: string;
  apiPort: number;
  uiPort: number;
  /** The API's payload codec endpoint, which the UI decodes run data through (when PAYLOAD_ENCRYPTION_KEYS is set). */
  codecPort: number;
  /** Worker processes to start (each also serves the http step queue). */
  workers: number;
  /**
   * The rest of the API's and workers' environment (JWT_SECRET, SECRETS_ENCRYPTION_KEY, RESEND_API_KEY, ...).
   * DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, PORT and PUBLIC_URL are the stack's.
   */
  hookflowEnv: Record<string, string | undefined>;
  /** Extra environment for worker i (0-based), e.g. a metrics port of its own. */
  workerEnv?: (index: number) => Record<string, string>;
  /** Open the Temporal UI for cancel/terminate/signal/reset (off: read-only). */
  uiWriteActions?: boolean;
  log?: (line: string) => void;
  /** Prefix every line a process prints with its name and pass it here (default: dropped). */
  processLog?: (name: string, line: string) => void;
}

export interface Stack {
  temporal: TemporalServer;
  ui: SupervisedProcess;
  api: SupervisedProcess;
  workers: SupervisedProcess[];
  apiUrl: string;
  uiUrl: string;
  /** The environment the API and workers run with. */
  hookflowEnv: Record<string, string>;
  /** Starts temporal-server again after it stopped or was killed (the databases keep every run). */
  restartTemporal(): Promise<void>;
  /** Starts one more worker (e.g. after a test killed one). */
  addWorker(): Promise<SupervisedProcess>;
  /** Stops everything in reverse order of dependency: API, workers, UI, Temporal. */
  stop(): Promise<void>;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const log = options.log ?? (() => undefined);
  const started: SupervisedProcess[] = [];
  // The API first (no new webhooks), then the workers (they finish what they hold), then the servers.
  const stopAll = async () => {
    const byName = (prefix: string) => started.filter((program) => program.name.startsWith(prefix));
    const order = [
      ...byName('api'),
      ...byName('worker'),
      ...byName('temporal-ui'),
      ...byName('temporal-server'),
    ];
    for (const program of order) await program.stop(30_000);
  };
  try {
    log(
      `PostgreSQL: roles and databases on ${options.roles.host}:${options.roles.port}, Temporal schemas...`,
    );
    await setupDatabases(options.binaries, options.roles);

    log(
      `Temporal server on 127.0.0.1:${options.temporalPorts.frontend} (${options.historyShards} history shards)...`,
    );
    const temporalOptions = {
      binaries: options.binaries,
      roles: options.roles,
      ports: options.temporalPorts,
      historyShards: options.historyShards,
      namespace: options.namespace,
      retention: options.retention,
      log: (line: string) => options.processLog?.('temporal', line),
    };
    let temporal = await startTemporalServer(temporalOptions);
    started.push(temporal.process);

    const uiUrl = `http://localhost:${options.uiPort}`;
    log(`Temporal UI on 127.0.0.1:${options.uiPort}...`);
    const ui = await startUiServer({
      binaries: options.binaries,
      temporalAddress: temporal.address,
      namespace: options.namespace,
      port: options.uiPort,
      publicUrl: uiUrl,
      codecEndpoint: options.hookflowEnv.PAYLOAD_ENCRYPTION_KEYS
        ? `http://127.0.0.1:${options.codecPort}`
        : undefined,
      writeActions: options.uiWriteActions ?? false,
      log: (line) => options.processLog?.('ui', line),
    });
    started.push(ui);

    const { roles } = options;
    const apiUrl = `http://127.0.0.1:${options.apiPort}`;
    const hookflowEnv: Record<string, string> = {
      ...definedOnly(options.hookflowEnv),
      DATABASE_URL: `postgres://${encodeURIComponent(roles.hookflow.user)}:${encodeURIComponent(roles.hookflow.password)}@${roles.host}:${roles.port}/${encodeURIComponent(roles.hookflow.database)}`,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: options.namespace,
      TEMPORAL_UI_URL: uiUrl,
      PORT: String(options.apiPort),
      PAYLOAD_CODEC_PORT: String(options.codecPort),
      PUBLIC_URL: options.hookflowEnv.PUBLIC_URL ?? `http://localhost:${options.apiPort}`,
    };

    const workers: SupervisedProcess[] = [];
    const addWorker = async () => {
      const index = workers.length;
      const worker = startHookflow(
        `worker-${index + 1}`,
        'src/worker.ts',
        {
          ...hookflowEnv,
          ...options.workerEnv?.(index),
        },
        options.processLog,
      );
      started.push(worker);
      workers.push(worker);
      await waitForOutput(worker, 'worker polling task queue', 120_000);
      return worker;
    };
    log(`${options.workers} worker(s) and the API on 127.0.0.1:${options.apiPort}...`);
    // The API first: it applies the database migrations that the workers' secret lookups rely on.
    const api = startHookflow('api', 'src/api/server.ts', hookflowEnv, options.processLog);
    started.push(api);
    await waitForHttp(api, `${apiUrl}/readyz`, 120_000);
    for (let i = 0; i < options.workers; i++) await addWorker();

    return {
      get temporal() {
        return temporal;
      },
      ui,
      api,
      workers,
      apiUrl,
      uiUrl,
      hookflowEnv,
      async restartTemporal() {
        const index = started.indexOf(temporal.process);
        await temporal.process.stop();
        temporal = await startTemporalServer(temporalOptions);
        started.splice(index, 1, temporal.process);
      },
      addWorker,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function startHookflow(
  name: string,
  entrypoint: string,
  env: Record<string, string>,
  processLog: StackOptions['processLog'],
): SupervisedProcess {
  return startSupervised(name, process.execPath, [...LOW_MEMORY_NODE_FLAGS, '--import', 'tsx', entrypoint], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...SHORT_LIVED_COMPILER_ENV, ...env },
    log: processLog && ((line) => processLog(name, line)),
  });
}

function definedOnly(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

async function waitForHttp(program: SupervisedProcess, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (program.hasExited())
      throw new Error(`${program.name} exited during start-up:\n${program.output().trim()}`);
    const ok = await fetch(url).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return;
    await sleep(250);
  }
  throw new Error(
    `${program.name} did not answer ${url} within ${timeoutMs} ms:\n${program.output().trim()}`,
  );
}

async function waitForOutput(program: SupervisedProcess, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!program.output().includes(text)) {
    if (program.hasExited())
      throw new Error(`${program.name} exited during start-up:\n${program.output().trim()}`);
    if (Date.now() > deadline)
      throw new Error(
        `${program.name} did not say "${text}" within ${timeoutMs} ms:\n${program.output().trim()}`,
      );
    await sleep(200);
  }
}
