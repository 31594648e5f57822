// `npm run start:stack`: the compose topology as native processes, in the foreground, on this machine (DESIGN §9):
// roles and databases on a running PostgreSQL, the Temporal server on it, the Temporal UI server, the Hookflow API and
// N workers. Ctrl-C stops all of it. The first run builds the Temporal binaries from the Go module proxy (minutes, once).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import {
  ConfigError,
  optionalString,
  port,
  positiveInt,
  booleanString,
  emptyAsUndefined,
} from '../config.js';
import { embeddedSecret } from '../embedded-secrets.js';
import { exitOnStartupError, onShutdownSignal } from '../lifecycle.js';
import { DEFAULT_TEMPORAL_SERVER_PORTS, ensureNativeBinaries } from './native-temporal.js';
import { startStack, type Stack } from './stack.js';

const stackEnvSchema = z.object({
  STACK_POSTGRES_ADMIN_URL: z.preprocess(
    emptyAsUndefined,
    z.url().default('postgres://postgres@127.0.0.1:5432/postgres'),
  ),
  STACK_DATA_DIR: z.preprocess(emptyAsUndefined, z.string().default('.data/stack')),
  STACK_WORKERS: positiveInt(2),
  STACK_HISTORY_SHARDS: positiveInt(4),
  STACK_TEMPORAL_PORT: port(7233),
  STACK_UI_PORT: port(8080),
  PAYLOAD_CODEC_PORT: port(8234),
  WORKER_METRICS_PORT: port(9464),
  STACK_UI_WRITE_ACTIONS: booleanString(false),
  TEMPORAL_DB_PASSWORD: optionalString,
  HOOKFLOW_DB_PASSWORD: optionalString,
  TEMPORAL_NAMESPACE: z.preprocess(emptyAsUndefined, z.string().default('default')),
  PORT: port(3000),
});

const step = (message: string) => console.log(`hookflow stack: ${message}`);
let stack: Stack | undefined;

try {
  const parsed = stackEnvSchema.safeParse(process.env);
  if (!parsed.success)
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  const env = parsed.data;
  const admin = new URL(env.STACK_POSTGRES_ADMIN_URL);
  // Generated once and kept beside the data, like `npm start`'s; set the variables to manage them yourself.
  const secretFile = (name: string) => join(env.STACK_DATA_DIR, name);
  const password = () => randomBytes(24).toString('base64url');

  const binaries = await ensureNativeBinaries((line) => console.log(line));
  stack = await startStack({
    binaries,
    roles: {
      adminUrl: env.STACK_POSTGRES_ADMIN_URL,
      host: admin.hostname,
      port: Number(admin.port || 5432),
      temporal: {
        user: 'temporal',
        password: env.TEMPORAL_DB_PASSWORD ?? embeddedSecret(secretFile('temporal-db-password'), password),
        database: 'temporal',
        visibilityDatabase: 'temporal_visibility',
      },
      hookflow: {
        user: 'hookflow',
        password: env.HOOKFLOW_DB_PASSWORD ?? embeddedSecret(secretFile('hookflow-db-password'), password),
        database: 'hookflow',
      },
    },
    temporalPorts: { ...DEFAULT_TEMPORAL_SERVER_PORTS, frontend: env.STACK_TEMPORAL_PORT },
    historyShards: env.STACK_HISTORY_SHARDS,
    namespace: env.TEMPORAL_NAMESPACE,
    retention: '72h',
    apiPort: env.PORT,
    uiPort: env.STACK_UI_PORT,
    codecPort: env.PAYLOAD_CODEC_PORT,
    workers: env.STACK_WORKERS,
    // One metrics endpoint per worker on this host: 9464, 9465, ... (WORKER_METRICS_PORT moves the first).
    workerEnv: (index) => ({ WORKER_METRICS_PORT: String(env.WORKER_METRICS_PORT + index) }),
    uiWriteActions: env.STACK_UI_WRITE_ACTIONS,
    hookflowEnv: {
      ...process.env,
      JWT_SECRET:
        process.env.JWT_SECRET ||
        embeddedSecret(secretFile('jwt-secret'), () => randomBytes(32).toString('hex')),
      SECRETS_ENCRYPTION_KEY:
        process.env.SECRETS_ENCRYPTION_KEY ||
        embeddedSecret(secretFile('secrets-key'), () => randomBytes(32).toString('base64')),
      PAYLOAD_ENCRYPTION_KEYS:
        process.env.PAYLOAD_ENCRYPTION_KEYS ||
        embeddedSecret(secretFile('payload-keys'), () => `k1:${randomBytes(32).toString('base64')}`),
    },
    log: step,
    processLog: (name, line) => console.log(`${name.padEnd(9)}| ${line}`),
  });

  const running = stack;
  console.log(
    [
      '',
      'Hookflow stack is running (Temporal server on PostgreSQL, Temporal UI, API, workers).',
      `  API          ${running.hookflowEnv.PUBLIC_URL}/v1 (docs at /docs)`,
      `  Temporal UI  ${running.uiUrl}/namespaces/${env.TEMPORAL_NAMESPACE}/workflows (read-only${env.STACK_UI_WRITE_ACTIONS ? ' off' : ''})`,
      `  Temporal     ${running.temporal.address} (gRPC, loopback only)`,
      `  Workers      ${running.workers.length}, metrics on 127.0.0.1:${env.WORKER_METRICS_PORT}–${env.WORKER_METRICS_PORT + running.workers.length - 1}`,
      `  Metrics      ${running.hookflowEnv.PUBLIC_URL}/metrics (API), 127.0.0.1:${DEFAULT_TEMPORAL_SERVER_PORTS.metrics} (Temporal server)`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  onShutdownSignal(async () => {
    step('stopping: API, workers, Temporal UI, Temporal server...');
    await running.stop();
    step('stopped.');
  }, 60_000);
} catch (error) {
  await stack?.stop();
  exitOnStartupError(error);
}
