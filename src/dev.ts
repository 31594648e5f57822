// `npm start`: the embedded default. Everything in one command on a fresh machine: PGlite under .data/, a local
// Temporal dev server persisted under .data/ (Web UI on :8233), the worker and the API.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApi } from './api/start.js';
import { loadConfig } from './config.js';
import { createDb, type DbHandle } from './db/client.js';
import { embeddedSecret } from './embedded-secrets.js';
import { migrateToLatest } from './db/migrate.js';
import { exitOnStartupError, onShutdownSignal } from './lifecycle.js';
import { bundleInChildProcess } from './temporal/workflow-bundle.js';
import { findTemporalCli, startDevServer, type DevServer } from './temporal/dev-server.js';
import type { WorkerMetricsStatus } from './temporal/worker.js';
import { startWorkerThread, type WorkerThread } from './temporal/worker-thread.js';

const JWT_SECRET_FILE = '.data/jwt-secret';
const SECRETS_KEY_FILE = '.data/secrets-key';
const PAYLOAD_KEYS_FILE = '.data/payload-keys';

const step = (message: string) => console.log(`hookflow: ${message}`);

/** The banner's word on the worker's metrics endpoint (the API's is always /metrics on its own port). */
function workerMetricsLine(status: WorkerMetricsStatus): string {
  if (status.state === 'serving') return `${status.url} (worker)`;
  if (status.state === 'unavailable')
    return `none for the worker (${status.address} is taken: set WORKER_METRICS_PORT)`;
  return 'none for the worker';
}

let devServer: DevServer | undefined;
let db: DbHandle | undefined;
let worker: WorkerThread | undefined;
/** Where this run's workflow bundle is written; removed on the way out. */
let bundleDir: string | undefined;
const removeBundle = () => bundleDir && rmSync(bundleDir, { recursive: true, force: true });

try {
  const env = { ...process.env };
  env.JWT_SECRET ||= embeddedSecret(JWT_SECRET_FILE, () => randomBytes(32).toString('hex'));
  env.SECRETS_ENCRYPTION_KEY ||= embeddedSecret(SECRETS_KEY_FILE, () => randomBytes(32).toString('base64'));
  // Run data in the dev server's history is encrypted too; its Web UI decodes through the API's codec endpoint.
  env.PAYLOAD_ENCRYPTION_KEYS ||= embeddedSecret(
    PAYLOAD_KEYS_FILE,
    () => `k1:${randomBytes(32).toString('base64')}`,
  );
  let config = loadConfig(env);

  let temporalAddress = config.temporal.address;
  if (!temporalAddress) {
    const cliPath = await findTemporalCli({ cliPath: config.temporal.cliPath });
    const { port, uiPort, dbFile, sqliteSynchronous } = config.temporal.devServer;
    step(`starting the Temporal dev server (${cliPath}) on 127.0.0.1:${port}, data in ${dbFile}...`);
    const { codec } = config.temporal;
    devServer = await startDevServer({
      cliPath,
      port,
      uiPort,
      dbFile,
      sqliteSynchronous,
      namespace: config.temporal.namespace,
      codecEndpoint: codec.port ? `http://127.0.0.1:${codec.port}` : undefined,
    });
    temporalAddress = devServer.address;
    env.TEMPORAL_UI_URL ||= devServer.uiUrl;
    config = loadConfig(env);
  }

  step(
    config.db.url
      ? 'connecting to PostgreSQL...'
      : `opening the embedded database (PGlite) in ${config.db.pgliteDataDir}...`,
  );
  // One handle for the API and the worker (account secrets, email quotas): PGlite's files admit one opener.
  db = await createDb(config);
  if (config.db.migrateOnStart) await migrateToLatest(db, { secretsKey: config.secrets.encryptionKey });

  // Bundled in a child process (webpack's memory leaves with it) unless a prebuilt bundle is configured.
  if (!config.temporal.workflowBundlePath) {
    step('bundling workflow code...');
    bundleDir = mkdtempSync(join(tmpdir(), 'hookflow-workflow-bundle-'));
    env.TEMPORAL_WORKFLOW_BUNDLE = await bundleInChildProcess(join(bundleDir, 'workflow-bundle.js'));
  }
  step('starting the worker...');
  // On an event loop of its own, not the API's (see worker-thread.ts for what that measured); its secret and quota
  // lookups come back here, to the one opener of PGlite. The SDK's per-step INFO lines (webpack output, worker
  // state changes) would drown the banner below. The worker's metrics (SDK series, step outcomes) get a port of
  // their own; the API serves its own on /metrics.
  worker = await startWorkerThread({
    data: {
      env,
      temporalAddress,
      runtimeLogLevel: config.logLevel === 'info' ? 'warn' : config.logLevel,
    },
    config,
    db,
  });
  const workerThread = worker;
  // Its run starts go through the worker thread, eager onto that worker (worker-thread.ts).
  const api = await startApi(
    config,
    temporalAddress,
    { level: config.logLevel === 'info' ? 'warn' : config.logLevel },
    { db, startRun: (input, deadline) => workerThread.startRun(input, deadline) },
  );

  const base = config.http.publicUrl;
  console.log(
    [
      '',
      'Hookflow is running.',
      `  API          ${base}/v1`,
      `  API docs     ${base}/docs`,
      `  Readiness    ${base}/readyz`,
      `  Temporal UI  ${config.temporal.uiUrl}/namespaces/${config.temporal.namespace}/workflows`,
      ...(config.metrics.enabled
        ? [`  Metrics      ${base}/metrics (API), ${workerMetricsLine(workerThread.metrics)}`]
        : []),
      `  Run data     encrypted in Temporal (key in ${process.env.PAYLOAD_ENCRYPTION_KEYS ? 'PAYLOAD_ENCRYPTION_KEYS' : PAYLOAD_KEYS_FILE}); ${api.codecUrl ? `the UI decodes it through ${api.codecUrl}` : 'no codec endpoint (its port is taken), so the UI shows ciphertext'}`,
      `  Email        ${config.email.transport === 'resend' ? 'sent through Resend' : 'printed here (console transport; set RESEND_API_KEY to send)'}`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  const running = devServer;
  const database = db;
  const stopAll = async () => {
    step('stopping: API, then worker, then Temporal dev server...');
    await api.close();
    await workerThread.stop();
    await database.close();
    await running?.stop();
    removeBundle();
    step('stopped.');
  };
  onShutdownSignal(stopAll, config.http.shutdownGraceMs);
  // A worker that fails for good (its Temporal connection lost past the SDK's retries, say) leaves webhooks
  // accepted with nothing to run them: stop everything loudly rather than serve half a product.
  workerThread.done.catch(async (error: unknown) => {
    console.error('hookflow: the worker failed:', error);
    await stopAll().catch(() => undefined);
    process.exit(1);
  });
} catch (error) {
  await worker?.stop().catch(() => undefined);
  await db?.close().catch(() => undefined);
  await devServer?.stop();
  removeBundle();
  exitOnStartupError(error);
}
