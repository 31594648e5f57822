import { randomBytes } from 'node:crypto';
import type { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.js';
import type { RunResource } from '../../src/api/services/run-service.js';
import type { WorkflowResource } from '../../src/api/services/workflow-service.js';
import { connectTemporal } from '../../src/temporal/connection.js';
import { findFreePort } from '../../src/temporal/dev-server.js';
import { testConfig } from '../helpers/config.js';
import { openMigratedDb } from '../helpers/database.js';
import { startFakeResend, type FakeResend } from '../helpers/fake-resend.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { spawnHookflow, waitForWorker, type HookflowProcess } from '../helpers/processes.js';
import { parsePrometheus, sampleValue, type PrometheusSample } from '../helpers/prometheus.js';
import { eventually } from '../helpers/stack.js';

/**
 * A worker process as `npm run start:worker` runs it (the production entrypoint, configured by its environment
 * only) serves its metrics endpoint: the Temporal SDK's own series and Hookflow's step outcomes, after a run whose
 * email step succeeds, whose http step succeeds on its second attempt, and whose last step fails for good.
 */
let db: Awaited<ReturnType<typeof openMigratedDb>>;
let resend: FakeResend;
let target: HttpTarget;
let worker: HookflowProcess;
let connection: Connection;
let client: Client;
let app: App;
let metricsUrl: string;
let taskQueue: string;

beforeAll(async () => {
  db = await openMigratedDb('postgres');
  resend = await startFakeResend();
  target = await startHttpTarget();
  const metricsPort = await findFreePort();
  metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const secretsKey = randomBytes(32).toString('base64');
  const payloadKeys = `k1:${randomBytes(32).toString('base64')}`;
  const config = testConfig({
    SECRETS_ENCRYPTION_KEY: secretsKey,
    PAYLOAD_ENCRYPTION_KEYS: payloadKeys,
    HTTP_ALLOWED_PRIVATE_NETWORKS: '127.0.0.0/8',
  });
  taskQueue = config.temporal.taskQueue;
  worker = spawnHookflow('worker', {
    DATABASE_URL: db.url!,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    TEMPORAL_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
    SECRETS_ENCRYPTION_KEY: secretsKey,
    PAYLOAD_ENCRYPTION_KEYS: payloadKeys,
    RESEND_API_KEY: 're_test_metrics',
    RESEND_BASE_URL: resend.url,
    EMAIL_FROM: config.email.from,
    EMAIL_MAX_PER_SECOND: '1000',
    HTTP_ALLOWED_PRIVATE_NETWORKS: '127.0.0.0/8',
    WORKER_METRICS_PORT: String(metricsPort),
  });
  await waitForWorker(worker);
  ({ connection, client } = await connectTemporal({
    ...config.temporal,
    address: inject('temporalAddress'),
  }));
  app = await buildApp({ config, db, temporal: { client } });
});

afterAll(async () => {
  await app?.close();
  await connection?.close();
  await worker?.kill('SIGTERM');
  await target?.close();
  await resend?.close();
  await db?.close();
});

async function scrape(): Promise<PrometheusSample[]> {
  const response = await fetch(metricsUrl);
  expect(response.status).toBe(200);
  return parsePrometheus(await response.text());
}

it('serves the Temporal SDK metrics and step outcomes by type', async () => {
  expect(worker.output()).toContain(`worker metrics on ${metricsUrl}`);
  const registered = await app.inject({
    method: 'POST',
    url: '/v1/auth/register',
    payload: { email: 'worker-metrics@example.com', password: 'metrics passphrase' },
  });
  const authorization = `Bearer ${registered.json<{ token: string }>().token}`;
  const created = await app.inject({
    method: 'POST',
    url: '/v1/workflows',
    headers: { authorization },
    payload: {
      name: 'Worker metrics',
      steps: [
        { id: 'welcome', type: 'email', params: { to: '{{trigger.body.email}}', subject: 'Hi', text: 'Hi' } },
        {
          id: 'flaky',
          type: 'http',
          params: { method: 'POST', url: `${target.url}/flaky`, body: { n: 1 } },
          retry: { maxAttempts: 3, initialInterval: '1s' },
        },
        {
          id: 'gone',
          type: 'http',
          onFailure: 'continue',
          params: { method: 'GET', url: `${target.url}/gone` },
        },
      ],
    },
  });
  expect(created.statusCode, created.body).toBe(201);
  const workflow = created.json<WorkflowResource>();
  // flaky: 503 then 200; gone: 404, which is not retried.
  target.answerNext({ status: 503 }, { status: 200, body: { ok: true } }, { status: 404, body: 'gone' });

  const delivered = await app.inject({
    method: 'POST',
    url: `/hooks/${workflow.webhook.token}`,
    payload: { email: 'ada@example.com' },
  });
  expect(delivered.statusCode, delivered.body).toBe(202);
  const { runId } = delivered.json<{ runId: string }>();
  const run = await eventually(
    async () =>
      (
        await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: { authorization } })
      ).json<RunResource>(),
    (value) => value.status !== 'running',
  );
  expect(run.steps.map((step) => `${step.id}: ${step.status}`)).toEqual([
    'welcome: completed',
    'flaky: completed',
    'gone: failed',
  ]);

  const samples = await scrape();
  const steps = (labels: Record<string, string>) =>
    sampleValue(samples, 'hookflow_step_attempts_total', labels);
  // Labelled like the SDK's series (task_queue, activity_type), so the two join: email on the main queue.
  expect(
    steps({ step_type: 'email', outcome: 'succeeded', task_queue: taskQueue, activity_type: 'sendEmail' }),
  ).toBe(1);
  expect(steps({ step_type: 'http', outcome: 'retried', error_type: 'HttpRetryableStatus' })).toBe(1);
  expect(steps({ step_type: 'http', outcome: 'succeeded' })).toBe(1);
  expect(steps({ step_type: 'http', outcome: 'failed', error_type: 'HttpStatus' })).toBe(1);
  expect(steps({ outcome: 'failed', step_type: 'email' })).toBe(0);

  // The SDK's own series, in seconds and with _total counters: what an operator graphs and alerts on.
  const names = new Set(samples.map((sample) => sample.name));
  for (const name of [
    'temporal_activity_schedule_to_start_latency_seconds_count',
    'temporal_workflow_task_schedule_to_start_latency_seconds_count',
    'temporal_activity_execution_failed_total',
    'temporal_worker_task_slots_available',
    'temporal_sticky_cache_size',
  ]) {
    expect(names, name).toContain(name);
  }
  expect(
    sampleValue(samples, 'temporal_activity_schedule_to_start_latency_seconds_count'),
  ).toBeGreaterThanOrEqual(4);
  // With the provider rate limit set, every send goes through the task queue that enforces it: none eager
  // (eager-activity.test.ts has the limit off).
  const received = (eager: string) =>
    sampleValue(samples, 'temporal_activity_task_received_total', { activity_type: 'sendEmail', eager });
  expect(received('false')).toBe(1);
  expect(received('true')).toBe(0);
});
