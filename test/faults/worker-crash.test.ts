import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../helpers/database.js';
import { startFakeResend, type FakeResend } from '../helpers/fake-resend.js';
import {
  apiClient,
  emailStep,
  hookflowEnv,
  killAll,
  launchApi,
  launchWorker,
  report,
  within,
  type ApiClient,
} from './harness.js';

/*
 * A worker is SIGKILLed while the email provider holds its send request open: the provider goes on to accept the
 * email, but its answer reaches a dead process. Temporal retries the activity once its heartbeat timeout (5 s)
 * runs out, on a worker started afterwards; the retry carries the same idempotency key, so the provider answers
 * with the first email and sends nothing new.
 */

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let resend: FakeResend;
let env: Record<string, string>;

beforeAll(async () => {
  [database, resend] = await Promise.all([createTestDatabase(), startFakeResend()]);
  env = hookflowEnv({
    databaseUrl: database.url,
    temporalAddress: inject('temporalAddress'),
    resendUrl: resend.url,
  });
});

afterAll(async () => {
  await killAll();
  await resend?.close();
  await database?.drop();
});

it('a worker killed mid-send is replaced; the run completes and the email is accepted once', async () => {
  const started = Date.now();
  const [server, worker1] = await Promise.all([launchApi(env), launchWorker(env, 'worker-1')]);
  const api: ApiClient = apiClient(server.url);
  await api.signUp();
  const workflow = await api.createWorkflow({ name: 'Crash mid-send', steps: [emailStep('welcome')] });

  const held = resend.holdNext();
  const hit = await api.hit(workflow.webhook.token, { email: 'ada@example.com', name: 'Ada' });
  expect(hit.status).toBe(202);
  const { runId } = (hit as { body: { runId: string } }).body;
  const key = `${runId}/welcome`;
  await within(30_000, 'the send request to reach the fake provider', held.arrived);

  // kill -9 while the request is open; then the provider finishes it (the email is accepted, the answer lost).
  const killed = Date.now();
  expect(await within(5_000, 'worker-1 to die', worker1.kill('SIGKILL'))).toBe('SIGKILL');
  held.release();
  await within(5_000, 'the provider to accept the held email', resend.waitForEmails(1, 5_000));

  await launchWorker(env, 'worker-2');
  const [run] = await api.waitForRuns([runId], 60_000);
  const recoveryMs = Date.now() - killed;

  const attempts = resend.requests.filter((r) => r.idempotencyKey === key);
  const accepted = resend.emails.filter((e) => e.idempotencyKey === key);
  expect(run?.status).toBe('completed');
  expect(run?.steps[0]).toMatchObject({ id: 'welcome', status: 'completed', attempts: 2 });
  expect(attempts.length).toBeGreaterThanOrEqual(2);
  expect(accepted).toHaveLength(1);
  expect(resend.emails).toHaveLength(1);
  const replays = attempts.filter((r) => r.replayed);
  expect(replays.length).toBe(attempts.length - 1);
  expect(replays.every((r) => r.emailId === accepted[0]?.id)).toBe(true);

  report('worker SIGKILLed while the provider held its send open, then a new worker started', started, {
    'hits accepted (202)': 1,
    'runs completed': run?.status === 'completed' ? 1 : 0,
    'kill to run completed (ms; the retry waits out the 5 s heartbeat timeout)': recoveryMs,
    'activity attempts (run step)': run?.steps[0]?.attempts ?? 0,
    'send requests with the key': attempts.length,
    'emails accepted': accepted.length,
    'duplicates attempted': attempts.length - 1,
    'duplicates prevented (replayed)': replays.length,
  });
});
