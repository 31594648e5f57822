import { randomBytes, randomUUID } from 'node:crypto';
import { expect, inject } from 'vitest';
import { buildApp, type App } from '../../src/api/app.js';
import type { RunResource } from '../../src/api/services/run-service.js';
import type { WorkflowResource } from '../../src/api/services/workflow-service.js';
import { connectTemporal } from '../../src/temporal/connection.js';
import { findFreePort } from '../../src/temporal/dev-server.js';
import { testConfig } from './config.js';
import { openMigratedDb } from './database.js';
import { startFakeResend } from './fake-resend.js';
import { spawnHookflow, waitForWorker, type HookflowProcess } from './processes.js';
import { parsePrometheus, type PrometheusSample } from './prometheus.js';
import { eventually } from './stack.js';

/**
 * A worker process as `npm run start:worker` runs it (the production entrypoint, configured by its environment only,
 * serving its metrics endpoint) on the shared Temporal dev server, and the real app on the same configuration and
 * database to drive it. `env` goes to both (EMAIL_MAX_PER_SECOND, say).
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
    app,
    resend,
    worker,
    metricsUrl,
    taskQueue: config.temporal.taskQueue,
    /** Registers a fresh account and creates a workflow of `steps` for it; its bearer header and the workflow. */
    async createWorkflow(steps: object[]) {
      const registered = await app.inject({
        method: 'POST',
        url: '/v1/auth/register',
        payload: {
          email: `worker-process-${randomUUID()}@example.com`,
          password: 'worker process passphrase',
        },
      });
      expect(registered.statusCode, registered.body).toBe(201);
      const authorization = `Bearer ${registered.json<{ token: string }>().token}`;
      const created = await app.inject({
        method: 'POST',
        url: '/v1/workflows',
        headers: { authorization },
        payload: { name: 'Worker process', steps },
      });
      expect(created.statusCode, created.body).toBe(201);
      return { authorization, workflow: created.json<WorkflowResource>() };
    },
    /** Posts `body` to the workflow's webhook (202 expected) and waits until its run is no longer running. */
    async deliverAndWait(
      authorization: string,
      workflow: WorkflowResource,
      body: object,
    ): Promise<RunResource> {
      const delivered = await app.inject({
        method: 'POST',
        url: `/hooks/${workflow.webhook.token}`,
        payload: body,
      });
      expect(delivered.statusCode, delivered.body).toBe(202);
      const { runId } = delivered.json<{ runId: string }>();
      return eventually(
        async () =>
          (
            await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: { authorization } })
          ).json<RunResource>(),
        (run) => run.status !== 'running',
      );
    },
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
