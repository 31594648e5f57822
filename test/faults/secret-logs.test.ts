import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../helpers/database.js';
import { startFakeResend, type FakeResend } from '../helpers/fake-resend.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import {
  apiClient,
  hookflowEnv,
  killAll,
  launchApi,
  launchWorker,
  report,
  type ApiClient,
} from './harness.js';

/*
 * A secret's value never reaches the logs: real API and worker processes (the production entrypoints, at debug
 * level) run http steps that send a secret, get it echoed back, and fail with it in the server's error body; then
 * everything both processes printed is searched for the value.
 */

const SECRET = 'sk_live_logs_7d1f0c9a2b';

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let resend: FakeResend;
let target: HttpTarget;
let env: Record<string, string>;

beforeAll(async () => {
  [database, resend, target] = await Promise.all([
    createTestDatabase(),
    startFakeResend(),
    startHttpTarget(),
  ]);
  env = hookflowEnv({
    databaseUrl: database.url,
    temporalAddress: inject('temporalAddress'),
    resendUrl: resend.url,
    env: { LOG_LEVEL: 'debug', HTTP_ALLOWED_PRIVATE_NETWORKS: '127.0.0.0/8' },
  });
});

afterAll(async () => {
  await killAll();
  await target?.close();
  await resend?.close();
  await database?.drop();
});

it('a secret used by http steps appears in neither the API nor the worker output', async () => {
  const started = Date.now();
  const [server, worker] = await Promise.all([launchApi(env), launchWorker(env)]);
  const api: ApiClient = apiClient(server.url);
  await api.signUp();
  const put = await api.call('PUT', '/v1/secrets/CRM_TOKEN', { value: SECRET });
  expect(put.status).toBe(200);

  const workflow = await api.createWorkflow({
    name: 'Secret in logs',
    steps: [
      {
        id: 'echo',
        type: 'http',
        params: {
          method: 'POST',
          url: `${target.url}/echo`,
          headers: { authorization: 'Bearer {{secrets.CRM_TOKEN}}' },
          body: { token: '{{secrets.CRM_TOKEN}}' },
        },
      },
      {
        id: 'failing',
        type: 'http',
        onFailure: 'continue',
        retry: { maxAttempts: 2, initialInterval: '100ms' },
        params: { method: 'GET', url: `${target.url}/fail`, query: { key: '{{secrets.CRM_TOKEN}}' } },
      },
    ],
  });
  target.answerNext(
    { status: 200, body: { received: SECRET } },
    { status: 500, body: `upstream rejected key ${SECRET}` },
    { status: 500, body: `upstream rejected key ${SECRET}` },
  );
  const hit = await api.hit(workflow.webhook.token, { email: 'ada@example.com' });
  expect(hit.status).toBe(202);
  const { runId } = (hit as { body: { runId: string } }).body;
  const [run] = await api.waitForRuns([runId], 60_000);

  const apiOutput = server.process.output();
  const workerOutput = worker.output();
  const carrying = target.requests.filter(
    (request) => request.headers.authorization === `Bearer ${SECRET}` || request.url.includes(SECRET),
  );
  expect(run?.status).toBe('completed');
  expect(run?.steps.map((step) => step.status)).toEqual(['completed', 'failed']);
  // The value did travel: the target received it in all three requests.
  expect(carrying).toHaveLength(3);
  // The worker logged the failed attempts (so its log is not silent), without the value.
  expect(workerOutput).toContain('upstream rejected key {{secrets.CRM_TOKEN}}');
  expect(workerOutput).not.toContain(SECRET);
  expect(apiOutput).not.toContain(SECRET);
  expect(JSON.stringify(run)).not.toContain(SECRET);

  report('http steps sending, echoing and failing with a secret; API and worker output searched', started, {
    'requests carrying the secret': carrying.length,
    'API output bytes searched': apiOutput.length,
    'worker output bytes searched': workerOutput.length,
    'occurrences of the value found': `${apiOutput}${workerOutput}`.split(SECRET).length - 1,
  });
});

/** Standard Webhooks signature over the exact bytes, done here independently of the code under test. */
function signedHeaders(secret: string, id: string, body: string): Record<string, string> {
  const timestamp = Math.floor(Date.now() / 1000);
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` };
}

it('webhook tokens, bearer tokens and signing secrets appear in no log line', async () => {
  const started = Date.now();
  // Debug level: every request is logged, with whatever the serializers let through.
  const [server, worker] = await Promise.all([launchApi(env), launchWorker(env)]);
  const register = await fetch(`${server.url}/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email: `logs-${Date.now()}@example.com`,
      password: 'correct horse battery staple',
    }),
  });
  const { token: bearer } = (await register.json()) as { token: string };
  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${bearer}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
  const created = (await (
    await call('POST', '/v1/workflows', {
      name: 'Signed',
      steps: [{ id: 'wait', type: 'delay', params: { duration: '1h' } }],
      webhook: { signing: 'standard-webhooks' },
    })
  ).json()) as { id: string; webhook: { token: string; url: string }; signingSecret: string };
  const { token } = created.webhook;
  const body = JSON.stringify({ email: 'ada@example.com' });
  const hook = (headers: Record<string, string>, path = `/hooks/${token}`) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  const answers = [
    (await hook(signedHeaders(created.signingSecret, 'msg_1', body))).status, // accepted
    (await hook({ 'webhook-id': 'msg_2', 'webhook-timestamp': '1', 'webhook-signature': 'v1,bad' })).status,
    (await hook({}, `/hooks/${token}?token=${token}`)).status, // token in the query too
    (await fetch(`${server.url}/hooks/${token}`)).status, // a method the route does not have
  ];
  const rotated = (await (await call('POST', `/v1/workflows/${created.id}/webhook/rotate`)).json()) as {
    webhook: { token: string };
    signingSecret: string;
  };
  answers.push((await hook({}, `/hooks/${rotated.webhook.token}`)).status); // unsigned: refused
  expect(answers).toEqual([202, 401, 401, 404, 401]);

  const output = `${server.process.output()}\n${worker.output()}`;
  expect(output).toContain('/hooks/'); // requests were logged...
  const leaks = {
    'webhook token': [token, rotated.webhook.token],
    'bearer token': [bearer],
    'signing secret': [
      created.signingSecret,
      rotated.signingSecret,
      created.signingSecret.replace(/^whsec_/, ''),
    ],
  };
  for (const [what, values] of Object.entries(leaks)) {
    for (const value of values) expect(output.includes(value), `${what} in the logs`).toBe(false); // ...not the secrets
  }
  report('API and worker output at debug level searched for tokens and signing secrets', started, {
    'requests made': answers.length + 3,
    'output bytes searched': output.length,
    'values searched for': Object.values(leaks).flat().length,
  });
});
