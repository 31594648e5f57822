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
