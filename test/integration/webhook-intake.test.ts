import { createHmac, randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.js';
import type { WorkflowResource } from '../../src/api/services/workflow-service.js';
import type { DbHandle } from '../../src/db/client.js';
import { testConfig } from '../helpers/config.js';
import { openMigratedDb } from '../helpers/database.js';

/**
 * The webhook intake against a real Temporal: delivery keys, replays of signed requests, the per-token rate limit
 * and signatures over raw bytes. Runs start on a task queue no worker polls (a one-hour delay step), so nothing
 * is ever sent; what matters is which run ids Temporal accepted.
 */
interface TestApp {
  app: App;
  authorization: string;
  close(): Promise<void>;
}

let connection: Connection;
let main: TestApp;

async function openApp(env: Record<string, string>): Promise<TestApp> {
  const db: DbHandle = await openMigratedDb('pglite');
  const app = await buildApp({
    config: testConfig(env),
    db,
    temporal: { client: new Client({ connection }) },
  });
  const registered = await app.inject({
    method: 'POST',
    url: '/v1/auth/register',
    payload: { email: 'intake@example.com', password: 'intake passphrase' },
  });
  expect(registered.statusCode, registered.body).toBe(201);
  return {
    app,
    authorization: `Bearer ${registered.json<{ token: string }>().token}`,
    async close() {
      await app.close();
      await db.close();
    },
  };
}

beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
  main = await openApp({ WEBHOOK_RATE_LIMIT_PER_MINUTE: '1000' });
});
afterAll(async () => {
  await main?.close();
  await connection?.close();
});

async function createWorkflow(
  { app, authorization }: TestApp,
  webhook?: { signing: string },
): Promise<WorkflowResource & { signingSecret?: string }> {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/workflows',
    headers: { authorization },
    payload: {
      name: 'Intake',
      steps: [{ id: 'wait', type: 'delay', params: { duration: '1h' } }],
      ...(webhook && { webhook }),
    },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

/**
 * Standard Webhooks signing done here, over bytes, independently of the code under test: HMAC-SHA256 of
 * `id.timestamp.` followed by the body exactly as sent.
 */
function sign(secret: string, id: string, timestamp: number, body: Buffer | string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const hmac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body);
  return `v1,${hmac.digest('base64')}`;
}

function signedHeaders(secret: string, id: string, body: Buffer | string): Record<string, string> {
  const timestamp = Math.floor(Date.now() / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': sign(secret, id, timestamp, body),
  };
}

function deliver(
  { app }: TestApp,
  workflow: WorkflowResource,
  headers: Record<string, string>,
  body: Buffer | string = '{"email":"a@example.com"}',
) {
  return app.inject({
    method: 'POST',
    url: `/hooks/${workflow.webhook.token}`,
    headers: { 'content-type': 'application/json', ...headers },
    payload: body,
  });
}

function accepted(response: LightMyRequestResponse) {
  expect(response.statusCode, response.body).toBeOneOf([200, 202]);
  return response.json<{ runId: string; duplicate: boolean }>();
}

describe('delivery keys', () => {
  it('deduplicates a replayed signed request on its webhook-id, whatever Idempotency-Key it carries', async () => {
    const workflow = await createWorkflow(main, { signing: 'standard-webhooks' });
    const body = '{"email":"replayed@example.com"}';
    // One captured request: its signed headers stay the same, the attacker only changes the unsigned key.
    const captured = signedHeaders(workflow.signingSecret!, `msg_${Date.now()}`, body);
    const responses = [];
    for (const key of ['fresh-1', 'fresh-2', 'fresh-3']) {
      responses.push(await deliver(main, workflow, { ...captured, 'idempotency-key': key }, body));
    }
    expect(responses.map((response) => response.statusCode)).toEqual([202, 200, 200]);
    const [first, ...replays] = responses.map(accepted);
    for (const replay of replays) expect(replay).toEqual({ ...first, duplicate: true });
  });

  it('keeps Idempotency-Key first when the workflow does not sign', async () => {
    const workflow = await createWorkflow(main);
    const key = `order-${Date.now()}`;
    const first = accepted(await deliver(main, workflow, { 'idempotency-key': key, 'webhook-id': 'a' }));
    const second = accepted(await deliver(main, workflow, { 'idempotency-key': key, 'webhook-id': 'b' }));
    expect(second).toEqual({ ...first, duplicate: true });
  });

  it.each(['X-GitHub-Delivery', 'svix-id', 'X-Shopify-Webhook-Id'])(
    'deduplicates a repeated %s, and tells different ones apart',
    async (name) => {
      const workflow = await createWorkflow(main);
      const id = `${name}-${Date.now()}`;
      const first = await deliver(main, workflow, { [name]: id });
      const again = await deliver(main, workflow, { [name]: id });
      const other = await deliver(main, workflow, { [name]: `${id}-other` });
      expect([first.statusCode, again.statusCode, other.statusCode]).toEqual([202, 200, 202]);
      expect(accepted(again)).toEqual({ ...accepted(first), duplicate: true });
      expect(accepted(other).runId).not.toBe(accepted(first).runId);
    },
  );

  it('takes the keys in the documented order: Idempotency-Key, webhook-id, GitHub, Svix, Shopify', async () => {
    const workflow = await createWorkflow(main);
    const stamp = Date.now();
    const order = ['idempotency-key', 'webhook-id', 'x-github-delivery', 'svix-id', 'x-shopify-webhook-id'];
    for (const [index, name] of order.entries()) {
      // The same value in `name`, different values in every header after it: still one run.
      const headers = (variant: string) =>
        Object.fromEntries(
          order.slice(index).map((later, at) => [later, at === 0 ? `key-${stamp}-${index}` : variant]),
        );
      const first = accepted(await deliver(main, workflow, headers('one')));
      const second = accepted(await deliver(main, workflow, headers('two')));
      expect(second, name).toEqual({ ...first, duplicate: true });
    }
  });

  it('refuses an over-long GitHub delivery id like an over-long Idempotency-Key', async () => {
    const workflow = await createWorkflow(main);
    const response = await deliver(main, workflow, { 'x-github-delivery': 'x'.repeat(256) });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: { code: 'INVALID_DELIVERY_KEY' } });
  });
});

describe('rate limit', () => {
  let limited: TestApp;
  beforeAll(async () => {
    limited = await openApp({ WEBHOOK_RATE_LIMIT_PER_MINUTE: '2' });
  });
  afterAll(async () => {
    await limited?.close();
  });

  it('is not charged by deliveries that fail the signature check', async () => {
    const workflow = await createWorkflow(limited, { signing: 'standard-webhooks' });
    const wrongSecret = `whsec_${Buffer.from('not the secret of this workflow').toString('base64')}`;
    const body = '{"email":"a@example.com"}';
    const forged = [];
    for (let n = 0; n < 5; n++) {
      forged.push(
        await deliver(limited, workflow, signedHeaders(wrongSecret, `msg_forged_${n}`, body), body),
      );
    }
    expect(forged.map((response) => response.statusCode)).toEqual([401, 401, 401, 401, 401]);

    const good = (n: number) =>
      deliver(
        limited,
        workflow,
        signedHeaders(workflow.signingSecret!, `msg_${Date.now()}_${n}`, body),
        body,
      );
    expect((await good(1)).statusCode).toBe(202);
    expect((await good(2)).statusCode).toBe(202);
    // Authenticated deliveries are still limited.
    const over = await good(3);
    expect(over.statusCode).toBe(429);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
  });
});

describe('signatures over raw bytes', () => {
  // Not UTF-8: 0xff and 0xfe never occur in it.
  const invalidUtf8 = Buffer.from([0xff, 0xfe, 0x41, 0xc3]);

  it('accepts a text body that is not valid UTF-8 when the signature covers its bytes', async () => {
    const workflow = await createWorkflow(main, { signing: 'standard-webhooks' });
    const body = Buffer.concat([Buffer.from('raw:'), invalidUtf8]);
    const response = await deliver(
      main,
      workflow,
      { 'content-type': 'text/plain', ...signedHeaders(workflow.signingSecret!, `msg_${Date.now()}`, body) },
      body,
    );
    expect(response.statusCode, response.body).toBe(202);

    // A signature over the body as decoded text (U+FFFD for every bad byte) is not a signature of these bytes.
    const decoded = body.toString('utf8');
    const lossy = await deliver(
      main,
      workflow,
      {
        'content-type': 'text/plain',
        ...signedHeaders(workflow.signingSecret!, `msg_${Date.now()}_2`, decoded),
      },
      body,
    );
    expect(lossy.statusCode).toBe(401);
  });

  it('accepts JSON with such bytes inside a string, and answers 400 (not 401) when they break the JSON', async () => {
    const workflow = await createWorkflow(main, { signing: 'standard-webhooks' });
    const inString = Buffer.concat([Buffer.from('{"name":"'), invalidUtf8, Buffer.from('"}')]);
    const ok = await deliver(
      main,
      workflow,
      signedHeaders(workflow.signingSecret!, `msg_${Date.now()}_json`, inString),
      inString,
    );
    expect(ok.statusCode, ok.body).toBe(202);

    const broken = Buffer.concat([Buffer.from('{"name":1}'), invalidUtf8]);
    const refused = await deliver(
      main,
      workflow,
      signedHeaders(workflow.signingSecret!, `msg_${Date.now()}_broken`, broken),
      broken,
    );
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ error: { code: 'MALFORMED_JSON' } });
  });
});

describe('rotating the webhook token and signing secret', () => {
  async function rotate({ app, authorization }: TestApp, workflow: WorkflowResource) {
    const response = await app.inject({
      method: 'POST',
      url: `/v1/workflows/${workflow.id}/webhook/rotate`,
      headers: { authorization },
    });
    expect(response.statusCode, response.body).toBe(200);
    return response.json<WorkflowResource & { signingSecret: string }>();
  }
  const body = '{"email":"rotated@example.com"}';
  const signedBy = (secret: string) => signedHeaders(secret, `msg_${randomUUID()}`, body);

  it('keeps the old token with its old secret working for the grace period, so senders switch without losing deliveries', async () => {
    const before = await createWorkflow(main, { signing: 'standard-webhooks' });
    const after = await rotate(main, before);
    expect(after.webhook.token).not.toBe(before.webhook.token);
    const validUntil = Date.parse(after.webhook.previousTokenValidUntil ?? '');
    expect(validUntil - Date.now()).toBeGreaterThan(23.9 * 3600_000); // the default: 24 h
    expect(validUntil - Date.now()).toBeLessThanOrEqual(24 * 3600_000);

    // A sender not yet switched: old URL, old secret.
    expect((await deliver(main, before, signedBy(before.signingSecret!), body)).statusCode).toBe(202);
    // A switched sender: new URL, new secret.
    expect((await deliver(main, after, signedBy(after.signingSecret), body)).statusCode).toBe(202);
    // The pairs do not mix: the old URL with the new secret (or the reverse) is a bad signature.
    expect((await deliver(main, before, signedBy(after.signingSecret), body)).statusCode).toBe(401);
    expect((await deliver(main, after, signedBy(before.signingSecret!), body)).statusCode).toBe(401);

    // Only the last pair before the current one is kept: a second rotation ends the first pair's grace.
    const third = await rotate(main, after);
    expect((await deliver(main, before, signedBy(before.signingSecret!), body)).statusCode).toBe(404);
    expect((await deliver(main, after, signedBy(after.signingSecret), body)).statusCode).toBe(202);
    expect((await deliver(main, third, signedBy(third.signingSecret), body)).statusCode).toBe(202);
  });

  it('ends the grace when it runs out, and at once with WEBHOOK_ROTATION_GRACE_SECONDS=0', async () => {
    const short = await openApp({ WEBHOOK_ROTATION_GRACE_SECONDS: '1' });
    const none = await openApp({ WEBHOOK_ROTATION_GRACE_SECONDS: '0' });
    try {
      const expiring = await createWorkflow(short);
      await rotate(short, expiring);
      expect((await deliver(short, expiring, {})).statusCode).toBe(202);
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      expect((await deliver(short, expiring, {})).statusCode).toBe(404);

      const immediate = await createWorkflow(none);
      const rotated = await rotate(none, immediate);
      expect(rotated.webhook.previousTokenValidUntil).toBeNull();
      expect((await deliver(none, immediate, {})).statusCode).toBe(404);
      expect((await deliver(none, rotated, {})).statusCode).toBe(202);
    } finally {
      await short.close();
      await none.close();
    }
  });
});

describe('the webhook follows its workflow at once (on PGlite its lookups are served from memory)', () => {
  const update = ({ app, authorization }: TestApp, workflow: WorkflowResource, payload: object) =>
    app.inject({
      method: 'PUT',
      url: `/v1/workflows/${workflow.id}`,
      headers: { authorization },
      payload: {
        name: 'Intake',
        steps: [{ id: 'wait', type: 'delay', params: { duration: '2h' } }],
        ...payload,
      },
    });
  const runVersion = async ({ app, authorization }: TestApp, runId: string) => {
    const run = await app.inject({ url: `/v1/runs/${runId}`, headers: { authorization } });
    expect(run.statusCode, run.body).toBe(200);
    return run.json<{ workflowVersion: number }>().workflowVersion;
  };

  it('runs the version saved last, stops while disabled, asks for signatures once signing is on, and 404s once deleted', async () => {
    const workflow = await createWorkflow(main);
    const first = accepted(await deliver(main, workflow, {}));
    expect(await runVersion(main, first.runId)).toBe(1);

    expect((await update(main, workflow, { enabled: false })).statusCode).toBe(200);
    const disabled = await deliver(main, workflow, {});
    expect(disabled.statusCode).toBe(409);
    expect(disabled.json()).toMatchObject({ error: { code: 'WORKFLOW_DISABLED' } });

    expect((await update(main, workflow, { enabled: true })).statusCode).toBe(200);
    const third = accepted(await deliver(main, workflow, {}));
    expect(await runVersion(main, third.runId)).toBe(3);

    expect((await update(main, workflow, { webhook: { signing: 'standard-webhooks' } })).statusCode).toBe(
      200,
    );
    expect((await deliver(main, workflow, {})).statusCode).toBe(401);

    const removed = await main.app.inject({
      method: 'DELETE',
      url: `/v1/workflows/${workflow.id}`,
      headers: { authorization: main.authorization },
    });
    expect(removed.statusCode).toBe(204);
    expect((await deliver(main, workflow, {})).statusCode).toBe(404);
  });
});

describe('concurrent deliveries through the start gate (RUN_START_CONCURRENCY)', () => {
  it('accepts every one of 16 concurrent deliveries with one start at a time, each run started once', async () => {
    const gated = await openApp({ RUN_START_CONCURRENCY: '1', WEBHOOK_RATE_LIMIT_PER_MINUTE: '1000' });
    try {
      const workflow = await createWorkflow(gated);
      const answers = await Promise.all(
        Array.from({ length: 16 }, (_, n) => deliver(gated, workflow, { 'idempotency-key': `gate-${n}` })),
      );
      const runIds = answers.map((answer) => {
        expect(answer.statusCode, answer.body).toBe(202);
        return accepted(answer).runId;
      });
      expect(new Set(runIds).size).toBe(16);
      // Each is a run Temporal holds: the status URL answers for every one.
      for (const runId of runIds) {
        const run = await gated.app.inject({
          url: `/v1/runs/${runId}`,
          headers: { authorization: gated.authorization },
        });
        expect(run.statusCode, run.body).toBe(200);
      }
    } finally {
      await gated.close();
    }
  });
});
