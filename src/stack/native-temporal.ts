import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';
import { msToTs } from '@temporalio/common/lib/time.js';
import { startSupervised, type SupervisedProcess } from '../supervised-process.js';
import { findStablePort } from '../temporal/dev-server.js';
import { runBuildScript } from '../temporal/go-build.js';
import { hookflowSearchAttributes } from '../temporal/search-attributes.js';

/*
 * The Temporal half of the native topology (DESIGN §9): the compose file's temporalio/server, admin-tools and
 * temporalio/ui, as binaries built from the Go module proxy (deploy/native/build.sh) and configured the way the images
 * configure them. The server reads the same environment variables as the image (its embedded config template: DB,
 * POSTGRES_SEEDS, NUM_HISTORY_SHARDS, ...), the schema setup is the compose one (deploy/temporal/setup-postgres.sh),
 * and the dynamic config is the file compose mounts (deploy/temporal/dynamicconfig/).
 */

const run = promisify(execFile);
const deployDir = fileURLToPath(new URL('../../deploy/', import.meta.url));
export const DYNAMIC_CONFIG_FILE = join(deployDir, 'temporal/dynamicconfig/development-sql.yaml');

/** Where deploy/native/build.sh put temporal-server, temporal-sql-tool, temporal-ui-server and schema/. */
export type NativeBinariesDir = string;

/** Builds the binaries once (minutes, with a progress line), then answers at once from the cache. */
export async function ensureNativeBinaries(log?: (line: string) => void): Promise<NativeBinariesDir> {
  return runBuildScript(join(deployDir, 'native/build.sh'), {
    what: 'building the Temporal server, its SQL tool and the UI server from the Go module proxy',
    expect: 'several minutes (13 on a busy 2-core machine), once',
    log,
  });
}

export interface DatabaseRoles {
  /** A PostgreSQL superuser's URL: creates the roles and databases below (nothing else uses it). */
  adminUrl: string;
  host: string;
  port: number;
  temporal: { user: string; password: string; database: string; visibilityDatabase: string };
  hookflow: { user: string; password: string; database: string };
}

/** deploy/native/setup-databases.sh: roles, databases, Temporal's schemas; idempotent. */
export async function setupDatabases(binaries: NativeBinariesDir, roles: DatabaseRoles): Promise<void> {
  try {
    await run('bash', [join(deployDir, 'native/setup-databases.sh')], {
      env: {
        ...process.env,
        TEMPORAL_NATIVE_DIR: binaries,
        POSTGRES_ADMIN_URL: roles.adminUrl,
        POSTGRES_HOST: roles.host,
        POSTGRES_PORT: String(roles.port),
        TEMPORAL_DB_USER: roles.temporal.user,
        TEMPORAL_DB_PASSWORD: roles.temporal.password,
        TEMPORAL_DB_NAME: roles.temporal.database,
        TEMPORAL_VISIBILITY_DB_NAME: roles.temporal.visibilityDatabase,
        HOOKFLOW_DB_USER: roles.hookflow.user,
        HOOKFLOW_DB_PASSWORD: roles.hookflow.password,
        HOOKFLOW_DB_NAME: roles.hookflow.database,
      },
      maxBuffer: 10 * 1024 * 1024,
    });
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new Error(
      `PostgreSQL setup for the stack failed: ${(stderr ?? message).trim().split('\n').slice(-15).join('\n')}`,
      { cause: error },
    );
  }
}

/** Every port the server listens on; all on 127.0.0.1. */
export interface TemporalServerPorts {
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
  /** Prometheus scrape endpoint of the server's own metrics. */
  metrics: number;
}

/** Membership (ringpop) ports are stored in a PostgreSQL smallint column: they must be below 32768. */
export const findFreeMembershipPort = () => findStablePort();

export const DEFAULT_TEMPORAL_SERVER_PORTS: TemporalServerPorts = {
  frontend: 7233,
  frontendHttp: 7243,
  frontendMembership: 6933,
  history: 7234,
  historyMembership: 6934,
  matching: 7235,
  matchingMembership: 6935,
  worker: 7239,
  workerMembership: 6939,
  metrics: 8000,
};

export interface TemporalServerOptions {
  binaries: NativeBinariesDir;
  roles: Pick<DatabaseRoles, 'host' | 'port' | 'temporal'>;
  ports: TemporalServerPorts;
  /** Fixed for the life of the cluster: it cannot change once the databases hold data. */
  historyShards: number;
  namespace: string;
  /** How long closed runs stay in history (the compose setup's default is 72h). */
  retention: string;
  log?: (line: string) => void;
}

/** The environment that temporal-server's embedded config template reads: what the compose file gives the image. */
export function temporalServerEnv(options: TemporalServerOptions): NodeJS.ProcessEnv {
  const { roles, ports } = options;
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DB: 'postgres12',
    POSTGRES_SEEDS: roles.host,
    DB_PORT: String(roles.port),
    POSTGRES_USER: roles.temporal.user,
    POSTGRES_PWD: roles.temporal.password,
    DBNAME: roles.temporal.database,
    VISIBILITY_DBNAME: roles.temporal.visibilityDatabase,
    NUM_HISTORY_SHARDS: String(options.historyShards),
    DYNAMIC_CONFIG_FILE_PATH: DYNAMIC_CONFIG_FILE,
    BIND_ON_IP: '127.0.0.1',
    TEMPORAL_BROADCAST_ADDRESS: '127.0.0.1',
    FRONTEND_GRPC_PORT: String(ports.frontend),
    FRONTEND_HTTP_PORT: String(ports.frontendHttp),
    FRONTEND_MEMBERSHIP_PORT: String(ports.frontendMembership),
    HISTORY_GRPC_PORT: String(ports.history),
    HISTORY_MEMBERSHIP_PORT: String(ports.historyMembership),
    MATCHING_GRPC_PORT: String(ports.matching),
    MATCHING_MEMBERSHIP_PORT: String(ports.matchingMembership),
    WORKER_GRPC_PORT: String(ports.worker),
    WORKER_MEMBERSHIP_PORT: String(ports.workerMembership),
    PROMETHEUS_ENDPOINT: `127.0.0.1:${ports.metrics}`,
    LOG_LEVEL: 'warn',
  };
}

export interface TemporalServer {
  address: string;
  process: SupervisedProcess;
}

/**
 * Starts temporal-server and waits until it serves requests, then makes sure the namespace and Hookflow's search
 * attributes exist (what the compose file's temporal-create-namespace step does).
 */
export async function startTemporalServer(options: TemporalServerOptions): Promise<TemporalServer> {
  const program = startSupervised(
    'temporal-server',
    join(options.binaries, 'temporal-server'),
    ['--allow-no-auth', 'start'],
    { env: temporalServerEnv(options), log: options.log },
  );
  const address = `127.0.0.1:${options.ports.frontend}`;
  try {
    await ensureNamespace(address, options.namespace, options.retention, program, 120_000);
  } catch (error) {
    await program.stop();
    throw new Error(
      `${(error as Error).message}\n--- temporal-server output ---\n${program.output().trim()}`,
      {
        cause: error,
      },
    );
  }
  return { address, process: program };
}

/** Registers the namespace and the Keyword search attributes once the server answers; idempotent. */
async function ensureNamespace(
  address: string,
  namespace: string,
  retention: string,
  program: SupervisedProcess,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (program.hasExited())
      throw new Error(`temporal-server exited during start-up (exit status ${await program.exited}).`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2000 });
      try {
        await registerNamespace(connection, namespace, retention);
        if (await registerSearchAttributes(connection, namespace)) return;
        lastError = 'search attributes registered a moment ago are not listed yet';
      } finally {
        await connection.close();
      }
    } catch (error) {
      lastError = error;
    }
    await sleep(500);
  }
  throw new Error(
    `temporal-server did not become ready on ${address} within ${timeoutMs} ms: ${String(lastError)}`,
  );
}

const GRPC_NOT_FOUND = 5;
const GRPC_ALREADY_EXISTS = 6;

async function registerNamespace(connection: Connection, namespace: string, retention: string) {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return;
  } catch (error) {
    if ((error as { code?: number }).code !== GRPC_NOT_FOUND) throw error;
  }
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs(parseRetentionSeconds(retention) * 1000),
    });
  } catch (error) {
    if ((error as { code?: number }).code !== GRPC_ALREADY_EXISTS) throw error;
  }
  // A namespace registered a moment ago takes a few seconds to reach the frontend's cache: wait until it answers.
  await connection.workflowService.describeNamespace({ namespace });
}

/** True once every Hookflow search attribute is listed; registers the missing ones otherwise. */
async function registerSearchAttributes(connection: Connection, namespace: string): Promise<boolean> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = hookflowSearchAttributes.filter((key) => !(key.name in (existing.customAttributes ?? {})));
  if (missing.length === 0) return true;
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        missing.map((key) => [key.name, encodeSearchAttributeIndexedValueType(key.type) ?? 0]),
      ),
    });
  } catch (error) {
    if ((error as { code?: number }).code !== GRPC_ALREADY_EXISTS) throw error;
  }
  return false;
}

/** "72h", "30d", "3600s" → seconds. */
export function parseRetentionSeconds(value: string): number {
  const match = /^(\d+)([smhd])$/.exec(value.trim());
  if (!match) throw new Error(`retention "${value}": expected a number followed by s, m, h or d (e.g. 72h)`);
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

export interface UiServerOptions {
  binaries: NativeBinariesDir;
  temporalAddress: string;
  namespace: string;
  port: number;
  /** Where operators open it (the CORS origin the UI's own pages use). */
  publicUrl: string;
  /** A payload codec endpoint, once payloads are encrypted. */
  codecEndpoint?: string;
  writeActions: boolean;
  log?: (line: string) => void;
}

/** temporal-ui-server with deploy/native/ui/native.yaml: loopback, read-only unless writeActions. */
export async function startUiServer(options: UiServerOptions): Promise<SupervisedProcess> {
  const program = startSupervised(
    'temporal-ui-server',
    join(options.binaries, 'temporal-ui-server'),
    ['--root', join(deployDir, 'native'), '--config', 'ui', '--env', 'native', 'start'],
    {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        TEMPORAL_ADDRESS: options.temporalAddress,
        TEMPORAL_NAMESPACE: options.namespace,
        TEMPORAL_UI_HOST: '127.0.0.1',
        TEMPORAL_UI_PORT: String(options.port),
        TEMPORAL_UI_PUBLIC_URL: options.publicUrl,
        TEMPORAL_UI_WRITE_ACTIONS: String(options.writeActions),
        TEMPORAL_UI_CODEC_ENDPOINT: options.codecEndpoint ?? '',
      },
      log: options.log,
    },
  );
  const url = `http://127.0.0.1:${options.port}/`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (program.hasExited())
      throw new Error(`temporal-ui-server exited during start-up:\n${program.output().trim()}`);
    const ok = await fetch(url).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return program;
    await sleep(250);
  }
  await program.stop();
  throw new Error(`temporal-ui-server did not answer on ${url} within 30 s:\n${program.output().trim()}`);
}
