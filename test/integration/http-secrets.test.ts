import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResource } from '../../src/api/services/run-service.js';
import type { WorkflowResource } from '../../src/api/services/workflow-service.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

/*
 * `{{secrets.NAME}}` in http steps (DESIGN §7): the value reaches the far end, and nowhere else: not the run's
 * Temporal history, not the run resource, not error messages; and never another account's steps.
 */

const SECRET = 'sk_live_9f8e7d6c5b4a3210';

let stack: Stack;
let target: HttpTarget;
let alice: { authorization: string; userId: string };
let bob: { authorization: string; userId: string };

beforeAll(async () => {
  stack = await startStack({ env: { HTTP_ALLOWED_PRIVATE_NETWORKS: '127.0.0.0/8' } });
  target = await startHttpTarget();
  alice = await stack.signUp();
  bob = await stack.signUp();
  const put = await stack.app.inject({
    method: 'PUT',
    url: '/v1/secrets/CRM_TOKEN',
    headers: { authorization: alice.authorization },
    payload: { value: SECRET },
  });
  expect(put.statusCode, put.body).toBe(200);
});
afterAll(async () => {
  await target?.close();
  await stack?.close();
});

async function runOnce(
  user: { authorization: string },
  params: object,
  body: unknown = {},
): Promise<RunResource> {
  const created = await stack.app.inject({
    method: 'POST',
    url: '/v1/workflows',
    headers: { authorization: user.authorization },
    payload: {
      name: 'Secrets',
      steps: [{ id: 'crm', type: 'http', params, retry: { maxAttempts: 2, initialInterval: '100ms' } }],
    },
  });
  expect(created.statusCode, created.body).toBe(201);
  const workflow = created.json<WorkflowResource>();
  const hook = await stack.app.inject({
    method: 'POST',
    url: `/hooks/${workflow.webhook.token}`,
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  });
  expect(hook.statusCode, hook.body).toBe(202);
  const { runId } = hook.json<{ runId: string }>();
  return eventually(
    async () =>
      (
        await stack.app.inject({ url: `/v1/runs/${runId}`, headers: { authorization: user.authorization } })
      ).json<RunResource>(),
    (run) => run.status !== 'running',
    30_000,
  );
}

async function historyText(runId: string): Promise<string> {
  const history = await stack.client.workflow.getHandle(runId).fetchHistory();
  // Payload bytes are decoded as text, so the search covers the JSON inside them too.
  const decode = (value: unknown): unknown => {
    if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
    if (Array.isArray(value)) return value.map(decode);
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, decode(item)]));
    }
    return value;
  };
  return JSON.stringify(decode(history));
}

describe('secrets in http steps', () => {
  it('substitutes the value at send time and keeps it out of history, output and the run resource', async () => {
    // The target echoes the request back, headers and body included, as some APIs do.
    const run = await runOnce(alice, {
      method: 'POST',
      url: `${target.url}/echo/{{secrets.CRM_TOKEN}}`,
      headers: { authorization: 'Bearer {{secrets.CRM_TOKEN}}' },
      query: { key: '{{secrets.CRM_TOKEN}}' },
      body: { token: '{{secrets.CRM_TOKEN}}', note: 'key={{secrets.CRM_TOKEN}};' },
    });
    expect(run.status, JSON.stringify(run)).toBe('completed');

    const received = target.requests.at(-1)!;
    expect(received.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(received.url).toBe(`/echo/${SECRET}?key=${SECRET}`);
    expect(JSON.parse(received.body)).toEqual({ token: SECRET, note: `key=${SECRET};` });

    const shown = JSON.stringify(run);
    expect(shown).not.toContain(SECRET);
    // The echoed values are there, as their placeholder.
    expect(shown).toContain('Bearer {{secrets.CRM_TOKEN}}');
    const history = await historyText(run.id);
    // The request in history names the secret, and the echoed answer shows the placeholder.
    expect(history).toContain('CRM_TOKEN');
    expect(history).toContain('Bearer {{secrets.CRM_TOKEN}}');
    expect(history).not.toContain(SECRET);
  });

  it('keeps the value out of error messages of a failed request', async () => {
    target.answerNext(
      { status: 500, body: `internal error for token ${SECRET}` },
      { status: 500, body: `internal error for token ${SECRET}` },
    );
    const run = await runOnce(alice, {
      method: 'GET',
      url: `${target.url}/fail`,
      headers: { 'x-api-key': '{{secrets.CRM_TOKEN}}' },
    });
    expect(run.status).toBe('failed');
    expect(run.steps[0]?.error?.message).toContain('{{secrets.CRM_TOKEN}}');
    expect(JSON.stringify(run)).not.toContain(SECRET);
    expect(await historyText(run.id)).not.toContain(SECRET);
  });

  it("never resolves another account's secret: the step fails naming the missing secret", async () => {
    const before = target.requests.length;
    const run = await runOnce(bob, {
      method: 'GET',
      url: `${target.url}/steal`,
      headers: { authorization: 'Bearer {{secrets.CRM_TOKEN}}' },
    });
    expect(run.status).toBe('failed');
    expect(run.steps[0]).toMatchObject({ status: 'failed', attempts: 1 });
    expect(run.steps[0]?.error).toMatchObject({ type: 'MissingSecret', nonRetryable: true });
    expect(run.steps[0]?.error?.message).toContain('CRM_TOKEN');
    expect(target.requests.length).toBe(before);
  });

  it('sends trigger data that looks like a placeholder as text, never as the secret', async () => {
    const run = await runOnce(
      alice,
      { method: 'POST', url: `${target.url}/profile`, body: { name: '{{trigger.body.name}}' } },
      { name: '{{secrets.CRM_TOKEN}}' },
    );
    expect(run.status).toBe('completed');
    expect(JSON.parse(target.requests.at(-1)!.body)).toEqual({ name: '{{secrets.CRM_TOKEN}}' });
  });

  it('refuses a secret reference outside an http request on save', async () => {
    const created = await stack.app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: { authorization: alice.authorization },
      payload: {
        name: 'Leaky',
        steps: [
          {
            id: 'mail',
            type: 'email',
            params: { to: 'a@example.com', subject: 'x', text: '{{secrets.CRM_TOKEN}}' },
          },
        ],
      },
    });
    expect(created.statusCode).toBe(400);
    expect(created.body).toContain("secrets can only be used in an http step's url, headers, query and body");
  });
});
