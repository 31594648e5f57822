import { Client, Connection } from '@temporalio/client';
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.js';
import type { WorkflowResource } from '../../src/api/services/workflow-service.js';
import type { DbHandle } from '../../src/db/client.js';
import { testConfig } from '../helpers/config.js';
import { openMigratedDb } from '../helpers/database.js';

/**
 * Random and adversarial input thrown at every route: whatever arrives, the answer is never a 5xx and every error
 * has the DESIGN §3 shape. Runs are started on a task queue no worker polls, so nothing is ever sent.
 */
let app: App;
let db: DbHandle;
let connection: Connection;
let authorization: string;
let workflow: WorkflowResource;

beforeAll(async () => {
  db = await openMigratedDb('pglite');
  connection = await Connection.connect({ address: inject('temporalAddress') });
  app = await buildApp({
    config: testConfig({ WEBHOOK_RATE_LIMIT_PER_MINUTE: '100000', WEBHOOK_MAX_BODY_BYTES: '4096' }),
    db,
    temporal: { connection, client: new Client({ connection }) },
  });
  const registered = await app.inject({
    method: 'POST',
    url: '/v1/auth/register',
    payload: { email: 'fuzz@example.com', password: 'fuzzing passphrase' },
  });
  authorization = `Bearer ${registered.json<{ token: string }>().token}`;
  const created = await app.inject({
    method: 'POST',
    url: '/v1/workflows',
    headers: { authorization },
    payload: { name: 'Fuzz', steps: [{ id: 'wait', type: 'delay', params: { duration: '1h' } }] },
  });
  workflow = created.json<WorkflowResource>();
});
afterAll(async () => {
  await app?.close();
  await connection?.close();
  await db?.close();
});

/** Percent-encodes like a client would; a lone surrogate (which encodeURIComponent refuses) becomes its raw bytes. */
function encodeSegment(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return '%ED%A0%80';
  }
}

function expectWellFormed(response: LightMyRequestResponse, context: string) {
  expect(response.statusCode, `${context} → ${response.statusCode} ${response.body}`).toBeLessThan(500);
  if (response.statusCode >= 400) {
    const body = response.json<{
      error: { code: string; message: string; details: unknown[] };
      requestId: string;
    }>();
    expect(body.error.code, context).toMatch(/^[A-Z][A-Z_]+$/);
    expect(typeof body.error.message).toBe('string');
    expect(Array.isArray(body.error.details)).toBe(true);
    expect(typeof body.requestId).toBe('string');
  }
}

const routes = (): { method: InjectOptions['method']; url: string; authed: boolean }[] => [
  { method: 'POST', url: '/v1/auth/register', authed: false },
  { method: 'POST', url: '/v1/auth/login', authed: false },
  { method: 'GET', url: '/v1/me', authed: true },
  { method: 'POST', url: '/v1/workflows', authed: true },
  { method: 'GET', url: '/v1/workflows', authed: true },
  { method: 'GET', url: `/v1/workflows/${workflow.id}`, authed: true },
  { method: 'PUT', url: `/v1/workflows/${workflow.id}`, authed: true },
  { method: 'POST', url: `/v1/workflows/${workflow.id}/runs`, authed: true },
  { method: 'GET', url: `/v1/workflows/${workflow.id}/runs`, authed: true },
  { method: 'GET', url: '/v1/runs/run_aaaaaaaaaaaaaaaaaaaaaaaaaa', authed: true },
  { method: 'POST', url: '/v1/runs/run_aaaaaaaaaaaaaaaaaaaaaaaaaa/cancel', authed: true },
  { method: 'POST', url: `/hooks/${workflow.webhook.token}`, authed: false },
];

/** Adversarial strings: prototype keys, control characters, injections, huge numbers, unicode. */
const nastyString = fc.oneof(
  fc.string(),
  fc.constantFrom(
    '__proto__',
    'constructor',
    "' OR 1=1 --",
    '{{trigger.body.__proto__}}',
    '{{',
    '}}{{',
    'a\r\nBcc: victim@example.com',
    '<script>alert(1)</script>',
    '\u0000',
    '\ud800',
    '9'.repeat(400),
    'x'.repeat(5000),
  ),
);
const nastyJson = fc.oneof(
  fc.jsonValue(),
  fc.dictionary(nastyString, fc.jsonValue()),
  fc.record({
    name: nastyString,
    steps: fc.array(fc.dictionary(nastyString, fc.jsonValue()), { maxLength: 5 }),
  }),
  fc.record({ email: nastyString, password: nastyString, payload: fc.jsonValue() }),
  fc.constantFrom(
    JSON.parse('{"__proto__": {"admin": true}, "name": "x", "steps": []}') as unknown,
    { constructor: { prototype: { admin: true } } },
    { name: 'nul \u0000 inside', steps: [{ id: 'a', type: 'delay', params: { duration: '1s' } }] },
    { email: 'a\u0000@example.com', password: 'long enough password' },
  ),
);

describe('every route under random and adversarial input', () => {
  it('never answers 5xx to random JSON bodies', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes()), nastyJson, async (route, body) => {
        const response = await app.inject({
          method: route.method,
          url: route.url,
          headers: { 'content-type': 'application/json', ...(route.authed ? { authorization } : {}) },
          payload: JSON.stringify(body),
        });
        expectWellFormed(response, `${route.method} ${route.url} ${JSON.stringify(body).slice(0, 200)}`);
      }),
      { numRuns: 150 },
    );
  });

  it('never answers 5xx to raw bytes, odd content types, query strings and path segments', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes()),
        fc.uint8Array({ maxLength: 600 }),
        fc.constantFrom(
          'application/json',
          'text/plain',
          'application/x-www-form-urlencoded',
          'application/xml',
          'multipart/form-data; boundary=x',
          '',
        ),
        fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), nastyString, { maxKeys: 3 }),
        async (route, bytes, contentType, query) => {
          const response = await app.inject({
            method: route.method,
            url: route.url,
            query,
            headers: {
              ...(contentType ? { 'content-type': contentType } : {}),
              ...(route.authed ? { authorization } : {}),
            },
            payload: route.method === 'GET' ? undefined : Buffer.from(bytes),
          });
          expectWellFormed(response, `${route.method} ${route.url} ${contentType}`);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('never answers 5xx to random ids in paths', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          nastyString.map(encodeSegment),
          fc.constantFrom('%zz', '%E0%A4%A', '%00', '..', '%2e%2e%2f'),
        ),
        fc.constantFrom(
          '/v1/workflows/%s',
          '/v1/workflows/%s/runs',
          '/v1/runs/%s',
          '/v1/runs/%s/retry',
          '/hooks/%s',
        ),
        async (segment, template) => {
          const url = template.replace('%s', segment || 'x');
          const method = template.startsWith('/hooks') || template.endsWith('retry') ? 'POST' : 'GET';
          const response = await app.inject({ method, url, headers: { authorization } });
          expectWellFormed(response, `${method} ${url}`);
          if (template.startsWith('/hooks')) expect([400, 404, 414]).toContain(response.statusCode);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('never answers 5xx to random Authorization headers, and never 2xx either', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 300 }), async (value) => {
        const response = await app.inject({
          method: 'GET',
          url: '/v1/workflows',
          headers: { authorization: `Bearer ${value}` },
        });
        expectWellFormed(response, `Bearer ${value}`);
        expect(response.statusCode).toBe(401);
      }),
      { numRuns: 100 },
    );
  });
});

describe('limits', () => {
  it('throttles sign-ups per address and webhook deliveries per token, with Retry-After', async () => {
    const limitedDb = await openMigratedDb('pglite');
    const limited = await buildApp({
      config: testConfig({ REGISTER_RATE_LIMIT_PER_MINUTE: '2', WEBHOOK_RATE_LIMIT_PER_MINUTE: '2' }),
      db: limitedDb,
      temporal: { connection, client: new Client({ connection }) },
    });
    try {
      const register = (n: number) =>
        limited.inject({
          method: 'POST',
          url: '/v1/auth/register',
          payload: { email: `limit${n}@example.com`, password: 'long enough 123' },
        });
      expect((await register(1)).statusCode).toBe(201);
      const token = (await register(2)).json<{ token: string }>().token;
      const third = await register(3);
      expect(third.statusCode).toBe(429);
      expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
      expect(third.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });

      const created = await limited.inject({
        method: 'POST',
        url: '/v1/workflows',
        headers: { authorization: `Bearer ${token}` },
        payload: { name: 'Limited', steps: [{ id: 'wait', type: 'delay', params: { duration: '1h' } }] },
      });
      const hook = `/hooks/${created.json<WorkflowResource>().webhook.token}`;
      expect((await limited.inject({ method: 'POST', url: hook, payload: {} })).statusCode).toBe(202);
      expect((await limited.inject({ method: 'POST', url: hook, payload: {} })).statusCode).toBe(202);
      const over = await limited.inject({ method: 'POST', url: hook, payload: {} });
      expect(over.statusCode).toBe(429);
      expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    } finally {
      await limited.close();
      await limitedDb.close();
    }
  });

  it('rejects a workflow with more steps than allowed, naming the limit', async () => {
    const steps = Array.from({ length: 51 }, (_, i) => ({
      id: `s${i}`,
      type: 'delay',
      params: { duration: '1s' },
    }));
    const response = await app.inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: { authorization },
      payload: { name: 'Too long', steps },
    });
    expect(response.statusCode).toBe(400);
    expect(response.body).toMatch(/50/);
  });
});
