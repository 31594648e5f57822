import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResource } from '../../src/api/services/run-service.js';
import type { WorkflowResource } from '../../src/api/services/workflow-service.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

/*
 * Email abuse through the webhook (issue 11): what a hostile webhook caller or account can make Hookflow send, end to
 * end through the API, a real worker on the dev server and the fake Resend. The test config sends from
 * tests@hookflow.test, so hookflow.test is the only allowed sender domain unless a test sets
 * EMAIL_ALLOWED_FROM_DOMAINS.
 */

const fast = { initialInterval: '200ms', maxInterval: '500ms', backoffCoefficient: 2, maxAttempts: 3 };

let stack: Stack;
let auth: { authorization: string; userId: string };

beforeAll(async () => {
  stack = await startStack({ env: { EMAIL_ALLOWED_FROM_DOMAINS: 'hookflow.test, news.hookflow.test' } });
  auth = await stack.signUp();
});
afterAll(async () => {
  await stack?.close();
});

function emailWorkflow(params: Record<string, unknown>) {
  return {
    name: 'Signup',
    steps: [
      {
        id: 'welcome',
        type: 'email',
        params: { to: '{{trigger.body.email}}', subject: 'Welcome', text: 'Hi', ...params },
        retry: fast,
      },
    ],
  };
}

async function save(method: 'POST' | 'PUT', url: string, definition: object) {
  return stack.app.inject({
    method,
    url,
    headers: { authorization: auth.authorization },
    payload: definition,
  });
}

async function createWorkflow(definition: object): Promise<WorkflowResource> {
  const response = await save('POST', '/v1/workflows', definition);
  expect(response.statusCode, response.body).toBe(201);
  return response.json<WorkflowResource>();
}

/** Hits the webhook and waits for the run to close. */
async function runOnce(workflow: WorkflowResource, body: unknown): Promise<RunResource> {
  const response = await stack.app.inject({
    method: 'POST',
    url: `/hooks/${workflow.webhook.token}`,
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  });
  expect(response.statusCode, response.body).toBe(202);
  const { runId } = response.json<{ runId: string }>();
  return eventually(
    async () =>
      (
        await stack.app.inject({
          method: 'GET',
          url: `/v1/runs/${runId}`,
          headers: { authorization: auth.authorization },
        })
      ).json<RunResource>(),
    (run) => run.status !== 'running',
  );
}

/** What the provider was asked to send for a run (every attempt, accepted or not). */
const requestsOf = (run: RunResource) =>
  stack.resend.requests.filter((request) => request.idempotencyKey?.startsWith(`${run.id}/`));
const emailsOf = (run: RunResource) =>
  stack.resend.emails.filter((email) => email.idempotencyKey?.startsWith(`${run.id}/`));

describe('recipient injection', () => {
  it('fails the run with a TemplateError and sends nothing when a value holds a list of addresses', async () => {
    const workflow = await createWorkflow(emailWorkflow({}));
    const run = await runOnce(workflow, { email: 'a@x.com,b@y.com' });

    expect(run.status).toBe('failed');
    expect(run.steps[0]).toMatchObject({
      id: 'welcome',
      status: 'failed',
      error: {
        type: 'TemplateError',
        nonRetryable: true,
        message: expect.stringContaining(
          'to: "{{trigger.body.email}}" rendered "a@x.com,b@y.com", which holds more than one address',
        ) as unknown,
      },
    });
    expect(requestsOf(run)).toEqual([]);
  });

  it('sends to each address of an array value, and to the literal list of the step', async () => {
    const workflow = await createWorkflow(
      emailWorkflow({ to: ['{{trigger.body.email}}', 'ops@example.com'] }),
    );
    const run = await runOnce(workflow, { email: ['a@x.com', 'b@y.com'] });

    expect(run.status, JSON.stringify(run.steps)).toBe('completed');
    const emails = emailsOf(run);
    expect(emails).toHaveLength(1);
    expect(emails[0]?.to).toEqual(['a@x.com', 'b@y.com', 'ops@example.com']);
  });
});

describe('links in html', () => {
  it('never sends a javascript: URL into an href; http(s) links go through', async () => {
    const workflow = await createWorkflow(
      emailWorkflow({
        html: '<a href="{{trigger.body.url}}">Confirm</a> <a href={{trigger.body.home}}>Home</a>',
      }),
    );
    const hostile = await runOnce(workflow, {
      email: 'ada@example.com',
      url: 'javascript:alert(document.cookie)',
      home: ' JaVa\tScRiPt:alert(1)',
    });
    expect(hostile.status, JSON.stringify(hostile.steps)).toBe('completed');
    const [sent] = emailsOf(hostile);
    expect(sent?.html).toBe('<a href="#">Confirm</a> <a href=&#x23;>Home</a>');
    expect(emailsOf(hostile)).toHaveLength(1);
    expect(JSON.stringify(emailsOf(hostile))).not.toMatch(/script/i);

    const fine = await runOnce(workflow, {
      email: 'ada@example.com',
      url: 'https://example.com/confirm?t=1&u=2',
      home: 'https://example.com',
    });
    expect(emailsOf(fine)[0]?.html).toBe(
      '<a href="https://example.com/confirm?t=1&amp;u=2">Confirm</a> ' +
        '<a href=https&#x3a;&#x2f;&#x2f;example&#x2e;com>Home</a>',
    );
  });
});

describe('header fields', () => {
  it('fails the run when a value brings a control character into the subject', async () => {
    const workflow = await createWorkflow(emailWorkflow({ subject: 'Welcome, {{trigger.body.name}}' }));
    const run = await runOnce(workflow, { email: 'ada@example.com', name: 'Ada\tBcc: victim@example.com' });
    expect(run.status).toBe('failed');
    expect(run.steps[0]?.error).toMatchObject({
      type: 'TemplateError',
      message: expect.stringContaining(
        'subject: rendered value contains a control character (U+0009)',
      ) as unknown,
    });
    expect(requestsOf(run)).toEqual([]);
  });

  it('refuses a control character typed into a header field on save', async () => {
    const response = await save('POST', '/v1/workflows', emailWorkflow({ subject: 'Hello\u2028there' }));
    expect(response.statusCode).toBe(400);
    expect(response.json<{ error: { message: string } }>().error.message).toContain(
      'must not contain a line separator (U+2028): it is an email header',
    );
  });
});

describe('sender domains', () => {
  it('refuses a literal from outside the allowed domains with a 400 on save (create and replace)', async () => {
    const spoofed = emailWorkflow({ from: 'Bank <security@bank.example>' });
    const created = await save('POST', '/v1/workflows', spoofed);
    expect(created.statusCode).toBe(400);
    const body = created.json<{ error: { code: string; message: string; details: unknown[] } }>();
    expect(body.error.code).toBe('VALIDATION_FAILED');
    expect(body.error.details).toEqual([
      {
        path: 'body.steps[0] (id "welcome").params.from',
        message:
          '"Bank <security@bank.example>" sends from bank.example, which this Hookflow does not send from; ' +
          'allowed sender domains: hookflow.test, news.hookflow.test',
      },
    ]);

    const workflow = await createWorkflow(emailWorkflow({ from: 'News <hi@news.hookflow.test>' }));
    const replaced = await save('PUT', `/v1/workflows/${workflow.id}`, spoofed);
    expect(replaced.statusCode).toBe(400);
    expect(replaced.body).toContain('bank.example');
  });

  it('fails the step at send, non-retryable, when a placeholder makes the sender another domain', async () => {
    const workflow = await createWorkflow(emailWorkflow({ from: '{{trigger.body.from}}' }));
    const run = await runOnce(workflow, { email: 'ada@example.com', from: 'Bank <security@bank.example>' });
    expect(run.status).toBe('failed');
    expect(run.steps[0]).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: { type: 'EmailSenderNotAllowed', nonRetryable: true },
    });
    expect(requestsOf(run)).toEqual([]);

    const allowed = await runOnce(workflow, {
      email: 'ada@example.com',
      from: 'News <hi@news.hookflow.test>',
    });
    expect(allowed.status).toBe('completed');
    expect(emailsOf(allowed)[0]?.from).toBe('News <hi@news.hookflow.test>');
  });
});
