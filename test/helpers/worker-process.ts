import { randomBytes } from 'node:crypto';
import { expect, inject } from 'vitest';
import { buildApp, type App } from '../../src/api/app.js';
import { connectTemporal } from '../../src/temporal/connection.js';
import { findFreePort } from '../../src/temporal/dev-server.js';
import { testConfig } from './config.js';
import { openMigratedDb } from './database.js';
import { startFakeResend } from './fake-resend.js';
import { spawnHookflow, waitForWorker, type HookflowProcess } from './processes.js';
import { parsePrometheus, type PrometheusSample } from './prometheus.js';
import { appSteps } from './stack.js';

/**
 * A worker process as `npm run start:worker` runs it (the production entrypoint, configured by its environment only,
 * serving its metrics endpoint) on the shared Temporal dev server, and the real app on the same configuration and
 * database to drive it (with the Stack's steps: sign up, create a workflow, wait for a run). `env` goes to both
 * (EMAIL_MAX_PER_SECOND, say).
 */
export async function startWorkerProcess(env: Record<string, string> = {}) {
  const db = await openMigratedDb('postgres');
  const resend = await startFakeResend();
  const metricsPort = await findFreePort();
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const secretsKey = randomBytes(32).toString('base64');
  const payloadKeys = `k1:${randomBytes(32).toString('base64')}`;
  const config = testConfig({
    SECRETS_ENCRYPTION_KEY: secretsKey,
    PAYLOAD_ENCRYPTION_KEYS: payloadKeys,
    ...env,
  });
  const worker: HookflowProcess = spawnHookflow('worker', {
    DATABASE_URL: db.url!,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    TEMPORAL_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
    SECRETS_ENCRYPTION_KEY: secretsKey,
    PAYLOAD_ENCRYPTION_KEYS: payloadKeys,
    RESEND_API_KEY: 're_test_worker_process',
    RESEND_BASE_URL: resend.url,
    EMAIL_FROM: config.email.from,
    EMAIL_MAX_PER_SECOND: String(config.email.maxPerSecond),
    WORKER_METRICS_PORT: String(metricsPort),
    ...env,
  });
  await waitForWorker(worker);
  const { connection, client } = await connectTemporal({
    ...config.temporal,
    address: inject('temporalAddress'),
  });
  const app: App = await buildApp({ config, db, temporal: { client } });
  return {
    ...appSteps(app),
    app,
    resend,
    worker,
    metricsUrl,
    taskQueue: config.temporal.taskQueue,
    /** The worker's metrics endpoint as a scraper reads it. */
    async scrape(): Promise<PrometheusSample[]> {
      const response = await fetch(metricsUrl);
      expect(response.status).toBe(200);
      return parsePrometheus(await response.text());
    },
    async close() {
      await app.close();
      await connection.close();
      await worker.kill('SIGTERM');
      await resend.close();
      await db.close();
    },
  };
}
