import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResource } from '../../src/api/services/run-service.js';
import type { CreatedWorkflowResource, WorkflowResource } from '../../src/api/services/workflow-service.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const fast = { initialInterval: '200ms', maxInterval: '500ms', backoffCoefficient: 2, maxAttempts: 5 };

const welcomeDefinition = {
  name: 'Welcome series',
  steps: [
    {
      id: 'welcome',
      type: 'email',
      params: {
        to: '{{trigger.body.email}}',
        subject: 'Welcome, {{trigger.body.name}}',
        html: '<p>Hi {{trigger.body.name}}</p>',
        text: 'Hi {{trigger.body.name}}',
      },
      retry: fast,
    },
  ],
};

let stack: Stack;
let auth: { authorization: string; userId: string };

beforeAll(async () => {
  stack = await startStack();
  auth = await stack.signUp();
});
afterAll(async () => {
  await stack?.close();
});

async function createWorkflow(definition: object): Promise<CreatedWorkflowResource> {
  const response = await stack.app.inject({
    method: 'POST',
    url: '/v1/workflows',
    headers: { authorization: auth.authorization },
    payload: definition,
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<CreatedWorkflowResource>();
}

async function hit(workflow: CreatedWorkflowResource, body: unknown, headers: Record<string, string> = {}) {
  return stack.app.inject({
    method: 'POST',
    url: `/hooks/${workflow.webhook.token}`,
    headers: { 'content-type': 'application/json', ...headers },
    payload: JSON.stringify(body),
  });
}

async function getRun(runId: string, authorization = auth.authorization) {
  return stack.app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: { authorization } });
}

async function waitForRun(
  runId: string,
  done: (run: RunResource) => boolean = (run) => run.status !== 'running',
) {
  return eventually(async () => (await getRun(runId)).json<RunResource>(), done);
}

describe('webhook → durable run → email', () => {
  it('sends the rendered email, HTML-escaped in html, and reports the completed run', async () => {
    const workflow = await createWorkflow(welcomeDefinition);
    expect(workflow.webhook.url).toBe(`http://hookflow.test/hooks/${workflow.webhook.token}`);
    expect(workflow.webhook.token.length).toBeGreaterThanOrEqual(40);

    const response = await hit(workflow, {
      email: 'ada@example.com',
      name: 'Ada <script>alert("x")</script>',
    });
    expect(response.statusCode).toBe(202);
    const accepted = response.json<{ runId: string; statusUrl: string; duplicate: boolean }>();
    expect(accepted.duplicate).toBe(false);
    expect(accepted.statusUrl).toBe(`http://hookflow.test/v1/runs/${accepted.runId}`);

    const run = await waitForRun(accepted.runId);
    expect(run).toMatchObject({
      status: 'completed',
      workflowId: workflow.id,
      workflowVersion: 1,
      trigger: { type: 'webhook' },
    });
    expect(run.steps).toMatchObject([{ id: 'welcome', type: 'email', status: 'completed', attempts: 1 }]);
    expect(run.temporal.uiUrl).toContain(`/namespaces/default/workflows/${accepted.runId}/`);

    const [email] = stack.resend.emails.filter((e) => e.idempotencyKey === `${accepted.runId}/welcome`);
    expect(email).toBeDefined();
    expect(email!.to).toEqual(['ada@example.com']);
    expect(email!.subject).toBe('Welcome, Ada <script>alert("x")</script>');
    expect(email!.html).toBe('<p>Hi Ada &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</p>');
    expect(email!.text).toBe('Hi Ada <script>alert("x")</script>');
    expect(email!.from).toBe('Hookflow Tests <tests@hookflow.test>');
  });

  it('accepts form-encoded and text bodies', async () => {
    const workflow = await createWorkflow({
      name: 'Form',
      steps: [
        {
          id: 'note',
          type: 'email',
          params: {
            to: '{{trigger.body.email}}',
            subject: 'From a form',
            text: 'plan={{trigger.body.plan}}',
          },
        },
      ],
    });
    const form = await stack.app.inject({
      method: 'POST',
      url: `/hooks/${workflow.webhook.token}?source=landing`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'email=form%40example.com&plan=pro',
    });
    expect(form.statusCode).toBe(202);
    const run = await waitForRun(form.json<{ runId: string }>().runId);
    expect(run.status).toBe('completed');
    const email = stack.resend.emails.find((e) => e.idempotencyKey === `${run.id}/note`);
    expect(email?.to).toEqual(['form@example.com']);
    expect(email?.text).toBe('plan=pro');

    const text = await stack.app.inject({
      method: 'POST',
      url: `/hooks/${workflow.webhook.token}`,
      headers: { 'content-type': 'text/plain' },
      payload: 'just some text',
    });
    expect(text.statusCode).toBe(202);
    // A text body has no .email: the recipient renders empty and the step fails, naming the template.
    const failed = await waitForRun(text.json<{ runId: string }>().runId);
    expect(failed.status).toBe('failed');
    expect(failed.steps[0]?.error?.message).toContain('{{trigger.body.email}}');
  });

  it('retries a provider 500 twice and sends exactly one email', async () => {
    const workflow = await createWorkflow(welcomeDefinition);
    stack.resend.failNext({ status: 500 }, { status: 500 });
    const response = await hit(workflow, { email: 'retry@example.com', name: 'Retry' });
    const runId = response.json<{ runId: string }>().runId;
    const run = await waitForRun(runId);
    expect(run.status).toBe('completed');
    expect(run.steps[0]).toMatchObject({ status: 'completed', attempts: 3 });
    expect(stack.resend.emails.filter((e) => e.idempotencyKey === `${runId}/welcome`)).toHaveLength(1);
  });

  it('fails the run at once on a provider 422, naming the step and the reason', async () => {
    const workflow = await createWorkflow(welcomeDefinition);
    stack.resend.failNext({
      status: 422,
      name: 'validation_error',
      message: 'The `to` field has an invalid domain.',
    });
    const response = await hit(workflow, { email: 'bad@example.com', name: 'Bad' });
    const runId = response.json<{ runId: string }>().runId;
    const run = await waitForRun(runId);
    expect(run.status).toBe('failed');
    expect(run.error).toContain('step "welcome" failed');
    expect(run.error).toContain('invalid domain');
    expect(run.steps[0]).toMatchObject({ status: 'failed', attempts: 1, error: { nonRetryable: true } });
    expect(stack.resend.requests.filter((r) => r.idempotencyKey === `${runId}/welcome`)).toHaveLength(1);
  });

  it('waits in a delay step and skips a step whose when guard is false', async () => {
    const workflow = await createWorkflow({
      name: 'Delay and guard',
      steps: [
        { id: 'wait', type: 'delay', params: { duration: '2s' } },
        {
          id: 'nudge',
          type: 'email',
          when: { path: 'trigger.body.plan', op: 'eq', value: 'free' },
          params: { to: '{{trigger.body.email}}', subject: 'Still there?', text: 'Upgrade?' },
        },
        {
          id: 'receipt',
          type: 'email',
          params: { to: '{{trigger.body.email}}', subject: 'Receipt', text: 'Thanks' },
        },
      ],
    });
    const started = Date.now();
    const runId = (await hit(workflow, { email: 'paid@example.com', plan: 'pro' })).json<{ runId: string }>()
      .runId;
    const waiting = await waitForRun(runId, (run) => run.steps[0]?.status === 'waiting');
    expect(waiting.status).toBe('running');
    const run = await waitForRun(runId);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(run.steps.map((s) => [s.id, s.status])).toEqual([
      ['wait', 'completed'],
      ['nudge', 'skipped'],
      ['receipt', 'completed'],
    ]);
    const keys = stack.resend.emails.map((e) => e.idempotencyKey);
    expect(keys).toContain(`${runId}/receipt`);
    expect(keys).not.toContain(`${runId}/nudge`);
  });

  it('keeps a waiting run on its version while a new hit uses the edited one', async () => {
    const definition = (subject: string) => ({
      name: 'Versioned',
      steps: [
        { id: 'wait', type: 'delay', params: { duration: '2s' } },
        { id: 'mail', type: 'email', params: { to: 'v@example.com', subject, text: 'x' } },
      ],
    });
    const workflow = await createWorkflow(definition('version one'));
    const oldRunId = (await hit(workflow, {})).json<{ runId: string }>().runId;
    await waitForRun(oldRunId, (run) => run.steps[0]?.status === 'waiting');

    const edited = await stack.app.inject({
      method: 'PUT',
      url: `/v1/workflows/${workflow.id}`,
      headers: { authorization: auth.authorization },
      payload: definition('version two'),
    });
    expect(edited.statusCode).toBe(200);
    expect(edited.json<WorkflowResource>().version).toBe(2);
    const newRunId = (await hit(workflow, {})).json<{ runId: string }>().runId;

    const [oldRun, newRun] = await Promise.all([waitForRun(oldRunId), waitForRun(newRunId)]);
    expect([oldRun.workflowVersion, newRun.workflowVersion]).toEqual([1, 2]);
    expect(stack.resend.emails.find((e) => e.idempotencyKey === `${oldRunId}/mail`)?.subject).toBe(
      'version one',
    );
    expect(stack.resend.emails.find((e) => e.idempotencyKey === `${newRunId}/mail`)?.subject).toBe(
      'version two',
    );
  });

  it('starts one run and sends one email for a repeated Idempotency-Key', async () => {
    const workflow = await createWorkflow(welcomeDefinition);
    const key = { 'idempotency-key': `delivery-${Date.now()}` };
    const first = await hit(workflow, { email: 'once@example.com', name: 'Once' }, key);
    const second = await hit(workflow, { email: 'once@example.com', name: 'Once' }, key);
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(200);
    const [a, b] = [first.json<{ runId: string }>(), second.json<{ runId: string; duplicate: boolean }>()];
    expect(b).toMatchObject({ runId: a.runId, duplicate: true });
    await waitForRun(a.runId);
    // webhook-id (Standard Webhooks) works the same way once the first run has closed.
    const third = await hit(
      workflow,
      { email: 'once@example.com' },
      { 'webhook-id': key['idempotency-key'] },
    );
    expect(third.json<{ runId: string }>().runId).toBe(a.runId);
    expect(stack.resend.emails.filter((e) => e.idempotencyKey === `${a.runId}/welcome`)).toHaveLength(1);
  });

  it('lists a workflow’s runs newest first, filtered by status', async () => {
    const workflow = await createWorkflow(welcomeDefinition);
    const ids: string[] = [];
    for (const name of ['one', 'two', 'three']) {
      ids.push((await hit(workflow, { email: `${name}@example.com`, name })).json<{ runId: string }>().runId);
      await waitForRun(ids.at(-1)!);
    }
    const list = async (query: string) =>
      (
        await stack.app.inject({
          method: 'GET',
          url: `/v1/workflows/${workflow.id}/runs${query}`,
          headers: { authorization: auth.authorization },
        })
      ).json<{ items: RunResource[]; nextCursor: string | null }>();
    const all = await eventually(
      () => list(''),
      (page) => page.items.length === 3,
    );
    expect(all.items.map((run) => run.id)).toEqual([...ids].reverse());
    expect(all.items.every((run) => run.status === 'completed')).toBe(true);
    const page1 = await list('?limit=2');
    expect(page1.items).toHaveLength(2);
    expect(page1.nextCursor).toBeTruthy();
    const page2 = await list(`?limit=2&cursor=${page1.nextCursor}`);
    expect([...page1.items, ...page2.items].map((run) => run.id).sort()).toEqual([...ids].sort());
    expect((await list('?status=failed')).items).toEqual([]);
  });

  it('cancelling a run aborts its email send in flight', async () => {
    const workflow = await createWorkflow({
      name: 'Cancel mid-send',
      steps: [{ id: 'slow', type: 'email', params: { to: 'slow@example.com', subject: 'slow', text: 'x' } }],
    });
    const held = stack.resend.holdNext();
    const runId = (await hit(workflow, {})).json<{ runId: string }>().runId;
    await held.arrived;
    const cancelled = await stack.app.inject({
      method: 'POST',
      url: `/v1/runs/${runId}/cancel`,
      headers: { authorization: auth.authorization },
    });
    expect(cancelled.statusCode).toBe(202);
    // The cancellation reaches the activity with its next heartbeat, which aborts the request to the provider.
    await held.abandoned;
    held.release();
    expect((await waitForRun(runId)).status).toBe('cancelled');
  });

  it('a send slower than the heartbeat timeout (5 s) completes in one attempt: the activity heartbeats', async () => {
    const workflow = await createWorkflow({
      name: 'Slow provider',
      steps: [
        { id: 'slow', type: 'email', params: { to: 'patient@example.com', subject: 'patient', text: 'x' } },
      ],
    });
    const held = stack.resend.holdNext();
    const runId = (await hit(workflow, {})).json<{ runId: string }>().runId;
    await held.arrived;
    // The scenario itself: a provider that takes longer than the heartbeat timeout to answer.
    await new Promise((resolve) => setTimeout(resolve, 6_500));
    held.release();
    const run = await waitForRun(runId);
    expect(run.status).toBe('completed');
    expect(run.steps[0]?.attempts).toBe(1);
    expect(
      stack.resend.requests.filter((request) => request.idempotencyKey === `${runId}/slow`),
    ).toHaveLength(1);
  });

  it('fails a step whose template expands a large value thousands of times, with a TemplateError', async () => {
    const workflow = await createWorkflow({
      name: 'Amplifier',
      steps: [
        {
          id: 'bomb',
          type: 'email',
          // 1,000 copies of a 200 KB value would be 200 MB in the worker and far over Temporal's 2 MiB per event.
          params: { to: 'a@example.com', subject: 'x', html: '{{trigger.body.big}}'.repeat(1_000) },
        },
      ],
    });
    const runId = (await hit(workflow, { big: 'y'.repeat(200_000) })).json<{ runId: string }>().runId;
    const run = await waitForRun(runId);
    expect(run.status).toBe('failed');
    expect(run.steps[0]?.error).toMatchObject({ type: 'TemplateError', nonRetryable: true });
    expect(run.steps[0]?.error?.message).toMatch(/^html: renders more than \d+ characters/);
  });

  it('cancels a waiting run: no email is sent', async () => {
    const workflow = await createWorkflow({
      name: 'Cancellable',
      steps: [
        { id: 'wait', type: 'delay', params: { duration: '1h' } },
        { id: 'late', type: 'email', params: { to: 'late@example.com', subject: 'late', text: 'x' } },
      ],
    });
    const runId = (await hit(workflow, {})).json<{ runId: string }>().runId;
    await waitForRun(runId, (run) => run.steps[0]?.status === 'waiting');
    const cancelled = await stack.app.inject({
      method: 'POST',
      url: `/v1/runs/${runId}/cancel`,
      headers: { authorization: auth.authorization },
    });
    expect(cancelled.statusCode).toBe(202);
    const run = await waitForRun(runId);
    expect(run.status).toBe('cancelled');
    expect(run.steps[1]?.status).toBe('pending');
    expect(stack.resend.requests.some((r) => r.idempotencyKey === `${runId}/late`)).toBe(false);
    const again = await stack.app.inject({
      method: 'POST',
      url: `/v1/runs/${runId}/cancel`,
      headers: { authorization: auth.authorization },
    });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: { code: 'RUN_NOT_RUNNING' } });
  });

  it('retries a failed run from its failed step once the provider recovers: one email in the end', async () => {
    const workflow = await createWorkflow({
      name: 'Two emails',
      steps: [
        { id: 'first', type: 'email', params: { to: 'r@example.com', subject: 'first', text: 'x' } },
        { id: 'pause', type: 'delay', params: { duration: '1s' } },
        {
          id: 'second',
          type: 'email',
          params: { to: 'r@example.com', subject: 'second', text: 'x' },
          retry: { ...fast, maxAttempts: 2 },
        },
      ],
    });
    const runId = (await hit(workflow, {})).json<{ runId: string }>().runId;
    await waitForRun(runId, (run) => run.steps[1]?.status === 'waiting');
    stack.resend.failNext({ status: 500 }, { status: 500 });
    const failed = await waitForRun(runId);
    expect(failed.status).toBe('failed');
    expect(failed.steps.map((s) => s.status)).toEqual(['completed', 'completed', 'failed']);
    expect(failed.steps[2]?.attempts).toBe(2);

    const retried = await stack.app.inject({
      method: 'POST',
      url: `/v1/runs/${runId}/retry`,
      headers: { authorization: auth.authorization },
    });
    expect(retried.statusCode).toBe(202);
    const retryRun = retried.json<RunResource>();
    expect(retryRun.id).not.toBe(runId);
    expect(retryRun.retryOf).toBe(runId);
    const done = await waitForRun(retryRun.id);
    expect(done.status).toBe('completed');
    expect(done.steps.map((s) => s.status)).toEqual(['completed', 'completed', 'completed']);

    const subjects = stack.resend.emails
      .filter((e) => e.idempotencyKey?.startsWith(runId) || e.idempotencyKey?.startsWith(retryRun.id))
      .map((e) => e.subject);
    expect(subjects.sort()).toEqual(['first', 'second']);

    const twice = await stack.app.inject({
      method: 'POST',
      url: `/v1/runs/${runId}/retry`,
      headers: { authorization: auth.authorization },
    });
    expect(twice.json<RunResource>().id).toBe(retryRun.id);
  });

  it('a retried run does not send again an email whose earlier attempt reached the provider', async () => {
    const workflow = await createWorkflow({
      name: 'Lost answers',
      steps: [
        {
          id: 'only',
          type: 'email',
          params: { to: 'lost@example.com', subject: 'lost answer', text: 'x' },
          retry: { ...fast, maxAttempts: 2 },
        },
      ],
    });
    // The provider accepts the email, but its answer never arrives: both attempts fail, the run fails.
    stack.resend.failNext({ status: 0, accept: true }, { status: 0, accept: true });
    const runId = (await hit(workflow, {})).json<{ runId: string }>().runId;
    expect((await waitForRun(runId)).status).toBe('failed');

    const retried = await stack.app.inject({
      method: 'POST',
      url: `/v1/runs/${runId}/retry`,
      headers: { authorization: auth.authorization },
    });
    expect(retried.statusCode).toBe(202);
    const done = await waitForRun(retried.json<RunResource>().id);
    expect(done.status).toBe('completed');
    // The retry sent with the first run's idempotency key: the provider answered with the email it already had.
    const sent = stack.resend.emails.filter((email) => email.subject === 'lost answer');
    expect(sent).toHaveLength(1);
    expect(sent[0]?.idempotencyKey).toBe(`${runId}/only`);
    expect((done.steps[0]?.output as { providerId: string }).providerId).toBe(sent[0]?.id);
  });
});
