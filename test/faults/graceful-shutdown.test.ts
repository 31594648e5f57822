import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../helpers/database.js';
import { startFakeResend, type FakeResend } from '../helpers/fake-resend.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
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
  within,
  type Answer,
  temporalClientFor,
} from './harness.js';

/*
 * SIGTERM is how every process manager (systemd, Docker, Kubernetes) stops a service. The API must stop accepting
 * connections and still answer every request it already has; the worker must let an in-flight activity finish
 * within SHUTDOWN_GRACE_MS. Both then exit 0.
 */

const GRACE_MS = 10_000;

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let resend: FakeResend;
let proxy: TcpProxy;
let connection: Connection;

beforeAll(async () => {
  [database, resend, proxy] = await Promise.all([
    createTestDatabase(),
    startFakeResend(),
    startTcpProxy(inject('temporalAddress')),
  ]);
  connection = await Connection.connect({ address: inject('temporalAddress') });
});

afterAll(async () => {
  await killAll();
  await connection?.close();
  await proxy?.close();
  await resend?.close();
  await database?.drop();
});

it('SIGTERM to the API: in-flight webhook hits get their 202, new connections are refused, exit 0', async () => {
  const started = Date.now();
  const IN_FLIGHT = 6;
  const env = hookflowEnv({
    databaseUrl: database.url,
    temporalAddress: inject('temporalAddress'),
    resendUrl: resend.url,
    env: { SHUTDOWN_GRACE_MS: String(GRACE_MS) },
  });
  // The API reaches Temporal through the proxy, so the test decides when Temporal's acknowledgements arrive.
  const [server] = await Promise.all([
    launchApi({ ...env, TEMPORAL_ADDRESS: proxy.address }),
    launchWorker(env),
  ]);
  const port = Number(new URL(server.url).port);
  const api = apiClient(server.url);
  await api.signUp();
  const workflow = await api.createWorkflow({ name: 'Graceful API', steps: [emailStep('welcome')] });

  // Webhook hits that are inside the API, waiting for Temporal to acknowledge their start.
  proxy.hold();
  let settled = 0;
  const inFlight = Array.from({ length: IN_FLIGHT }, (_, i) =>
    api
      .hit(
        workflow.webhook.token,
        { email: `inflight-${i}@example.com`, name: `${i}` },
        `inflight-${i}`,
        30_000,
      )
      .finally(() => settled++),
  );
  await waitUntil(
    5_000,
    'the start requests to reach the proxy',
    () => Promise.resolve(proxy.heldBytes),
    (bytes) => bytes > 0,
  );
  await sleep(300);
  expect(settled).toBe(0);

  const signalled = Date.now();
  const exited = server.process.kill('SIGTERM');
  // The listener closes at once: new connections are refused while the hits above are still open.
  await waitUntil(
    5_000,
    'the API to refuse new connections',
    () => tryConnect(port),
    (result) => result === 'ECONNREFUSED',
  );
  expect(settled, 'no in-flight hit was dropped by the SIGTERM').toBe(0);
  expect(isRunning(server.process)).toBe(true);

  proxy.release();
  const answers = await within(20_000, 'the in-flight hits to be answered', Promise.all(inFlight));
  expect(answers.map((a) => a.status)).toEqual(Array(IN_FLIGHT).fill(202));
  expect(await within(GRACE_MS + 5_000, 'the API to exit', exited), server.process.output()).toBe(0);
  const shutdownMs = Date.now() - signalled;
  // Exiting by itself, not by the grace-time backstop (which exits 1 after SHUTDOWN_GRACE_MS + 5 s).
  expect(shutdownMs).toBeLessThan(GRACE_MS);

  // The API is gone; Temporal (which owns runs) says every accepted hit ran to completion.
  const client = temporalClientFor(connection, env);
  const runIds = answers.map((a) => ((a as Answer).body as { runId: string }).runId);
  await within(
    30_000,
    'the runs to complete',
    Promise.all(runIds.map((id) => client.workflow.getHandle(id).result())),
  );
  await resend.waitForEmails(IN_FLIGHT, 10_000);
  expect(resend.emails.map((e) => e.idempotencyKey).sort()).toEqual(
    runIds.map((id) => `${id}/welcome`).sort(),
  );

  report('SIGTERM to the API with webhook hits in flight (Temporal acknowledgements held back)', started, {
    'hits in flight at SIGTERM': IN_FLIGHT,
    'hits answered 202 after SIGTERM': answers.filter((a) => a.status === 202).length,
    'new connections after SIGTERM': 'refused',
    'API exit code': 0,
    'SIGTERM to exit (ms)': shutdownMs,
    'runs completed': runIds.length,
    'emails accepted': resend.emails.length,
  });
});

it('SIGTERM to the worker mid-send: the activity finishes within the grace time, once, and the worker exits 0', async () => {
  const started = Date.now();
  const emailsBefore = resend.emails.length;
  const env = hookflowEnv({
    databaseUrl: database.url,
    temporalAddress: inject('temporalAddress'),
    resendUrl: resend.url,
    env: { SHUTDOWN_GRACE_MS: String(GRACE_MS) },
  });
  const [server, worker1] = await Promise.all([launchApi(env), launchWorker(env, 'worker-1')]);
  const api = apiClient(server.url);
  await api.signUp();
  const workflow = await api.createWorkflow({ name: 'Graceful worker', steps: [emailStep('welcome')] });

  const held = resend.holdNext();
  const hit = await api.hit(workflow.webhook.token, { email: 'grace@example.com', name: 'Grace' });
  expect(hit.status).toBe(202);
  const runId = ((hit as Answer).body as { runId: string }).runId;
  const key = `${runId}/welcome`;
  await within(30_000, 'the send request to reach the fake provider', held.arrived);

  const signalled = Date.now();
  const exited = worker1.kill('SIGTERM');
  await sleep(1_000);
  expect(isRunning(worker1), 'the worker waits for its in-flight activity').toBe(true);
  held.release();
  expect(await within(GRACE_MS + 5_000, 'worker-1 to exit', exited)).toBe(0);
  const shutdownMs = Date.now() - signalled;
  expect(shutdownMs).toBeLessThan(GRACE_MS);
  expect(worker1.output()).not.toMatch(/shutdown took longer|exiting now/);

  // The activity's result reached Temporal before the worker left; the next worker only finishes the workflow.
  await launchWorker(env, 'worker-2');
  const [run] = await api.waitForRuns([runId], 30_000);
  expect(run?.status).toBe('completed');
  expect(run?.steps[0]).toMatchObject({ status: 'completed', attempts: 1 });
  const attempts = resend.requests.filter((r) => r.idempotencyKey === key);
  expect(attempts).toHaveLength(1);
  expect(resend.emails.filter((e) => e.idempotencyKey === key)).toHaveLength(1);
  expect(resend.emails.length - emailsBefore).toBe(1);

  report(
    'SIGTERM to the worker while the provider held its send open, released within the grace time',
    started,
    {
      'hits accepted (202)': 1,
      'grace time (ms)': GRACE_MS,
      'SIGTERM to exit (ms)': shutdownMs,
      'worker exit code': 0,
      'activity attempts': run?.steps[0]?.attempts ?? 0,
      'send requests with the key': attempts.length,
      'duplicates attempted': attempts.length - 1,
      'runs completed': 1,
      'emails accepted': resend.emails.length - emailsBefore,
    },
  );
});

it('SIGTERM to the worker with a send that outlasts the grace time: it exits at the grace time, another worker retries at once, one email', async () => {
  const started = Date.now();
  const emailsBefore = resend.emails.length;
  const SHORT_GRACE_MS = 2_000;
  const env = hookflowEnv({
    databaseUrl: database.url,
    temporalAddress: inject('temporalAddress'),
    resendUrl: resend.url,
    env: { SHUTDOWN_GRACE_MS: String(SHORT_GRACE_MS) },
  });
  const [server, worker1] = await Promise.all([launchApi(env), launchWorker(env, 'worker-1')]);
  const api = apiClient(server.url);
  await api.signUp();
  const workflow = await api.createWorkflow({ name: 'Grace overrun', steps: [emailStep('welcome')] });

  const held = resend.holdNext();
  const hit = await api.hit(workflow.webhook.token, { email: 'slow@example.com', name: 'Slow' });
  expect(hit.status).toBe(202);
  const runId = ((hit as Answer).body as { runId: string }).runId;
  const key = `${runId}/welcome`;
  await within(30_000, 'the send request to reach the fake provider', held.arrived);

  // A rolling restart: the old worker is told to stop while its replacement comes up.
  const signalled = Date.now();
  const [code] = await Promise.all([
    within(SHORT_GRACE_MS + 5_000, 'worker-1 to exit', worker1.kill('SIGTERM')),
    launchWorker(env, 'worker-2'),
  ]);
  const shutdownMs = Date.now() - signalled;
  expect(code, worker1.output()).toBe(0);
  expect(worker1.output()).not.toMatch(/shutdown took longer|exiting now/);
  // The interrupted attempt was reported failed, so worker-2 retries it now, not after the 30 s timeout; the
  // provider is still busy with the first request, so the retries hear 409 concurrent_idempotent_requests.
  await waitUntil(
    15_000,
    'a retry of the interrupted send',
    () => Promise.resolve(resend.requests.filter((r) => r.idempotencyKey === key).length),
    (count) => count >= 2,
  );
  held.release(); // the provider finishes the first request: that is the one email
  const [run] = await api.waitForRuns([runId], 30_000);
  expect(run?.status).toBe('completed');

  const attempts = resend.requests.filter((r) => r.idempotencyKey === key);
  const refusedConcurrent = attempts.filter((r) => r.errorName === 'concurrent_idempotent_requests');
  const replayed = attempts.filter((r) => r.replayed);
  expect(resend.emails.filter((e) => e.idempotencyKey === key)).toHaveLength(1);
  expect(resend.emails.length - emailsBefore).toBe(1);
  expect(replayed).toHaveLength(1);
  expect(refusedConcurrent.length + replayed.length).toBe(attempts.length - 1);
  expect(Date.now() - signalled).toBeLessThan(25_000); // well inside the 30 s start-to-close timeout

  report('SIGTERM to the worker while the provider held its send open past the grace time', started, {
    'hits accepted (202)': 1,
    'grace time (ms)': SHORT_GRACE_MS,
    'SIGTERM to exit (ms)': shutdownMs,
    'worker exit code': code,
    'activity attempts': run?.steps[0]?.attempts ?? 0,
    'send requests with the key': attempts.length,
    'duplicates attempted': attempts.length - 1,
    'duplicates prevented (409 in progress + replayed)': refusedConcurrent.length + replayed.length,
    'runs completed': 1,
    'emails accepted': resend.emails.length - emailsBefore,
  });
});

/** Opens (and closes) a TCP connection; resolves 'connected' or the error code. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}
