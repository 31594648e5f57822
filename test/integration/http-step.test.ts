import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResource } from '../../src/api/services/run-service.js';
import type { WorkflowResource } from '../../src/api/services/workflow-service.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

/*
 * The http step through the whole product: API, real worker on the shared Temporal dev server, a local target
 * server. Loopback is opened with HTTP_ALLOWED_PRIVATE_NETWORKS here; the refusals without it are proved below with
 * a stack that has no allow-list.
 */

const fast = { initialInterval: '100ms', maxInterval: '200ms', backoffCoefficient: 2, maxAttempts: 3 };

let stack: Stack;
let target: HttpTarget;
let auth: { authorization: string; userId: string };

beforeAll(async () => {
  stack = await startStack({ env: { HTTP_ALLOWED_PRIVATE_NETWORKS: '127.0.0.0/8' } });
  target = await startHttpTarget();
  auth = await stack.signUp();
});
afterAll(async () => {
  await target?.close();
  await stack?.close();
});

async function createWorkflow(
  steps: object[],
  authorization = auth.authorization,
): Promise<WorkflowResource> {
  const response = await stack.app.inject({
    method: 'POST',
    url: '/v1/workflows',
    headers: { authorization },
    payload: { name: 'Http step', steps },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<WorkflowResource>();
}

async function hit(workflow: WorkflowResource, body: unknown): Promise<string> {
  const response = await stack.app.inject({
    method: 'POST',
    url: `/hooks/${workflow.webhook.token}`,
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  });
  expect(response.statusCode, response.body).toBe(202);
  return response.json<{ runId: string }>().runId;
}

async function finished(runId: string, authorization = auth.authorization): Promise<RunResource> {
  return eventually(
    async () =>
      (await stack.app.inject({ url: `/v1/runs/${runId}`, headers: { authorization } })).json<RunResource>(),
    (run) => run.status !== 'running',
    30_000,
  );
}

const httpStep = (id: string, params: object, extra: object = {}) => ({
  id,
  type: 'http',
  params,
  retry: fast,
  ...extra,
});

describe('http step', () => {
  it('sends the rendered request and hands its JSON output to the next step', async () => {
    const workflow = await createWorkflow([
      httpStep('crm', {
        method: 'POST',
        url: `${target.url}/v1/contacts/{{trigger.body.team}}`,
        headers: { 'x-source': 'hookflow {{workflow.name}}' },
        query: { plan: '{{trigger.body.plan}}' },
        body: {
          email: '{{trigger.body.email}}',
          tags: '{{trigger.body.tags}}',
          note: 'signed up as {{trigger.body.plan}}',
        },
      }),
      {
        id: 'thanks',
        type: 'email',
        when: { path: 'steps.crm.output.status', op: 'eq', value: 201 },
        params: {
          to: '{{trigger.body.email}}',
          subject: "You're in",
          text: 'CRM id {{steps.crm.output.body.id}}',
        },
      },
    ]);
    target.answerNext({ status: 201, headers: { 'x-request-id': 'abc' }, body: { id: 'c_123' } });
    const runId = await hit(workflow, {
      email: 'ada@example.com',
      plan: 'pro & more',
      team: 'a/b',
      tags: ['x', 'y'],
    });
    const run = await finished(runId);
    expect(run.status, JSON.stringify(run)).toBe('completed');

    const [request] = target.requests.slice(-1);
    expect(request?.method).toBe('POST');
    // Values inside a url are one path component each; query values are encoded by the URL.
    expect(request?.url).toBe('/v1/contacts/a%2Fb?plan=pro+%26+more');
    expect(request?.headers['x-source']).toBe('hookflow Http step');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['idempotency-key']).toBe(`${runId}/crm`);
    expect(JSON.parse(request?.body ?? '')).toEqual({
      email: 'ada@example.com',
      tags: ['x', 'y'],
      note: 'signed up as pro & more',
    });

    const crm = run.steps.find((step) => step.id === 'crm');
    expect(crm).toMatchObject({ status: 'completed', attempts: 1 });
    expect(crm?.output).toMatchObject({
      status: 201,
      body: { id: 'c_123' },
      truncated: false,
      headers: { 'x-request-id': 'abc', 'content-type': 'application/json' },
    });
    const [email] = await stack.resend.waitForEmails(1);
    expect(email?.text).toBe('CRM id c_123');
  });

  it('retries 503 (after its Retry-After), 429, 408 and dropped connections, then completes', async () => {
    const workflow = await createWorkflow([
      httpStep('call', { method: 'GET', url: `${target.url}/flaky` }, { retry: { ...fast, maxAttempts: 5 } }),
    ]);
    const before = target.requests.length;
    target.answerNext(
      { status: 503, headers: { 'retry-after': '1' }, body: 'down' },
      { status: 429, body: 'slow down' },
      { destroy: true },
      { status: 408, body: 'timeout' },
      { status: 200, body: { ok: true } },
    );
    const runId = await hit(workflow, {});
    const run = await finished(runId);
    expect(run.status, JSON.stringify(run)).toBe('completed');
    expect(run.steps[0]).toMatchObject({ status: 'completed', attempts: 5, output: { body: { ok: true } } });
    const calls = target.requests.slice(before);
    expect(calls).toHaveLength(5);
    // The server asked for 1 s before the second attempt; the step's own backoff is 100-200 ms.
    expect(calls[1]!.receivedAt - calls[0]!.receivedAt).toBeGreaterThanOrEqual(950);
  });

  it('fails at once on a 4xx, naming the status and the start of the body', async () => {
    const workflow = await createWorkflow([
      httpStep('call', { method: 'DELETE', url: `${target.url}/gone` }),
    ]);
    const before = target.requests.length;
    target.answerNext({ status: 404, body: { error: 'no such contact' } });
    const run = await finished(await hit(workflow, {}));
    expect(run.status).toBe('failed');
    expect(run.steps[0]).toMatchObject({ status: 'failed', attempts: 1 });
    expect(run.steps[0]?.error).toMatchObject({ type: 'HttpStatus', nonRetryable: true });
    expect(run.steps[0]?.error?.message).toContain('answered 404: {"error":"no such contact"}');
    expect(target.requests.length - before).toBe(1);
  });

  it('times out a slow server, retries, and fails with HttpTimeout when it never answers in time', async () => {
    const workflow = await createWorkflow([
      httpStep(
        'call',
        { method: 'GET', url: `${target.url}/slow`, timeout: '300ms' },
        { retry: { ...fast, maxAttempts: 2 } },
      ),
    ]);
    target.answerNext({ status: 200, body: 'x'.repeat(400), dripMs: 50 }, { hold: true });
    const run = await finished(await hit(workflow, {}));
    expect(run.status).toBe('failed');
    expect(run.steps[0]).toMatchObject({ status: 'failed', attempts: 2 });
    expect(run.steps[0]?.error?.type).toBe('HttpTimeout');
  });

  it('truncates a body over 64 KiB and flags it', async () => {
    const workflow = await createWorkflow([httpStep('big', { method: 'GET', url: `${target.url}/big` })]);
    target.answerNext({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'a'.repeat(300_000) });
    const run = await finished(await hit(workflow, {}));
    expect(run.status).toBe('completed');
    const output = run.steps[0]?.output as { body: string; truncated: boolean };
    expect(output.truncated).toBe(true);
    expect(output.body).toHaveLength(64 * 1024);
  });

  it('does not follow a redirect unless asked, and then follows it', async () => {
    const redirect = { status: 302, headers: { location: `${target.url}/moved-here` } };
    const plain = await createWorkflow([httpStep('call', { method: 'GET', url: `${target.url}/old` })]);
    target.answerNext(redirect);
    const refused = await finished(await hit(plain, {}));
    expect(refused.status).toBe('failed');
    expect(refused.steps[0]?.error?.message).toMatch(/answered 302.*followRedirects/);

    const following = await createWorkflow([
      httpStep('call', { method: 'GET', url: `${target.url}/old`, followRedirects: true }),
    ]);
    target.answerNext(redirect, { status: 200, body: { here: true } });
    const run = await finished(await hit(following, {}));
    expect(run.status).toBe('completed');
    expect(run.steps[0]?.output).toMatchObject({ status: 200, body: { here: true } });
    expect(target.requests.at(-1)?.url).toBe('/moved-here');
  });

  it('keeps an Idempotency-Key the step sets itself, and sends none on GET', async () => {
    const workflow = await createWorkflow([
      httpStep('put', {
        method: 'PUT',
        url: `${target.url}/k`,
        headers: { 'Idempotency-Key': 'mine-{{trigger.body.n}}' },
        body: 'raw text',
      }),
      httpStep('get', { method: 'GET', url: `${target.url}/k` }),
    ]);
    const run = await finished(await hit(workflow, { n: 7 }));
    expect(run.status).toBe('completed');
    const [put, get] = target.requests.slice(-2);
    expect(put?.headers['idempotency-key']).toBe('mine-7');
    expect(put?.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(put?.body).toBe('raw text');
    expect(get?.headers['idempotency-key']).toBeUndefined();
  });

  it('onFailure "continue": the run goes on and later steps read steps.<id>.status', async () => {
    const workflow = await createWorkflow([
      httpStep('crm', { method: 'POST', url: `${target.url}/broken`, body: {} }, { onFailure: 'continue' }),
      {
        id: 'alert',
        type: 'email',
        when: { path: 'steps.crm.status', op: 'eq', value: 'failed' },
        params: {
          to: 'ops@example.com',
          subject: 'CRM sync failed: {{steps.crm.status}}',
          text: 'see run {{run.id}}',
        },
      },
    ]);
    target.answerNext({ status: 400, body: 'bad' });
    const sent = stack.resend.emails.length;
    const runId = await hit(workflow, {});
    const run = await finished(runId);
    expect(run.status).toBe('completed');
    expect(run.steps.map((step) => step.status)).toEqual(['failed', 'completed']);
    expect(run.steps[0]?.error?.type).toBe('HttpStatus');
    const emails = await stack.resend.waitForEmails(sent + 1);
    expect(emails.at(-1)?.subject).toBe('CRM sync failed: failed');
  });

  it('cancelling a run aborts its request in flight', async () => {
    const workflow = await createWorkflow([
      httpStep('call', { method: 'POST', url: `${target.url}/hang`, body: {}, timeout: '60s' }),
    ]);
    target.answerNext({ hold: true });
    const before = target.requests.length;
    const runId = await hit(workflow, {});
    await target.waitForRequests(before + 1);
    const cancel = await stack.app.inject({
      method: 'POST',
      url: `/v1/runs/${runId}/cancel`,
      headers: { authorization: auth.authorization },
    });
    expect(cancel.statusCode).toBe(202);
    // Cancellation reaches the activity with its next heartbeat, and aborts the request.
    await target.waitForAbort('/hang', 15_000);
    expect((await finished(runId)).status).toBe('cancelled');
  });
});

describe('http step destinations without HTTP_ALLOWED_PRIVATE_NETWORKS', () => {
  let closed: Stack;
  let user: { authorization: string; userId: string };
  beforeAll(async () => {
    closed = await startStack();
    user = await closed.signUp();
  });
  afterAll(async () => {
    await closed?.close();
  });

  it('refuses loopback in every spelling, without retries and without connecting', async () => {
    const before = target.requests.length;
    const spellings = [
      target.url,
      `http://localhost:${target.port}`,
      `http://2130706433:${target.port}`,
      `http://0x7f.0.0.1:${target.port}`,
      `http://[::ffff:127.0.0.1]:${target.port}`,
      'http://169.254.169.254/latest/meta-data/',
    ];
    for (const url of spellings) {
      const created = await closed.app.inject({
        method: 'POST',
        url: '/v1/workflows',
        headers: { authorization: user.authorization },
        payload: { name: 'Blocked', steps: [httpStep('call', { method: 'GET', url })] },
      });
      expect(created.statusCode, created.body).toBe(201);
      const workflow = created.json<WorkflowResource>();
      const hook = await closed.app.inject({
        method: 'POST',
        url: `/hooks/${workflow.webhook.token}`,
        payload: {},
      });
      const { runId } = hook.json<{ runId: string }>();
      const run = await eventually(
        async () =>
          (
            await closed.app.inject({
              url: `/v1/runs/${runId}`,
              headers: { authorization: user.authorization },
            })
          ).json<RunResource>(),
        (value) => value.status !== 'running',
      );
      expect(run.status, url).toBe('failed');
      expect(run.steps[0], url).toMatchObject({ status: 'failed', attempts: 1 });
      expect(run.steps[0]?.error, url).toMatchObject({ type: 'BlockedDestination', nonRetryable: true });
    }
    expect(target.requests.length).toBe(before);
  });
});
