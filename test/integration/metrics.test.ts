import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.js';
import type { CreatedWorkflowResource } from '../../src/api/services/workflow-service.js';
import type { DbHandle } from '../../src/db/client.js';
import { testConfig } from '../helpers/config.js';
import { openMigratedDb } from '../helpers/database.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';

/**
 * GET /metrics on the API, as a Prometheus scraper reads it after real traffic: requests by route pattern (never a
 * URL: webhook URLs hold their secret token), webhook outcomes, Temporal start latency. Runs start on a task queue no
 * worker polls (a one-hour delay step): what matters is what the API counted.
 */
interface TestApp {
  app: App;
  authorization: string;
  close(): Promise<void>;
}

let connection: Connection;

async function openApp(env: Record<string, string> = {}): Promise<TestApp> {
  const db: DbHandle = await openMigratedDb('pglite');
  const app = await buildApp({
    config: testConfig(env),
    db,
    temporal: { client: new Client({ connection }) },
  });
  const registered = await app.inject({
    method: 'POST',
    url: '/v1/auth/register',
    payload: { email: 'metrics@example.com', password: 'metrics passphrase' },
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

async function createWorkflow(
  { app, authorization }: TestApp,
  webhook?: { signing: string },
): Promise<CreatedWorkflowResource> {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/workflows',
    headers: { authorization },
    payload: {
      name: 'Metrics',
      steps: [{ id: 'wait', type: 'delay', params: { duration: '1h' } }],
      ...(webhook && { webhook }),
    },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
});
afterAll(async () => {
  await connection?.close();
});

describe('GET /metrics on the API', () => {
  let api: TestApp;
  beforeAll(async () => {
    api = await openApp({ WEBHOOK_RATE_LIMIT_PER_MINUTE: '2', WEBHOOK_MAX_BODY_BYTES: '1024' });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('counts requests by route pattern and webhook deliveries by outcome, and shows no token', async () => {
    const { app } = api;
    const plain = await createWorkflow(api);
    const signed = await createWorkflow(api, { signing: 'standard-webhooks' });
    const deliver = (token: string, headers: Record<string, string> = {}, payload = '{"n":1}') =>
      app.inject({
        method: 'POST',
        url: `/hooks/${token}`,
        headers: { 'content-type': 'application/json', ...headers },
        payload,
      });
    const unknownToken = `whk_${randomBytes(24).toString('base64url')}`;
    const strayPath = `/nothing-here/${randomBytes(16).toString('hex')}`;

    const statuses = [
      (await deliver(plain.webhook.token, { 'idempotency-key': 'order-1' })).statusCode,
      (await deliver(plain.webhook.token, { 'idempotency-key': 'order-1' })).statusCode,
      (await deliver(plain.webhook.token, { 'idempotency-key': 'order-2' })).statusCode, // third in a minute of 2
      (await deliver(unknownToken)).statusCode,
      (
        await deliver(signed.webhook.token, {
          'webhook-id': 'm',
          'webhook-timestamp': '1',
          'webhook-signature': 'v1,x',
        })
      ).statusCode,
      (await deliver(signed.webhook.token, {}, JSON.stringify({ pad: 'x'.repeat(2048) }))).statusCode,
      (await app.inject({ method: 'GET', url: strayPath })).statusCode,
    ];
    expect(statuses).toEqual([202, 200, 429, 404, 401, 413, 404]);

    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = response.body;
    // No secret and no raw URL anywhere: tokens, the signing secret, the stray path.
    for (const secret of [
      plain.webhook.token,
      signed.webhook.token,
      signed.signingSecret!,
      unknownToken,
      strayPath,
    ]) {
      expect(text).not.toContain(secret);
    }

    const samples = parsePrometheus(text);
    const requests = (labels: Record<string, string>) =>
      sampleValue(samples, 'hookflow_http_requests_total', labels);
    expect(requests({ method: 'POST', route: '/hooks/:token', status_code: '202' })).toBe(1);
    expect(requests({ method: 'POST', route: '/hooks/:token', status_code: '200' })).toBe(1);
    expect(requests({ method: 'POST', route: '/hooks/:token', status_code: '404' })).toBe(1);
    expect(requests({ method: 'POST', route: '/v1/workflows', status_code: '201' })).toBe(2);
    expect(requests({ method: 'POST', route: '/v1/auth/register', status_code: '201' })).toBe(1);
    expect(requests({ method: 'GET', route: 'unmatched', status_code: '404' })).toBe(1);
    expect(
      sampleValue(samples, 'hookflow_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/hooks/:token',
      }),
    ).toBe(6);

    const deliveries = (labels: Record<string, string>) =>
      sampleValue(samples, 'hookflow_webhook_deliveries_total', labels);
    expect(deliveries({ outcome: 'accepted' })).toBe(1);
    expect(deliveries({ outcome: 'duplicate' })).toBe(1);
    expect(deliveries({ outcome: 'rejected', reason: 'rate_limited' })).toBe(1);
    expect(deliveries({ outcome: 'rejected', reason: 'unknown_token' })).toBe(1);
    expect(deliveries({ outcome: 'rejected', reason: 'invalid_signature' })).toBe(1);
    expect(deliveries({ outcome: 'rejected', reason: 'too_large' })).toBe(1);
    expect(deliveries({})).toBe(6);

    // Two starts reached Temporal: the first run, and the repeat Temporal recognised by its run id.
    const starts = (outcome: string) =>
      sampleValue(samples, 'hookflow_workflow_start_duration_seconds_count', { outcome });
    expect([starts('started'), starts('duplicate')]).toEqual([1, 1]);
    // Node's own series come along (what an operator checks first when latency climbs).
    expect(sampleValue(samples, 'process_cpu_seconds_total')).toBeGreaterThan(0);
  });
});

describe('METRICS_TOKEN and METRICS_ENABLED', () => {
  it('with METRICS_TOKEN, answers only a request bearing it', async () => {
    const token = randomBytes(32).toString('hex');
    const api = await openApp({ METRICS_TOKEN: token });
    try {
      const anonymous = await api.app.inject({ method: 'GET', url: '/metrics' });
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      const wrong = await api.app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${randomBytes(32).toString('hex')}` },
      });
      expect(wrong.statusCode).toBe(401);
      // A user's access token is not the metrics token either.
      const user = await api.app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: api.authorization },
      });
      expect(user.statusCode).toBe(401);
      const operator = await api.app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(operator.statusCode).toBe(200);
      expect(operator.body).toContain('hookflow_http_requests_total');
    } finally {
      await api.close();
    }
  });

  it('with METRICS_ENABLED=false, has no /metrics', async () => {
    const api = await openApp({ METRICS_ENABLED: 'false' });
    try {
      const response = await api.app.inject({ method: 'GET', url: '/metrics' });
      expect(response.statusCode).toBe(404);
    } finally {
      await api.close();
    }
  });
});
