import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  findFreePort,
  findTemporalCli,
  startDevServer,
  type DevServer,
} from '../../src/temporal/dev-server.js';
import { createTestDatabase } from '../helpers/database.js';
import { startFakeResend, type FakeResend } from '../helpers/fake-resend.js';
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
} from './harness.js';

/*
 * The Temporal server (a dev server of this test's own, persisted with --db-filename) is stopped while runs wait
 * in a durable timer, and started again on the same port. The timers are due during the outage; the runs complete
 * after the restart, with the same API and worker processes, which reconnect by themselves. While Temporal is
 * down every webhook gets 503 + Retry-After and no run: a sender's retry afterwards starts it (202, not a duplicate).
 * Then the dev server is SIGKILLed right after acknowledging a burst of webhooks: with SQLite in WAL mode and
 * synchronous=normal (what npm start runs), a process crash must not lose one acknowledged run.
 */

const RUNS = 4;
const OUTAGE_HITS = 4;
const DELAY_MS = 3_000;
const KILL_HITS = 30;

let dir: string;
let cliPath: string;
let temporal: DevServer | undefined;
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let resend: FakeResend;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hookflow-faults-temporal-'));
  cliPath = await findTemporalCli({ cliPath: process.env.TEMPORAL_CLI_PATH || undefined });
  [database, resend] = await Promise.all([createTestDatabase(), startFakeResend()]);
});

afterAll(async () => {
  await killAll();
  await temporal?.stop();
  await resend?.close();
  await database?.drop();
  rmSync(dir, { recursive: true, force: true });
});

it('runs waiting in a delay complete after Temporal restarts; webhooks get 503 while it is down', async () => {
  const started = Date.now();
  const port = await findFreePort();
  const dbFile = join(dir, 'temporal.db');
  const startTemporal = () => startDevServer({ cliPath, port, uiPort: 0, dbFile });
  temporal = await startTemporal();
  const env = hookflowEnv({
    databaseUrl: database.url,
    temporalAddress: temporal.address,
    resendUrl: resend.url,
  });
  const [server, worker] = await Promise.all([launchApi(env), launchWorker(env)]);
  const api = apiClient(server.url);
  await api.signUp();
  const workflow = await api.createWorkflow({
    name: 'Wait through an outage',
    steps: [{ id: 'wait', type: 'delay', params: { duration: DELAY_MS } }, emailStep('after')],
  });
  const payload = (key: string) => ({ email: `${key}@example.com`, name: key });

  const accepted = await Promise.all(
    Array.from({ length: RUNS }, (_, i) =>
      api.hit(workflow.webhook.token, payload(`before-${i}`), `before-${i}`),
    ),
  );
  expect(accepted.map((a) => a.status)).toEqual(Array(RUNS).fill(202));
  const runIds = accepted.map((a) => ((a as Answer).body as { runId: string }).runId);
  for (const runId of runIds) {
    await waitUntil(
      15_000,
      `run ${runId} to wait in its delay`,
      () => api.getRun(runId),
      (run) => run.steps[0]?.status === 'waiting',
    );
  }

  // Outage: Temporal stops. Webhooks must be refused with 503 + Retry-After, never accepted without a run.
  await temporal.stop();
  const outageStarted = Date.now();
  const during = await Promise.all(
    Array.from({ length: OUTAGE_HITS }, (_, i) =>
      api.hit(workflow.webhook.token, payload(`outage-${i}`), `outage-${i}`),
    ),
  );
  const slowest503 = Date.now() - outageStarted;
  for (const answer of during) {
    expect(answer.status, JSON.stringify(answer)).toBe(503);
    expect((answer as Answer).headers.get('retry-after')).toMatch(/^\d+$/);
    expect((answer as Answer).body).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
  }
  const readyDuring = await api.call('GET', '/readyz');
  expect(readyDuring.status).toBe(503);
  // Let the runs' timers fall due while nothing is there to fire them.
  await sleep(Math.max(0, DELAY_MS + 1_000 - (Date.now() - outageStarted)));
  expect(isRunning(worker), `the worker must survive the outage:\n${worker.output()}`).toBe(true);
  expect(isRunning(server.process), `the API must survive the outage:\n${server.process.output()}`).toBe(
    true,
  );

  temporal = await startTemporal();
  const restarted = Date.now();
  const outageMs = restarted - outageStarted;

  // Same processes, no restart: the waiting runs complete and their emails go out once each.
  const completed = await api.waitForRuns(runIds, 60_000);
  expect(completed.map((run) => run.status)).toEqual(Array(RUNS).fill('completed'));
  const recoveryMs = Date.now() - restarted;

  // Senders retry the deliveries refused during the outage: none was half-started, so each starts now.
  const retried = await Promise.all(
    Array.from({ length: OUTAGE_HITS }, (_, i) =>
      waitUntil(
        20_000,
        `retry of outage-${i} to be accepted`,
        () => api.hit(workflow.webhook.token, payload(`outage-${i}`), `outage-${i}`),
        (answer) => answer.status !== 503,
      ),
    ),
  );
  expect(retried.map((a) => a.status)).toEqual(Array(OUTAGE_HITS).fill(202));
  expect(retried.map((a) => ((a as Answer).body as { duplicate: boolean }).duplicate)).toEqual(
    Array(OUTAGE_HITS).fill(false),
  );
  const retriedIds = retried.map((a) => ((a as Answer).body as { runId: string }).runId);
  const retriedRuns = await api.waitForRuns(retriedIds, 60_000);
  expect(retriedRuns.map((run) => run.status)).toEqual(Array(OUTAGE_HITS).fill('completed'));

  await within(5_000, 'emails', resend.waitForEmails(RUNS + OUTAGE_HITS, 5_000));
  const keys = resend.emails.map((e) => e.idempotencyKey);
  expect(new Set(keys).size).toBe(keys.length);
  expect(keys.sort()).toEqual([...runIds, ...retriedIds].map((id) => `${id}/after`).sort());
  expect(isRunning(worker) && isRunning(server.process)).toBe(true);

  report(
    'Temporal dev server stopped and restarted (same port, --db-filename) while runs waited in a delay',
    started,
    {
      'hits accepted (202) before the outage': runIds.length,
      'outage length (ms)': outageMs,
      'hits during the outage answered 503 + Retry-After': during.filter((a) => a.status === 503).length,
      'hits during the outage answered 202': during.filter((a) => a.status === 202).length,
      'slowest 503 answer (ms)': slowest503,
      'runs completed after the restart (same worker and API)': completed.length,
      'restart to all runs completed (ms)': recoveryMs,
      'refused hits retried afterwards: started (202, not duplicate)': retried.length,
      'runs completed in all': completed.length + retriedRuns.length,
      'emails accepted': resend.emails.length,
      'duplicate emails': keys.length - new Set(keys).size,
    },
  );
});

it('a killed dev server (SQLite in WAL, synchronous=normal, as npm start runs it) loses no acknowledged run', async () => {
  const started = Date.now();
  const port = await findFreePort();
  const dbFile = join(dir, 'killed.db');
  // The pragmas npm start passes are the dev server's defaults here: no option given.
  const startTemporal = () => startDevServer({ cliPath, port, uiPort: 0, dbFile });
  temporal = await startTemporal();
  expect(existsSync(`${dbFile}-wal`), 'the dev server writes its SQLite file in WAL mode').toBe(true);
  const env = hookflowEnv({
    databaseUrl: database.url,
    temporalAddress: temporal.address,
    resendUrl: resend.url,
  });
  const [server, worker] = await Promise.all([launchApi(env, 'api-kill'), launchWorker(env, 'worker-kill')]);
  const api = apiClient(server.url);
  await api.signUp();
  const workflow = await api.createWorkflow({
    name: 'Acknowledged, then Temporal is killed',
    steps: [{ id: 'wait', type: 'delay', params: { duration: 1_000 } }, emailStep('after')],
  });
  const emailsBefore = resend.emails.length;

  // Each 202 is an acknowledged start; SIGKILL lands right after the last one, before any checkpoint is likely.
  const accepted = await Promise.all(
    Array.from({ length: KILL_HITS }, (_, i) =>
      api.hit(workflow.webhook.token, { email: `kill-${i}@example.com`, name: `k${i}` }, `kill-${i}`),
    ),
  );
  expect(accepted.map((a) => a.status)).toEqual(Array(KILL_HITS).fill(202));
  process.kill(temporal.pid!, 'SIGKILL');
  await temporal.stop();

  temporal = await startTemporal();
  const restarted = Date.now();
  const runIds = accepted.map((a) => ((a as Answer).body as { runId: string }).runId);
  const completed = await api.waitForRuns(runIds, 90_000);
  expect(completed.map((run) => run.status)).toEqual(Array(KILL_HITS).fill('completed'));
  await within(10_000, 'emails', resend.waitForEmails(emailsBefore + KILL_HITS, 10_000));
  const keys = resend.emails.slice(emailsBefore).map((e) => e.idempotencyKey);
  expect(keys.sort()).toEqual(runIds.map((id) => `${id}/after`).sort());
  expect(isRunning(worker) && isRunning(server.process)).toBe(true);

  report(
    'Temporal dev server SIGKILLed right after acknowledging webhooks (WAL, synchronous=normal)',
    started,
    {
      'hits accepted (202) before the kill': runIds.length,
      'runs completed after the restart': completed.length,
      'restart to all runs completed (ms)': Date.now() - restarted,
      'emails accepted (one per run)': keys.length,
    },
  );
});
