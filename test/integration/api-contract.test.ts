import { Client, Connection } from '@temporalio/client';
import { sql } from 'drizzle-orm';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import type { RunResource } from '../../src/api/services/run-service.js';
import type { WorkflowResource } from '../../src/api/services/workflow-service.js';
import { signStandardWebhook } from '../../src/api/services/webhook-signature.js';
import { testConfig } from '../helpers/config.js';
import { openMigratedDb } from '../helpers/database.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const definition = {
  name: 'Contract',
  steps: [
    { id: 'mail', type: 'email', params: { to: '{{trigger.body.email}}', subject: 'Hi', text: 'Hello' } },
  ],
};

let stack: Stack;
let alice: { authorization: string; userId: string };
let bob: { authorization: string; userId: string };

beforeAll(async () => {
  stack = await startStack({ driver: 'pglite', env: { WEBHOOK_MAX_BODY_BYTES: '2048' } });
  alice = await stack.signUp();
  bob = await stack.signUp();
});
afterAll(async () => {
  await stack?.close();
});

const request = (options: InjectOptions) => stack.app.inject(options);

function expectError(response: { statusCode: number; json: () => unknown }, status: number, code: string) {
  expect(response.statusCode).toBe(status);
  const body = response.json() as {
    error: { code: string; message: string; details: unknown[] };
    requestId: string;
  };
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(10);
  expect(Array.isArray(body.error.details)).toBe(true);
  expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/);
  return body.error;
}

async function createWorkflow(authorization: string, body: object = definition) {
  const response = await request({
    method: 'POST',
    url: '/v1/workflows',
    headers: { authorization },
    payload: body,
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<WorkflowResource>();
}

describe('workflow definitions', () => {
  it('still shows a version saved under older, looser rules (never a 500)', async () => {
    const workflow = await createWorkflow(alice.authorization);
    // What an earlier build accepted and today's rules refuse: a header set by the HTTP client itself, and a retry
    // policy whose waits add up past 23 h.
    const legacySteps = [
      {
        id: 'call',
        type: 'http',
        params: { method: 'GET', url: 'https://api.example.com/x', headers: { 'keep-alive': 'timeout=5' } },
        retry: { maxAttempts: 25, initialInterval: '1h', maxInterval: '1h' },
      },
    ];
    await stack.db.db.execute(
      sql`update workflow_versions set steps = ${JSON.stringify(legacySteps)}::jsonb where workflow_id = ${workflow.id}`,
    );
    const shown = await request({
      method: 'GET',
      url: `/v1/workflows/${workflow.id}`,
      headers: { authorization: alice.authorization },
    });
    expect(shown.statusCode, shown.body).toBe(200);
    expect(shown.json<WorkflowResource>().steps).toEqual(legacySteps);
    const listed = await request({
      method: 'GET',
      url: '/v1/workflows',
      headers: { authorization: alice.authorization },
    });
    expect(listed.statusCode, listed.body).toBe(200);
  });

  it('creates, reads, lists with a cursor, replaces, rotates and deletes', async () => {
    const created = await createWorkflow(alice.authorization, { ...definition, description: 'd' });
    expect(created).toMatchObject({
      name: 'Contract',
      description: 'd',
      enabled: true,
      version: 1,
      webhook: { signing: 'none' },
    });
    expect(created.signingSecret).toMatch(/^whsec_/);

    const fetched = (
      await request({
        method: 'GET',
        url: `/v1/workflows/${created.id}`,
        headers: { authorization: alice.authorization },
      })
    ).json<WorkflowResource>();
    expect(fetched.signingSecret).toBeUndefined();
    expect(fetched.steps).toEqual(definition.steps);

    await createWorkflow(alice.authorization);
    await createWorkflow(alice.authorization);
    const page1 = (
      await request({
        method: 'GET',
        url: '/v1/workflows?limit=2',
        headers: { authorization: alice.authorization },
      })
    ).json<{ items: WorkflowResource[]; nextCursor: string }>();
    expect(page1.items).toHaveLength(2);
    const page2 = (
      await request({
        method: 'GET',
        url: `/v1/workflows?limit=2&cursor=${page1.nextCursor}`,
        headers: { authorization: alice.authorization },
      })
    ).json<{ items: WorkflowResource[]; nextCursor: string | null }>();
    const ids = [...page1.items, ...page2.items].map((w) => w.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain(created.id);

    const replaced = await request({
      method: 'PUT',
      url: `/v1/workflows/${created.id}`,
      headers: { authorization: alice.authorization },
      payload: { ...definition, name: 'Renamed', enabled: false },
    });
    expect(replaced.json<WorkflowResource>()).toMatchObject({ name: 'Renamed', enabled: false, version: 2 });

    const rotated = (
      await request({
        method: 'POST',
        url: `/v1/workflows/${created.id}/webhook/rotate`,
        headers: { authorization: alice.authorization },
      })
    ).json<WorkflowResource>();
    expect(rotated.webhook.token).not.toBe(created.webhook.token);
    expect(rotated.signingSecret).toMatch(/^whsec_/);
    expect(rotated.signingSecret).not.toBe(created.signingSecret);
    // The old token stays valid for the rotation grace period (the workflow is disabled, so both say so).
    expect(rotated.webhook.previousTokenValidUntil).toEqual(expect.any(String));
    for (const token of [created.webhook.token, rotated.webhook.token]) {
      expectError(
        await request({ method: 'POST', url: `/hooks/${token}`, payload: {} }),
        409,
        'WORKFLOW_DISABLED',
      );
    }

    const deleted = await request({
      method: 'DELETE',
      url: `/v1/workflows/${created.id}`,
      headers: { authorization: alice.authorization },
    });
    expect(deleted.statusCode).toBe(204);
    expectError(
      await request({
        method: 'GET',
        url: `/v1/workflows/${created.id}`,
        headers: { authorization: alice.authorization },
      }),
      404,
      'WORKFLOW_NOT_FOUND',
    );
    for (const token of [created.webhook.token, rotated.webhook.token]) {
      expectError(
        await request({ method: 'POST', url: `/hooks/${token}`, payload: {} }),
        404,
        'WEBHOOK_NOT_FOUND',
      );
    }
  });

  it('rejects a bad step list with errors that name the step and the field', async () => {
    const response = await request({
      method: 'POST',
      url: '/v1/workflows',
      headers: { authorization: alice.authorization },
      payload: {
        name: 'Broken',
        steps: [
          { id: 'welcome', type: 'email', params: { to: 'a@example.com', subject: 'x' } },
          { id: 'wait', type: 'delay', params: { duration: 'soon' } },
          { id: 'sms', type: 'sms', params: {} },
        ],
      },
    });
    const error = expectError(response, 400, 'VALIDATION_FAILED');
    const details = error.details as { path: string; message: string }[];
    expect(
      details.some((d) => d.path.startsWith('body.steps[0] (id "welcome")') && /html|text/.test(d.message)),
    ).toBe(true);
    expect(details.some((d) => d.path === 'body.steps[1] (id "wait").params.duration')).toBe(true);
    expect(
      details.some(
        (d) => d.path.startsWith('body.steps[2] (id "sms")') && d.message.includes('unknown step type'),
      ),
    ).toBe(true);
  });

  it('rejects unknown and server-owned fields, wrong types and malformed JSON', async () => {
    const auth = { authorization: alice.authorization };
    expectError(
      await request({
        method: 'POST',
        url: '/v1/workflows',
        headers: auth,
        payload: { ...definition, id: 'mine', version: 7 },
      }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await request({
        method: 'POST',
        url: '/v1/workflows',
        headers: auth,
        payload: { ...definition, name: 42 },
      }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await request({
        method: 'POST',
        url: '/v1/workflows',
        headers: auth,
        payload: { ...definition, steps: 'none' },
      }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await request({
        method: 'POST',
        url: '/v1/workflows',
        headers: { ...auth, 'content-type': 'application/json' },
        payload: '{"name": ',
      }),
      400,
      'MALFORMED_JSON',
    );
    expectError(
      await request({ method: 'GET', url: '/v1/workflows?limit=1000', headers: auth }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await request({ method: 'GET', url: '/v1/workflows?cursor=garbage', headers: auth }),
      400,
      'INVALID_CURSOR',
    );
    expectError(
      await request({ method: 'GET', url: '/v1/workflows/not-a-uuid', headers: auth }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await request({ method: 'GET', url: '/v1/runs/nope', headers: auth }),
      400,
      'VALIDATION_FAILED',
    );
    expectError(
      await request({ method: 'GET', url: '/v1/nothing-here', headers: auth }),
      404,
      'ROUTE_NOT_FOUND',
    );
    const withNul = JSON.stringify({ ...definition, name: 'nul \u0000 here' });
    expectError(
      await request({
        method: 'POST',
        url: '/v1/workflows',
        headers: { ...auth, 'content-type': 'application/json' },
        payload: withNul,
      }),
      400,
      'INVALID_CHARACTER',
    );
    const poisoned = '{"__proto__": {"isAdmin": true}, "name": "x", "steps": []}';
    const poisonedAnswer = await request({
      method: 'POST',
      url: '/v1/workflows',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: poisoned,
    });
    expect(poisonedAnswer.statusCode).toBe(400);
  });

  it('requires a valid bearer token on every /v1 resource route', async () => {
    for (const [method, url] of [
      ['GET', '/v1/workflows'],
      ['POST', '/v1/workflows'],
      ['GET', '/v1/runs/run_aaaaaaaaaaaaaaaaaaaaaaaaaa'],
    ] as const) {
      expectError(await request({ method, url }), 401, 'UNAUTHORIZED');
      expectError(
        await request({ method, url, headers: { authorization: 'Bearer not.a.jwt' } }),
        401,
        'UNAUTHORIZED',
      );
    }
  });
});

describe('isolation between users', () => {
  it('answers 404 to every route that takes another user’s id', async () => {
    const workflow = await createWorkflow(alice.authorization);
    const run = await request({
      method: 'POST',
      url: `/v1/workflows/${workflow.id}/runs`,
      headers: { authorization: alice.authorization },
      payload: { payload: { email: 'a@example.com' } },
    });
    expect(run.statusCode).toBe(202);
    const runId = run.json<RunResource>().id;
    const asBob = { authorization: bob.authorization };
    const attempts: [InjectOptions, string][] = [
      [{ method: 'GET', url: `/v1/workflows/${workflow.id}` }, 'WORKFLOW_NOT_FOUND'],
      [{ method: 'PUT', url: `/v1/workflows/${workflow.id}`, payload: definition }, 'WORKFLOW_NOT_FOUND'],
      [{ method: 'DELETE', url: `/v1/workflows/${workflow.id}` }, 'WORKFLOW_NOT_FOUND'],
      [{ method: 'POST', url: `/v1/workflows/${workflow.id}/webhook/rotate` }, 'WORKFLOW_NOT_FOUND'],
      [{ method: 'POST', url: `/v1/workflows/${workflow.id}/runs`, payload: {} }, 'WORKFLOW_NOT_FOUND'],
      [{ method: 'GET', url: `/v1/workflows/${workflow.id}/runs` }, 'WORKFLOW_NOT_FOUND'],
      [{ method: 'GET', url: `/v1/runs/${runId}` }, 'RUN_NOT_FOUND'],
      [{ method: 'POST', url: `/v1/runs/${runId}/cancel` }, 'RUN_NOT_FOUND'],
      [{ method: 'POST', url: `/v1/runs/${runId}/retry` }, 'RUN_NOT_FOUND'],
    ];
    for (const [options, code] of attempts) {
      expectError(await request({ ...options, headers: asBob }), 404, code);
    }
    const bobsList = (await request({ method: 'GET', url: '/v1/workflows', headers: asBob })).json<{
      items: unknown[];
    }>();
    expect(bobsList.items).toEqual([]);
    // Alice still sees all of it, and her manual run completes.
    const done = await eventually(
      async () =>
        (
          await request({
            method: 'GET',
            url: `/v1/runs/${runId}`,
            headers: { authorization: alice.authorization },
          })
        ).json<RunResource>(),
      (r) => r.status !== 'running',
    );
    expect(done).toMatchObject({ status: 'completed', trigger: { type: 'manual' } });
  });
});

describe('webhook endpoint', () => {
  it('answers 413 over the size limit and 400 for malformed JSON, starting nothing', async () => {
    const workflow = await createWorkflow(alice.authorization);
    const big = JSON.stringify({ email: 'a@example.com', pad: 'x'.repeat(4096) });
    expectError(
      await request({
        method: 'POST',
        url: `/hooks/${workflow.webhook.token}`,
        headers: { 'content-type': 'application/json' },
        payload: big,
      }),
      413,
      'PAYLOAD_TOO_LARGE',
    );
    expectError(
      await request({
        method: 'POST',
        url: `/hooks/${workflow.webhook.token}`,
        headers: { 'content-type': 'application/json' },
        payload: '{"email":',
      }),
      400,
      'MALFORMED_JSON',
    );
    expectError(
      await request({ method: 'POST', url: '/hooks/whk_unknown', payload: {} }),
      404,
      'WEBHOOK_NOT_FOUND',
    );
    const runs = (
      await request({
        method: 'GET',
        url: `/v1/workflows/${workflow.id}/runs`,
        headers: { authorization: alice.authorization },
      })
    ).json<{ items: unknown[] }>();
    expect(runs.items).toEqual([]);
  });

  it('answers 413 when a run input would exceed what Temporal accepts, starting nothing', async () => {
    // An operator raised the body limits: a 2.3 MB definition is over the 2 MiB Temporal takes in one payload.
    const roomy = await startStack({ env: { API_MAX_BODY_BYTES: String(4 * 1024 * 1024) } });
    try {
      const user = await roomy.signUp();
      const html = `<p>${'x'.repeat(90_000)}</p>`;
      const steps = Array.from({ length: 25 }, (_, index) => ({
        id: `mail-${index}`,
        type: 'email',
        params: { to: 'a@example.com', subject: 'Hi', html },
      }));
      const created = await roomy.app.inject({
        method: 'POST',
        url: '/v1/workflows',
        headers: { authorization: user.authorization },
        payload: { name: 'Huge', steps },
      });
      expect(created.statusCode, created.body).toBe(201);
      const workflow = created.json<WorkflowResource>();
      const error = expectError(
        await roomy.app.inject({
          method: 'POST',
          url: `/hooks/${workflow.webhook.token}`,
          payload: { a: 1 },
        }),
        413,
        'RUN_INPUT_TOO_LARGE',
      );
      expect(error.message).toContain('at most 1572864');
      const runs = await roomy.app.inject({
        url: `/v1/workflows/${workflow.id}/runs`,
        headers: { authorization: user.authorization },
      });
      expect(runs.json<{ items: unknown[] }>().items).toEqual([]);
    } finally {
      await roomy.close();
    }
  });

  it('verifies Standard Webhooks signatures when the workflow asks for them', async () => {
    const workflow = await createWorkflow(alice.authorization, {
      ...definition,
      webhook: { signing: 'standard-webhooks' },
    });
    const secret = workflow.signingSecret!;
    const body = JSON.stringify({ email: 'signed@example.com' });
    const now = Math.floor(Date.now() / 1000);
    const send = (headers: Record<string, string>) =>
      request({
        method: 'POST',
        url: `/hooks/${workflow.webhook.token}`,
        headers: { 'content-type': 'application/json', ...headers },
        payload: body,
      });

    expectError(await send({}), 401, 'INVALID_SIGNATURE');
    expectError(
      await send({
        'webhook-id': 'msg_1',
        'webhook-timestamp': String(now),
        'webhook-signature': signStandardWebhook(
          'whsec_' + Buffer.from('wrong key').toString('base64'),
          'msg_1',
          now,
          body,
        ),
      }),
      401,
      'INVALID_SIGNATURE',
    );
    const old = now - 600;
    expectError(
      await send({
        'webhook-id': 'msg_1',
        'webhook-timestamp': String(old),
        'webhook-signature': signStandardWebhook(secret, 'msg_1', old, body),
      }),
      401,
      'INVALID_SIGNATURE',
    );

    const good = signStandardWebhook(secret, 'msg_1', now, body);
    const accepted = await send({
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(now),
      'webhook-signature': `v1,bm90IGl0 ${good}`,
    });
    expect(accepted.statusCode).toBe(202);
  });

  it('answers 503 with Retry-After when Temporal cannot be reached, and starts nothing', async () => {
    const db = await openMigratedDb('pglite');
    const unreachable = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 300 });
    const app = await buildApp({
      config: testConfig(),
      db,
      temporal: { connection: unreachable, client: new Client({ connection: unreachable }) },
    });
    try {
      const registered = await app.inject({
        method: 'POST',
        url: '/v1/auth/register',
        payload: { email: 'down@example.com', password: 'long enough password' },
      });
      const { token } = registered.json<{ token: string }>();
      const workflow = (
        await app.inject({
          method: 'POST',
          url: '/v1/workflows',
          headers: { authorization: `Bearer ${token}` },
          payload: definition,
        })
      ).json<WorkflowResource>();
      const response = await app.inject({
        method: 'POST',
        url: `/hooks/${workflow.webhook.token}`,
        payload: { email: 'a@example.com' },
      });
      expectError(response, 503, 'SERVICE_UNAVAILABLE');
      expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await app.close();
      await db.close();
    }
  });
});

describe('OpenAPI', () => {
  it('serves a document generated from the route schemas, and Swagger UI', async () => {
    const document = (await request({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<string, unknown>;
    }>();
    for (const path of [
      '/v1/auth/register',
      '/v1/auth/login',
      '/v1/me',
      '/v1/workflows',
      '/v1/workflows/{id}',
      '/v1/runs/{runId}',
      '/hooks/{token}',
      '/readyz',
    ]) {
      expect(Object.keys(document.paths)).toContain(path);
    }
    expect((await request({ method: 'GET', url: '/docs/' })).statusCode).toBe(200);
  });
});

describe('manual runs quota', () => {
  it('allows MANUAL_RUNS_PER_MINUTE manual runs per account, then 429 with Retry-After; other accounts are not affected', async () => {
    const quota = await startStack({ env: { MANUAL_RUNS_PER_MINUTE: '2' } });
    try {
      const [first, second] = [await quota.signUp(), await quota.signUp()];
      const manualRun = async (user: { authorization: string }) => {
        const created = await quota.app.inject({
          method: 'POST',
          url: '/v1/workflows',
          headers: { authorization: user.authorization },
          payload: { name: 'Quota', steps: [{ id: 'wait', type: 'delay', params: { duration: '1h' } }] },
        });
        const workflow = created.json<WorkflowResource>();
        return quota.app.inject({
          method: 'POST',
          url: `/v1/workflows/${workflow.id}/runs`,
          headers: { authorization: user.authorization },
          payload: { payload: {} },
        });
      };
      const answers = [await manualRun(first), await manualRun(first), await manualRun(first)];
      expect(answers.map((answer) => answer.statusCode)).toEqual([202, 202, 429]);
      const refused = expectError(answers[2]!, 429, 'RATE_LIMITED');
      expect(refused.message).toMatch(/MANUAL_RUNS_PER_MINUTE/);
      expect(Number(answers[2]!.headers['retry-after'])).toBeGreaterThan(0);
      expect((await manualRun(second)).statusCode).toBe(202);
    } finally {
      await quota.close();
    }
  });
});
