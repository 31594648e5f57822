import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { UnavailableError } from '../../src/errors.js';
import { startWorkerThread } from '../../src/temporal/worker-thread.js';
import type { RunStepsInput } from '../../src/workflows/types.js';
import { testEnv } from '../helpers/config.js';
import { openMigratedDb } from '../helpers/database.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { startStack, type Stack } from '../helpers/stack.js';

/*
 * npm start runs its worker in a worker thread (issue 12): webhooks no longer wait behind the worker on one event
 * loop. The thread cannot open PGlite (one opener), so it asks the API's thread for an account's stored secrets and
 * for the email quota. Here a run goes through that worker end to end: an http step whose header is a secret, then
 * an email charged to the quota, which the second run finds used up.
 */

const SECRET = 'sk_live_thread_0123456789';

let stack: Stack;
let target: HttpTarget;

beforeAll(async () => {
  stack = await startStack({
    worker: 'thread',
    env: { EMAIL_DAILY_QUOTA: '1', HTTP_ALLOWED_PRIVATE_NETWORKS: '127.0.0.0/8' },
  });
  target = await startHttpTarget();
});
afterAll(async () => {
  await target?.close();
  await stack?.close();
});

it('runs http and email steps in the thread, with secrets and the email quota from the API’s database', async () => {
  const { authorization } = await stack.signUp();
  const put = await stack.app.inject({
    method: 'PUT',
    url: '/v1/secrets/CRM_TOKEN',
    headers: { authorization },
    payload: { value: SECRET },
  });
  expect(put.statusCode, put.body).toBe(200);
  const workflow = await stack.createWorkflow(authorization, {
    name: 'Thread',
    steps: [
      {
        id: 'crm',
        type: 'http',
        params: {
          method: 'POST',
          url: `${target.url}/contacts`,
          headers: { authorization: 'Bearer {{secrets.CRM_TOKEN}}' },
        },
      },
      { id: 'notify', type: 'email', params: { to: '{{trigger.body.email}}', subject: 'Hi', text: 'Hello' } },
    ],
  });

  const run = async (email: string) => {
    const hit = await stack.app.inject({
      method: 'POST',
      url: `/hooks/${workflow.webhook.token}`,
      payload: { email },
    });
    expect(hit.statusCode, hit.body).toBe(202);
    return stack.runToEnd(authorization, hit.json<{ runId: string }>().runId, 30_000);
  };

  const first = await run('ada@example.com');
  expect(first.status, JSON.stringify(first)).toBe('completed');
  // The webhook's start went through the thread's connection, eager onto its worker: the history that operators
  // read in the Temporal UI says so on the run's first event.
  const history = await stack.client.workflow.getHandle(first.id).fetchHistory();
  expect(history.events?.[0]?.workflowExecutionStartedEventAttributes?.eagerExecutionAccepted).toBe(true);
  expect(target.requests.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
  expect(
    stack.resend.requests.filter((request) => request.idempotencyKey?.startsWith(`${first.id}/`)),
  ).toHaveLength(1);

  // The quota (1 recipient a day) was charged in the API's database by the first run's send.
  const second = await run('grace@example.com');
  expect(second.status).toBe('failed');
  expect(second.steps[0]).toMatchObject({ id: 'crm', status: 'completed' });
  expect(second.steps[1]).toMatchObject({
    id: 'notify',
    status: 'failed',
    error: { type: 'EmailAccountQuotaExceeded', nonRetryable: true },
  });
  expect(
    stack.resend.requests.filter((request) => request.idempotencyKey?.startsWith(`${second.id}/`)),
  ).toHaveLength(0);
});

it('answers a start after the worker stopped as Temporal being unavailable (503), not as a crash', async () => {
  const db = await openMigratedDb('postgres');
  const thread = await startWorkerThread({
    data: { env: testEnv(), temporalAddress: inject('temporalAddress'), runtimeLogLevel: 'silent' },
    config: stack.config,
    db,
  });
  try {
    await thread.stop();
    // Never sent: a stopped thread answers before anything reaches Temporal.
    const input = { run: { id: 'run_after_stop', ownerId: 'usr_after_stop' } } as RunStepsInput;
    const error = await thread.startRun(input, Date.now() + 5_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).statusCode).toBe(503);
    expect((error as UnavailableError).message).toMatch(/worker stopped before Temporal answered/);
  } finally {
    await db.close();
  }
});

it('rejects with the thread’s own error when the worker cannot start', async () => {
  const db = await openMigratedDb('postgres');
  try {
    const env = testEnv();
    const starting = startWorkerThread({
      // Nothing listens on port 1.
      data: { env, temporalAddress: '127.0.0.1:1', runtimeLogLevel: 'silent' },
      config: stack.config,
      db,
    });
    await expect(starting).rejects.toThrow(/127\.0\.0\.1:1|connect|refused/i);
  } finally {
    await db.close();
  }
});
