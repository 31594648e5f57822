import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startFakeResend, type FakeResend } from '../helpers/fake-resend.js';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.js';
import {
  apiClient,
  emailStep,
  hookflowEnv,
  isRunning,
  killAll,
  launchApi,
  launchWorker,
  report,
  waitUntil,
  type Answer,
  type ApiClient,
  type NetworkFailure,
} from './harness.js';

/*
 * PostgreSQL (a private cluster, never the shared test server) is stopped and started again under a running API.
 * While it is down, every route that needs it answers 503 SERVICE_UNAVAILABLE with Retry-After (never a 500, never
 * a hang), routes that do not need it keep working, and once it is back the same API process serves again.
 */

let postgres: PrivatePostgres;
let resend: FakeResend;

beforeAll(async () => {
  [postgres, resend] = await Promise.all([startPrivatePostgres(), startFakeResend()]);
});

afterAll(async () => {
  await killAll();
  await resend?.close();
  await postgres?.destroy();
});

it('answers 503 + Retry-After on the routes that need PostgreSQL while it is down and recovers by itself', async () => {
  const started = Date.now();
  const env = hookflowEnv({
    databaseUrl: postgres.url,
    temporalAddress: inject('temporalAddress'),
    resendUrl: resend.url,
  });
  const [server] = await Promise.all([launchApi(env), launchWorker(env)]);
  const api = apiClient(server.url);
  const credentials = { email: `pg-${Date.now()}@example.com`, password: 'correct horse battery staple' };
  expect((await api.call('POST', '/v1/auth/register', credentials)).status).toBe(201);
  await api.signUp();
  const workflow = await api.createWorkflow({
    name: 'Survives a database restart',
    steps: [emailStep('hello')],
  });
  const before = await api.hit(workflow.webhook.token, { email: 'before@example.com', name: 'Before' });
  expect(before.status).toBe(202);
  const beforeRunId = ((before as Answer).body as { runId: string }).runId;
  await api.waitForRuns([beforeRunId], 30_000);

  const needDatabase = (client: ApiClient) => ({
    'GET /v1/workflows': () => client.call('GET', '/v1/workflows'),
    'GET /v1/workflows/:id': () => client.call('GET', `/v1/workflows/${workflow.id}`),
    'POST /hooks/:token': () =>
      client.hit(workflow.webhook.token, { email: 'outage@example.com', name: 'Outage' }),
    'POST /v1/auth/login': () => client.call('POST', '/v1/auth/login', credentials),
  });

  await postgres.stop();
  const outageStarted = Date.now();
  // Two rounds: the first meets pooled connections the shutdown just closed, the second a refused connect.
  let unavailable = 0;
  let slowestMs = 0;
  for (let round = 0; round < 2; round++) {
    for (const [route, call] of Object.entries(needDatabase(api))) {
      const t0 = Date.now();
      const answer = await call();
      slowestMs = Math.max(slowestMs, Date.now() - t0);
      expectUnavailable(answer, `${route} (round ${round + 1})`);
      unavailable++;
    }
  }
  const ready = await api.call('GET', '/readyz');
  expect(ready.status).toBe(503);
  expect((ready as Answer).body).toMatchObject({ ready: false, checks: { postgres: { ok: false } } });
  // What does not need PostgreSQL keeps working: liveness, and run inspection (Temporal owns runs).
  expect((await api.call('GET', '/healthz')).status).toBe(200);
  expect((await api.getRun(beforeRunId)).status).toBe('completed');

  await postgres.start();
  const restarted = Date.now();
  const outageMs = restarted - outageStarted;

  // The same API process recovers on its own: no restart, no manual step.
  await waitUntil(
    20_000,
    'GET /v1/workflows to answer 200 again',
    () => api.call('GET', '/v1/workflows'),
    (answer) => answer.status === 200,
  );
  const recoveryMs = Date.now() - restarted;
  const recovered = needDatabase(api);
  expect((await recovered['GET /v1/workflows/:id']()).status).toBe(200);
  expect((await recovered['POST /v1/auth/login']()).status).toBe(200);
  const after = await recovered['POST /hooks/:token']();
  expect(after.status).toBe(202);
  const afterRunId = ((after as Answer).body as { runId: string }).runId;
  const [afterRun] = await api.waitForRuns([afterRunId], 30_000);
  expect(afterRun?.status).toBe('completed');
  expect((await api.call('GET', '/readyz')).status).toBe(200);
  expect(isRunning(server.process)).toBe(true);
  expect(resend.emails.map((e) => e.idempotencyKey)).toEqual([`${beforeRunId}/hello`, `${afterRunId}/hello`]);

  report('private PostgreSQL stopped and started again under a running API', started, {
    'hits accepted (202)': 2,
    'outage length (ms)': outageMs,
    'requests during the outage answered 503 + Retry-After': unavailable,
    'slowest 503 answer (ms)': slowestMs,
    'hits during the outage answered 202': 0,
    'restart to first 200 (ms)': recoveryMs,
    'API restarts needed': 0,
    'runs completed': 2,
    'emails accepted': resend.emails.length,
  });
});

function expectUnavailable(answer: Answer | NetworkFailure, what: string): void {
  expect(answer.status, `${what}: ${JSON.stringify(answer)}`).toBe(503);
  const { headers, body } = answer as Answer;
  expect(headers.get('retry-after'), what).toMatch(/^\d+$/);
  expect(body, what).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
  expect(typeof (body as { requestId?: unknown }).requestId, what).toBe('string');
}
