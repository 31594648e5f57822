import { randomUUID } from 'node:crypto';
import { ApplicationFailure, Client, Connection, WorkflowFailedError } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createResendTransport } from '../../src/activities/email-transport.js';
import { createActivities } from '../../src/activities/index.js';
import { HOOKFLOW_OWNER_ID, HOOKFLOW_WORKFLOW_ID } from '../../src/temporal/search-attributes.js';
import { connectWorker, createHookflowWorker } from '../../src/temporal/worker.js';
import type { EmailStep } from '../../src/dsl/email-step.js';
import type { Step } from '../../src/dsl/schema.js';
import { RUN_STEPS_WORKFLOW_TYPE } from '../../src/workflows/names.js';
import {
  STEP_FAILED_ERROR_TYPE,
  type RunProgress,
  type RunStepsInput,
  type SendEmailResult,
} from '../../src/workflows/types.js';
import { testConfig } from '../helpers/config.js';
import { startFakeResend, type FakeResend } from '../helpers/fake-resend.js';
import { noEmailQuota, noStoredSecrets } from '../helpers/stack.js';

/*
 * Email delivery end to end: the interpreter workflow on a real worker and the real Temporal dev server, the real
 * Resend SDK, and a local fake of the Resend HTTP API as the only stand-in.
 */

const temporalAddress = inject('temporalAddress');
const RESEND_API_KEY = 're_test_hookflow';
const DEFAULT_FROM = 'Hookflow Tests <tests@hookflow.test>';
/** Short waits so retries happen within a test's second or two. */
const FAST_RETRY = { initialInterval: '200ms', maxInterval: '1s', maxAttempts: 5 } as const;

let workerConnection: NativeConnection;
let connection: Connection;
let client: Client;
let fake: FakeResend;

beforeAll(async () => {
  workerConnection = await connectWorker(temporalAddress);
  connection = await Connection.connect({ address: temporalAddress });
  client = new Client({ connection });
});
afterAll(async () => {
  await connection?.close();
  await workerConnection?.close();
});
beforeEach(async () => {
  fake = await startFakeResend();
});
afterEach(async () => {
  await fake.close();
});

type Outcome = { ok: true; result: RunProgress } | { ok: false; error: unknown };

/**
 * Runs `steps` as one Hookflow run (its own workflow id, its own task queue and worker), with `body` as the
 * webhook body; resolves once the run closed, with how long it took.
 */
async function runWorkflow(steps: Step[], body: unknown) {
  const config = testConfig({ TEMPORAL_WORKFLOW_BUNDLE: inject('workflowBundlePath') });
  const activities = createActivities({
    config,
    transport: createResendTransport({ resendApiKey: RESEND_API_KEY, resendBaseUrl: fake.url }),
    secrets: noStoredSecrets,
    emailQuota: noEmailQuota,
  });
  const worker = await createHookflowWorker({
    connection: workerConnection,
    temporal: config.temporal,
    email: config.email,
    activities,
  });
  const runId = `run_${randomUUID()}`;
  const input: RunStepsInput = {
    run: { id: runId, ownerId: randomUUID() },
    definition: { workflowId: randomUUID(), version: 1, name: 'Email delivery', steps },
    trigger: { type: 'webhook', receivedAt: new Date().toISOString(), body, query: {}, headers: {} },
  };
  const started = performance.now();
  const outcome: Outcome = await worker
    .runUntil(
      client.workflow.execute(RUN_STEPS_WORKFLOW_TYPE, {
        taskQueue: config.temporal.taskQueue,
        workflowId: runId,
        args: [input],
        typedSearchAttributes: [
          { key: HOOKFLOW_WORKFLOW_ID, value: input.definition.workflowId },
          { key: HOOKFLOW_OWNER_ID, value: input.run.ownerId },
        ],
      }) as Promise<RunProgress>,
    )
    .then(
      (result) => ({ ok: true as const, result }),
      (error: unknown) => ({ ok: false as const, error }),
    );
  return { runId, outcome, elapsedMs: performance.now() - started };
}

function completed(outcome: Outcome): RunProgress {
  if (!outcome.ok) throw new Error('expected the run to complete', { cause: outcome.error });
  return outcome.result;
}

/** The failure a run ended with: its message and the step states it carries (details[0]). */
function failed(outcome: Outcome): { message: string; progress: RunProgress } {
  if (outcome.ok)
    throw new Error(`expected the run to fail, it completed: ${JSON.stringify(outcome.result)}`);
  expect(outcome.error).toBeInstanceOf(WorkflowFailedError);
  const cause = (outcome.error as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  const failure = cause as ApplicationFailure;
  expect(failure.type).toBe(STEP_FAILED_ERROR_TYPE);
  expect(failure.details?.[0]).toBeDefined();
  return { message: failure.message, progress: failure.details?.[0] as RunProgress };
}

function stepOf(progress: RunProgress, id: string) {
  const step = progress.steps.find((s) => s.id === id);
  if (!step) throw new Error(`no step "${id}" in ${JSON.stringify(progress.steps)}`);
  return step;
}

function emailStep(
  id: string,
  params: Partial<EmailStep['params']> = {},
  extra: Partial<EmailStep> = {},
): Step {
  return {
    id,
    type: 'email',
    params: { to: '{{trigger.body.email}}', subject: 'Hello {{trigger.body.name}}', text: 'Hi', ...params },
    retry: FAST_RETRY,
    ...extra,
  };
}

describe('email steps through the Resend SDK', () => {
  it('sends the rendered email once, HTML-escaped in html, raw in text, keyed by run and step', async () => {
    const name = `<script>alert("x")</script> O'Brien & co`;
    const { runId, outcome } = await runWorkflow(
      [
        emailStep('welcome', {
          to: '{{trigger.body.email}}',
          subject: 'Welcome to {{workflow.name}}',
          html: '<p>Hi {{trigger.body.name}}</p>',
          text: 'Hi {{trigger.body.name}}',
        }),
      ],
      { email: 'ada@example.com', name },
    );
    const result = completed(outcome);

    expect(fake.emails).toHaveLength(1);
    const [email] = fake.emails;
    expect(email).toMatchObject({
      idempotencyKey: `${runId}/welcome`,
      from: DEFAULT_FROM,
      to: ['ada@example.com'],
      subject: 'Welcome to Email delivery',
      html: '<p>Hi &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; O&#39;Brien &amp; co</p>',
      text: `Hi ${name}`,
    });
    expect(email?.html).not.toContain('<script>');

    const step = stepOf(result, 'welcome');
    expect(step).toMatchObject({ status: 'completed', attempts: 1, error: null });
    expect(step.output).toEqual({
      providerId: email!.id,
      transport: 'resend',
      to: ['ada@example.com'],
      attempt: 1,
    } satisfies SendEmailResult);
  });

  it('uses the step’s own from, reply-to, cc and bcc when it has them', async () => {
    const { outcome } = await runWorkflow(
      [
        emailStep('notify', {
          from: 'Support <support@hookflow.test>',
          replyTo: 'help@example.com',
          cc: ['{{trigger.body.manager}}'],
          bcc: 'audit@example.com',
        }),
      ],
      { email: 'ada@example.com', name: 'Ada', manager: 'grace@example.com' },
    );
    completed(outcome);
    expect(fake.emails).toHaveLength(1);
    expect(fake.emails[0]).toMatchObject({
      from: 'Support <support@hookflow.test>',
      replyTo: ['help@example.com'],
      cc: ['grace@example.com'],
      bcc: ['audit@example.com'],
    });
  });

  it('retries a provider outage (500, 500, then 200) and sends exactly one email', async () => {
    fake.failNext({ status: 500 }, { status: 500 });
    const { runId, outcome } = await runWorkflow([emailStep('welcome')], {
      email: 'ada@example.com',
      name: 'Ada',
    });
    const result = completed(outcome);

    expect(fake.requests.map((r) => [r.idempotencyKey, r.status])).toEqual([
      [`${runId}/welcome`, 500],
      [`${runId}/welcome`, 500],
      [`${runId}/welcome`, 200],
    ]);
    expect(fake.emails).toHaveLength(1);
    expect(stepOf(result, 'welcome')).toMatchObject({ status: 'completed', attempts: 3 });
  });

  it('fails the run once a provider outage outlasts the step’s attempts, recording each attempt', async () => {
    fake.failNext({ status: 503 }, { status: 503 }, { status: 503 });
    const { runId, outcome } = await runWorkflow(
      [emailStep('welcome', {}, { retry: { ...FAST_RETRY, maxAttempts: 3 } })],
      { email: 'ada@example.com', name: 'Ada' },
    );
    const { message, progress } = failed(outcome);

    expect(fake.requests.map((r) => [r.idempotencyKey, r.status])).toEqual([
      [`${runId}/welcome`, 503],
      [`${runId}/welcome`, 503],
      [`${runId}/welcome`, 503],
    ]);
    expect(fake.emails).toHaveLength(0);
    expect(message).toContain('step "welcome" failed');
    expect(message).toContain('503');
    expect(stepOf(progress, 'welcome')).toMatchObject({
      status: 'failed',
      attempts: 3,
      error: { type: 'EmailProviderUnavailable' },
    });
    expect(stepOf(progress, 'welcome').error?.nonRetryable).toBeFalsy();
  });

  it('never sends twice when the provider accepted the email but its answer was lost', async () => {
    fake.failNext({ status: 0, accept: true });
    const { outcome } = await runWorkflow([emailStep('welcome')], { email: 'ada@example.com', name: 'Ada' });
    const result = completed(outcome);

    expect(fake.requests.map((r) => r.status)).toEqual([0, 200]);
    expect(fake.requests[1]?.replayed).toBe(true);
    expect(fake.emails).toHaveLength(1);
    expect(stepOf(result, 'welcome')).toMatchObject({
      status: 'completed',
      attempts: 2,
      output: { providerId: fake.emails[0]?.id },
    });
  });

  it('fails the run at once on a rejection (422), naming the step and what the provider said', async () => {
    fake.failNext({
      status: 422,
      name: 'validation_error',
      message: 'The `to` address is on the suppression list.',
    });
    const { outcome } = await runWorkflow(
      [emailStep('welcome'), { id: 'later', type: 'delay', params: { duration: '1s' } }],
      { email: 'ada@example.com', name: 'Ada' },
    );
    const { message, progress } = failed(outcome);

    expect(fake.requests).toHaveLength(1);
    expect(fake.emails).toHaveLength(0);
    expect(message).toContain('step "welcome" failed');
    expect(message).toContain('422 validation_error');
    expect(message).toContain('The `to` address is on the suppression list.');
    expect(stepOf(progress, 'welcome')).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: { type: 'EmailRejected', nonRetryable: true },
    });
    expect(stepOf(progress, 'later').status).toBe('pending');
  });

  it('waits for the provider’s retry-after on a 429, then sends one email', async () => {
    // The step's own backoff asks for 200 ms, which the dev server turns into a retry about 1 s later (see the
    // outage test): the provider's 2 s must win, or the gap below would be about 1 s.
    fake.failNext({ status: 429, retryAfterSeconds: 2 });
    const { outcome } = await runWorkflow([emailStep('welcome')], { email: 'ada@example.com', name: 'Ada' });
    const result = completed(outcome);

    const [limited, accepted] = fake.requests;
    expect(limited?.status).toBe(429);
    expect(accepted?.status).toBe(200);
    const gapMs = accepted!.receivedAt - limited!.answeredAt!;
    expect(gapMs).toBeGreaterThanOrEqual(1900);
    expect(gapMs).toBeLessThan(5000);
    expect(fake.emails).toHaveLength(1);
    expect(stepOf(result, 'welcome')).toMatchObject({ status: 'completed', attempts: 2 });
  });

  it('fails the step without calling the provider when a template renders an invalid recipient', async () => {
    const { outcome } = await runWorkflow([emailStep('welcome', { to: '{{trigger.body.email}}' })], {
      email: 'not-an-email',
      name: 'Ada',
    });
    const { message, progress } = failed(outcome);

    expect(fake.requests).toHaveLength(0);
    expect(message).toContain('step "welcome" failed');
    expect(message).toContain('{{trigger.body.email}}');
    expect(message).toContain('not-an-email');
    expect(stepOf(progress, 'welcome')).toMatchObject({
      status: 'failed',
      error: { type: 'TemplateError', nonRetryable: true },
    });
  });
});

describe('guards and delays around email steps', () => {
  it('skips a step whose when guard is false and sends nothing for it', async () => {
    const { outcome } = await runWorkflow(
      [
        emailStep('nudge', {}, { when: { path: 'trigger.body.plan', op: 'eq', value: 'free' } }),
        emailStep(
          'receipt',
          { subject: 'Receipt' },
          { when: { path: 'trigger.body.plan', op: 'eq', value: 'pro' } },
        ),
      ],
      { email: 'ada@example.com', name: 'Ada', plan: 'pro' },
    );
    const result = completed(outcome);

    expect(result.steps.map((s) => [s.id, s.status])).toEqual([
      ['nudge', 'skipped'],
      ['receipt', 'completed'],
    ]);
    expect(stepOf(result, 'nudge')).toMatchObject({ attempts: 0, output: null });
    expect(fake.emails.map((e) => e.subject)).toEqual(['Receipt']);
  });

  it('waits out a delay step on a durable timer before the next email', async () => {
    const { outcome, elapsedMs } = await runWorkflow(
      [{ id: 'pause', type: 'delay', params: { duration: '1500ms' } }, emailStep('after')],
      { email: 'ada@example.com', name: 'Ada' },
    );
    const result = completed(outcome);

    const pause = stepOf(result, 'pause');
    expect(pause.status).toBe('completed');
    const waitedMs = Date.parse(pause.finishedAt!) - Date.parse(pause.startedAt!);
    expect(waitedMs).toBeGreaterThanOrEqual(1500);
    expect(waitedMs).toBeLessThan(3000);
    expect(elapsedMs).toBeGreaterThanOrEqual(1500);
    expect(fake.emails).toHaveLength(1);
    expect(fake.emails[0]!.receivedAt - Date.parse(pause.startedAt!)).toBeGreaterThanOrEqual(1500);
  });
});

describe('the fake Resend API, through the real SDK', () => {
  const message = { from: DEFAULT_FROM, to: ['ada@example.com'], subject: 'Hi', text: 'Hello' };

  it('answers a repeated idempotent request with the same id and accepts one email', async () => {
    const transport = createResendTransport({ resendApiKey: RESEND_API_KEY, resendBaseUrl: fake.url });
    const first = await transport.send(message, 'key-1');
    const again = await transport.send(message, 'key-1');
    expect(first).toMatchObject({ ok: true });
    expect(again).toEqual(first);
    expect(fake.emails).toHaveLength(1);
  });

  it('rejects the same key with another body (409) and a missing API key (401)', async () => {
    const transport = createResendTransport({ resendApiKey: RESEND_API_KEY, resendBaseUrl: fake.url });
    await transport.send(message, 'key-1');
    expect(await transport.send({ ...message, subject: 'Changed' }, 'key-1')).toMatchObject({
      ok: false,
      statusCode: 409,
      name: 'invalid_idempotent_request',
    });
    const response = await fetch(`${fake.url}/emails`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(message),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ statusCode: 401, name: 'missing_api_key' });
  });

  it('answers 409 concurrent_idempotent_requests while a request with the same key is in progress', async () => {
    const transport = createResendTransport({ resendApiKey: RESEND_API_KEY, resendBaseUrl: fake.url });
    const held = fake.holdNext();
    const first = transport.send(message, 'key-1');
    await held.arrived;
    expect(await transport.send(message, 'key-1')).toMatchObject({
      ok: false,
      statusCode: 409,
      name: 'concurrent_idempotent_requests',
    });
    held.release();
    expect(await first).toMatchObject({ ok: true });
    expect(fake.emails).toHaveLength(1);
  });

  it('reports missing fields as 422 and passes retry-after through on 429', async () => {
    const transport = createResendTransport({ resendApiKey: RESEND_API_KEY, resendBaseUrl: fake.url });
    expect(await transport.send({ ...message, subject: '' }, 'key-2')).toMatchObject({
      ok: false,
      statusCode: 422,
      name: 'missing_required_field',
    });
    fake.failNext({ status: 429, retryAfterSeconds: 7 });
    expect(await transport.send(message, 'key-3')).toMatchObject({
      ok: false,
      statusCode: 429,
      name: 'rate_limit_exceeded',
      retryAfterSeconds: 7,
    });
    fake.failNext({ status: 0 });
    expect(await transport.send(message, 'key-4')).toMatchObject({ ok: false, statusCode: null });
  });
});
