import { Connection } from '@temporalio/client';
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
  waitUntil,
  within,
  type Answer,
  type NetworkFailure,
  temporalClientFor,
} from './harness.js';

/*
 * Webhook senders hammer the API; it is killed with SIGKILL mid-load. A 202 means Temporal already has the run,
 * so every hit answered 202 must have a run that completes. Hits that got no answer are retried by their senders
 * (same Idempotency-Key) against a new API process: each either starts its run now (202) or finds the run the
 * dead API had started before it could answer (200, duplicate), and nothing is ever sent twice.
 */

const CALLERS = 8;
/** The API is killed once this many hits were accepted: well inside the load, with requests in flight. */
const KILL_AFTER_ACCEPTED = 40;

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let resend: FakeResend;
let env: Record<string, string>;
let connection: Connection;

beforeAll(async () => {
  [database, resend] = await Promise.all([createTestDatabase(), startFakeResend()]);
  env = hookflowEnv({
    databaseUrl: database.url,
    temporalAddress: inject('temporalAddress'),
    resendUrl: resend.url,
  });
  connection = await Connection.connect({ address: inject('temporalAddress') });
});

afterAll(async () => {
  await killAll();
  await connection?.close();
  await resend?.close();
  await database?.drop();
});

type Outcome = { key: string; answer: Answer | NetworkFailure };

it('every webhook hit answered 202 before a SIGKILL of the API has a run that completes', async () => {
  const started = Date.now();
  const [first] = await Promise.all([launchApi(env, 'api-1'), launchWorker(env)]);
  const api = apiClient(first.url);
  await api.signUp();
  const workflow = await api.createWorkflow({ name: 'Under load', steps: [emailStep('welcome')] });
  const payload = (key: string) => ({ email: `${key}@example.com`, name: key });

  // Phase 1: CALLERS senders in parallel, each posting one delivery after another until the API is gone.
  const outcomes: Outcome[] = [];
  let accepted = 0;
  let killed: Promise<number | string> | undefined;
  const sender = async (caller: number) => {
    for (let n = 0; ; n++) {
      const key = `load-${caller}-${n}`;
      const answer = await api.hit(workflow.webhook.token, payload(key), key, 10_000);
      outcomes.push({ key, answer });
      if (answer.status === 202) accepted++;
      if (accepted >= KILL_AFTER_ACCEPTED && !killed) killed = first.process.kill('SIGKILL');
      if (answer.status === 0) return; // the API is gone: this sender retries later
    }
  };
  await within(60_000, 'the load phase to end with the API killed', Promise.all(range(CALLERS).map(sender)));
  expect(await within(5_000, 'api-1 to die', killed!)).toBe('SIGKILL');

  const acceptedBefore = outcomes.filter((o) => o.answer.status === 202);
  const unanswered = outcomes.filter((o) => o.answer.status === 0);
  const other = outcomes.filter((o) => o.answer.status !== 202 && o.answer.status !== 0);
  expect(other, 'every hit is either accepted or unanswered').toEqual([]);
  expect(unanswered.length).toBe(CALLERS);
  const runIdOf = new Map(acceptedBefore.map((o) => [o.key, (o.answer as Answer).body as { runId: string }]));

  // Phase 2: a new API process; senders retry what got no answer, and (to prove dedup) repeat what was accepted.
  const second = await launchApi(env, 'api-2');
  api.useApi(second.url);
  const retried = await Promise.all(
    unanswered.map(async ({ key }) => ({
      key,
      answer: await api.hit(workflow.webhook.token, payload(key), key),
    })),
  );
  const startedNow = retried.filter((o) => o.answer.status === 202);
  const startedByDeadApi = retried.filter((o) => o.answer.status === 200);
  expect(startedNow.length + startedByDeadApi.length, JSON.stringify(retried)).toBe(unanswered.length);
  const repeated = await Promise.all(
    acceptedBefore.map(async ({ key }) => ({
      key,
      answer: await api.hit(workflow.webhook.token, payload(key), key),
    })),
  );
  for (const { key, answer } of repeated) {
    expect(answer.status, key).toBe(200);
    expect((answer as Answer).body).toMatchObject({ runId: runIdOf.get(key)?.runId, duplicate: true });
  }
  for (const { key, answer } of retried) runIdOf.set(key, (answer as Answer).body as { runId: string });

  // Every accepted run completes: read straight from Temporal, which owns runs.
  const client = temporalClientFor(connection, env);
  const runIds = [...new Set([...runIdOf.values()].map((r) => r.runId))];
  expect(runIds.length).toBe(acceptedBefore.length + unanswered.length);
  await within(
    90_000,
    `${runIds.length} runs to complete`,
    Promise.all(runIds.map((runId) => client.workflow.getHandle(runId).result())),
  );
  // And they are the only runs of this workflow: nothing started twice, nothing stray.
  const listed = await waitUntil(
    20_000,
    'the run list to show every run completed',
    async () =>
      (await api.call('GET', `/v1/workflows/${workflow.id}/runs?limit=100&status=completed`)) as Answer,
    (answer) => (answer.body as { items?: unknown[] }).items?.length === runIds.length,
  );
  expect((listed.body as { nextCursor: string | null }).nextCursor).toBeNull();

  const emailKeys = resend.emails.map((e) => e.idempotencyKey);
  expect(new Set(emailKeys).size).toBe(emailKeys.length);
  expect(emailKeys.sort()).toEqual(runIds.map((runId) => `${runId}/welcome`).sort());

  report('API SIGKILLed under webhook load, then a second API took the retries', started, {
    'concurrent senders': CALLERS,
    'hits sent in the load phase (incl. those cut off)': outcomes.length,
    'hits accepted (202) before the kill': acceptedBefore.length,
    'hits unanswered (connection reset/refused)': unanswered.length,
    'retried: started now (202)': startedNow.length,
    'retried: already started by the killed API (200 duplicate)': startedByDeadApi.length,
    'accepted hits repeated': repeated.length,
    'duplicates prevented (200, same runId)': repeated.length + startedByDeadApi.length,
    'runs completed': runIds.length,
    'emails accepted': resend.emails.length,
  });
});

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
