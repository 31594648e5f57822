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
import { spawnHookflow, waitForWorker, type HookflowProcess } from '../helpers/processes.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { eventually } from '../helpers/stack.js';

/**
 * EMAIL_MAX_PER_SECOND=0 turns the provider rate limit off, and with it the worker takes its email sends as eager
 * activities on a server that allows them (the dev server does, src/temporal/dev-server.ts): the workflow task that
 * schedules a send gets it back in its answer. What an operator sees is the SDK's own counter of activity tasks
 * received, labelled eager="true"; worker-metrics.test.ts checks the other side (a limit set: none eager).
 */
let db: Awaited<ReturnType<typeof openMigratedDb>>;
let resend: FakeResend;
let worker: HookflowProcess;
let connection: Connection;
let client: Client;
let app: App;
let metricsUrl: string;

beforeAll(async () => {
  db = await openMigratedDb('postgres');
  resend = await startFakeResend();
  const metricsPort = await findFreePort();
  metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const secretsKey = randomBytes(32).toString('base64');
  const payloadKeys = `k1:${randomBytes(32).toString('base64')}`;
  const config = testConfig({
    EMAIL_MAX_PER_SECOND: '0',
    SECRETS_ENCRYPTION_KEY: secretsKey,
    PAYLOAD_ENCRYPTION_KEYS: payloadKeys,
  });
  worker = spawnHookflow('worker', {
    DATABASE_URL: db.url!,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    TEMPORAL_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
    SECRETS_ENCRYPTION_KEY: secretsKey,
    PAYLOAD_ENCRYPTION_KEYS: payloadKeys,
    RESEND_API_KEY: 're_test_eager',
    RESEND_BASE_URL: resend.url,
    EMAIL_FROM: config.email.from,
    EMAIL_MAX_PER_SECOND: '0',
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
  await resend?.close();
  await db?.close();
});

it('sends each email as an eager activity when the provider rate limit is off', async () => {
  const registered = await app.inject({
    method: 'POST',
    url: '/v1/auth/register',
    payload: { email: 'eager@example.com', password: 'eager passphrase' },
  });
  const authorization = `Bearer ${registered.json<{ token: string }>().token}`;
  const created = await app.inject({
    method: 'POST',
    url: '/v1/workflows',
    headers: { authorization },
    payload: {
      name: 'Eager sends',
      steps: [
        { id: 'first', type: 'email', params: { to: '{{trigger.body.email}}', subject: 'One', text: '1' } },
        { id: 'second', type: 'email', params: { to: '{{trigger.body.email}}', subject: 'Two', text: '2' } },
      ],
    },
  });
  expect(created.statusCode, created.body).toBe(201);
  const workflow = created.json<WorkflowResource>();

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
  expect(run.status).toBe('completed');
  expect(run.steps.map((step) => `${step.id}: ${step.status} (${step.attempts})`)).toEqual([
    'first: completed (1)',
    'second: completed (1)',
  ]);
  expect(resend.emails.map((email) => email.subject)).toEqual(['One', 'Two']);

  const response = await fetch(metricsUrl);
  expect(response.status).toBe(200);
  const samples = parsePrometheus(await response.text());
  const received = (eager: string) =>
    sampleValue(samples, 'temporal_activity_task_received_total', { activity_type: 'sendEmail', eager });
  expect(received('true')).toBe(2);
  expect(received('false')).toBe(0);
});
