import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { bundleWorkflowCode } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureNativeBinaries,
  findFreeMembershipPort,
  type TemporalServerPorts,
} from '../../src/stack/native-temporal.js';
import { startStack, type Stack } from '../../src/stack/stack.js';
import { findFreePort } from '../../src/temporal/dev-server.js';
import { workflowsPath } from '../../src/temporal/worker.js';
import {
  apiClient,
  emailStep,
  report,
  waitUntil,
  type Answer,
  type ApiClient,
  type NetworkFailure,
} from '../faults/harness.js';
import { startFakeResend, type FakeResend } from '../helpers/fake-resend.js';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.js';

/*
 * The production topology, natively (DESIGN §9): PostgreSQL (a private cluster of this file's own, so it can be
 * restarted), temporal-server on it with SQL visibility, temporal-ui-server, the Hookflow API and two workers, all
 * started the way `npm run start:stack` starts them. One stack for the whole file; the tests run in order and each
 * leaves it running and healthy for the next.
 */

const run = promisify(execFile);
let dir: string;
let postgres: PrivatePostgres;
let resend: FakeResend;
let stack: Stack;
let api: ApiClient;
let token: string;
let workflowId: string;
const temporalPassword = randomBytes(12).toString('hex');
const hookflowPassword = randomBytes(12).toString('hex');

async function freePorts(): Promise<TemporalServerPorts> {
  const next = () => findFreePort();
  return {
    frontend: await next(),
    frontendHttp: await next(),
    frontendMembership: await findFreeMembershipPort(),
    history: await next(),
    historyMembership: await findFreeMembershipPort(),
    matching: await next(),
    matchingMembership: await findFreeMembershipPort(),
    worker: await next(),
    workerMembership: await findFreeMembershipPort(),
    metrics: await next(),
  };
}

beforeAll(async () => {
  const binaries = await ensureNativeBinaries((line) => console.log(`[stack] ${line}`));
  dir = mkdtempSync(join(tmpdir(), 'hookflow-stack-'));
  [postgres, resend] = await Promise.all([startPrivatePostgres(), startFakeResend()]);
  const bundlePath = join(dir, 'workflow-bundle.js');
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: quietLogger });
  writeFileSync(bundlePath, code);

  stack = await startStack({
    binaries,
    roles: {
      adminUrl: postgres.url,
      host: '127.0.0.1',
      port: postgres.port,
      temporal: {
        user: 'temporal',
        password: temporalPassword,
        database: 'temporal',
        visibilityDatabase: 'temporal_visibility',
      },
      hookflow: { user: 'hookflow', password: hookflowPassword, database: 'hookflow' },
    },
    temporalPorts: await freePorts(),
    historyShards: 4,
    namespace: 'default',
    retention: '24h',
    apiPort: await findFreePort(),
    uiPort: await findFreePort(),
    codecPort: await findFreePort(),
    workers: 2,
    hookflowEnv: {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      TEMPORAL_WORKFLOW_BUNDLE: bundlePath,
      JWT_SECRET: randomBytes(32).toString('hex'),
      SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      PAYLOAD_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
      RESEND_API_KEY: 're_test_stack',
      RESEND_BASE_URL: resend.url,
      EMAIL_FROM: 'Hookflow Stack <stack@hookflow.test>',
      EMAIL_MAX_PER_SECOND: '1000',
      REGISTRATION_MODE: 'open',
    },
    log: (line) => console.log(`[stack] ${line}`),
  });
  api = apiClient(stack.apiUrl);
  await api.signUp();
  const workflow = await api.createWorkflow({ name: 'Stack welcome', steps: [emailStep('hello')] });
  token = workflow.webhook.token;
  workflowId = workflow.id;
}, 900_000);

afterAll(async () => {
  await stack?.stop();
  await resend?.close();
  await postgres?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const payload = (key: string) => ({ email: `${key}@example.com`, name: key });
const runIdOf = (answer: Answer | NetworkFailure) => ((answer as Answer).body as { runId: string }).runId;

/** Every accepted run sent exactly one email, and nothing else was sent. */
async function expectOneEmailPerRun(runIds: string[], step: string): Promise<void> {
  const runs = await api.waitForRuns(runIds, 120_000);
  expect(runs.map((run) => run.status)).toEqual(runIds.map(() => 'completed'));
  const expected = runIds.map((id) => `${id}/${step}`).sort();
  await waitUntil(
    30_000,
    'one email per accepted run',
    () => Promise.resolve(resend.emails.map((email) => email.idempotencyKey ?? '')),
    (keys) => expected.every((key) => keys.includes(key)),
  );
  const keys = resend.emails
    .map((email) => email.idempotencyKey ?? '')
    .filter((key) => key.endsWith(`/${step}`));
  expect(keys.length, 'duplicate emails').toBe(new Set(keys).size);
}

describe('native stack', () => {
  it('serves the core loop: webhook → run on temporal-server → one email; a repeated delivery is a duplicate', async () => {
    const first = await api.hit(token, payload('core'), 'core-delivery');
    expect(first.status, JSON.stringify(first)).toBe(202);
    const again = await api.hit(token, payload('core'), 'core-delivery');
    expect(again.status).toBe(200);
    expect((again as Answer).body).toMatchObject({ runId: runIdOf(first), duplicate: true });
    await expectOneEmailPerRun([runIdOf(first)], 'hello');
    // Listed from SQL visibility on PostgreSQL, by the run's interpreter type and search attributes.
    const listed = await waitUntil(
      30_000,
      'the run to be listed',
      async () => {
        const answer = await api.call('GET', `/v1/workflows/${workflowId}/runs`);
        return answer.status === 200 ? (answer.body as { items: { id: string }[] }).items : [];
      },
      (items) => items.some((item) => item.id === runIdOf(first)),
    );
    expect(listed.map((item) => item.id)).toContain(runIdOf(first));
    expect(resend.emails.find((email) => email.idempotencyKey === `${runIdOf(first)}/hello`)?.to).toEqual([
      'core@example.com',
    ]);

    // Operators read the same run in the Temporal UI server (read-only by default).
    const ui = await fetch(`${stack.uiUrl.replace('localhost', '127.0.0.1')}/api/v1/settings`);
    expect(ui.status).toBe(200);
    const settings = (await ui.json()) as { DisableWriteActions: boolean; Codec: { Endpoint: string } };
    expect(settings.DisableWriteActions).toBe(true);
    // It decodes run data (encrypted in Temporal) through the API's codec endpoint.
    expect(settings.Codec.Endpoint).toBe(`http://127.0.0.1:${stack.hookflowEnv.PAYLOAD_CODEC_PORT}`);
    const decode = await fetch(`${settings.Codec.Endpoint}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: stack.uiUrl },
      body: JSON.stringify({ payloads: [] }),
    });
    expect(decode.status).toBe(200);
    expect(decode.headers.get('access-control-allow-origin')).toBe(stack.uiUrl);
  });

  it("gives Temporal and Hookflow database roles of their own, neither a superuser nor able to open the other's data", async () => {
    const as = (user: string, password: string, database: string) =>
      run('psql', [
        `postgres://${user}:${password}@127.0.0.1:${postgres.port}/${database}`,
        '-Atc',
        'select rolsuper from pg_roles where rolname = current_user',
      ]).then(
        ({ stdout }) => stdout.trim(),
        (error: { stderr?: string }) => `refused: ${error.stderr ?? ''}`,
      );
    expect(await as('hookflow', hookflowPassword, 'hookflow')).toBe('f');
    expect(await as('temporal', temporalPassword, 'temporal')).toBe('f');
    expect(await as('hookflow', hookflowPassword, 'temporal')).toMatch(
      /refused: .*permission denied for database "temporal"/,
    );
    expect(await as('temporal', temporalPassword, 'hookflow')).toMatch(
      /refused: .*permission denied for database "hookflow"/,
    );
  });

  it('runs the API and the workers with short-lived compiles, so no esbuild service stays up beside them', async () => {
    for (const program of [stack.api, ...stack.workers]) {
      const environment = readFileSync(`/proc/${await program.pid()}/environ`, 'utf8').split('\0');
      expect(environment, program.name).toContain('ESBUILD_WORKER_THREADS=0');
    }
  });

  it('loses and doubles nothing when temporal-server is SIGKILLed under webhook load', async () => {
    const started = Date.now();
    const SENDERS = 6;
    const answers: { key: string; status: number; retryAfter: string | null }[] = [];
    const acceptedRunByKey = new Map<string, string>();
    let sending = true;

    // Each sender delivers its own events one after another and, like a real webhook sender, retries a refused
    // delivery with the same delivery key until it is accepted.
    const sender = async (senderIndex: number) => {
      for (let i = 0; sending; i++) {
        const key = `load-${senderIndex}-${i}`;
        for (;;) {
          const answer = await api.hit(token, payload(key), key, 30_000);
          const retryAfter = answer.status > 0 ? (answer as Answer).headers.get('retry-after') : null;
          answers.push({ key, status: answer.status, retryAfter });
          // 202: started; 200: a duplicate (an earlier attempt that got a 503 had started it after all).
          if (answer.status === 202 || answer.status === 200) {
            const runId = runIdOf(answer);
            const earlier = acceptedRunByKey.get(key);
            if (earlier) expect(runId, `delivery ${key} answered with two run ids`).toBe(earlier);
            acceptedRunByKey.set(key, runId);
            break;
          }
          await sleep(500);
        }
      }
    };
    const load = Promise.all(Array.from({ length: SENDERS }, (_, index) => sender(index)));

    await sleep(3_000);
    const beforeKill = acceptedRunByKey.size;
    await stack.temporal.process.kill('SIGKILL');
    const killedAt = Date.now();
    await stack.temporal.process.exited;
    await sleep(3_000);
    await stack.restartTemporal();
    const downMs = Date.now() - killedAt;
    await sleep(3_000);
    sending = false;
    await load;

    const runIds = [...new Set(acceptedRunByKey.values())];
    await expectOneEmailPerRun(runIds, 'hello');

    const unexpected = answers.filter(
      (a) => a.status !== 202 && a.status !== 200 && !(a.status === 503 && /^\d+$/.test(a.retryAfter ?? '')),
    );
    expect(unexpected, 'every answer is 202 (or 200 duplicate), or 503 with Retry-After').toEqual([]);
    expect(runIds.length).toBe(acceptedRunByKey.size); // one run per delivery key
    expect(
      answers.some((a) => a.status === 503),
      'the outage was seen by senders',
    ).toBe(true);
    for (const worker of stack.workers) expect(worker.hasExited(), worker.output()).toBe(false);
    expect(stack.api.hasExited()).toBe(false);

    report('Native stack: temporal-server SIGKILLed under webhook load, then restarted', started, {
      senders: SENDERS,
      'deliveries accepted before the kill': beforeKill,
      'temporal-server down, kill to serving again (ms)': downMs,
      'answers 503 + Retry-After': answers.filter((a) => a.status === 503).length,
      'deliveries accepted (202)': answers.filter((a) => a.status === 202).length,
      'retries answered as duplicates (200)': answers.filter((a) => a.status === 200).length,
      'runs completed': runIds.length,
      'emails for them': runIds.length,
      'other answers': unexpected.length,
    });
  });

  it('recovers from a PostgreSQL restart: waiting runs complete, refused deliveries start when retried', async () => {
    const started = Date.now();
    const workflow = await api.createWorkflow({
      name: 'Stack wait then mail',
      steps: [{ id: 'wait', type: 'delay', params: { duration: 4_000 } }, emailStep('later')],
    });
    const before = await Promise.all(
      [0, 1, 2].map((i) => api.hit(workflow.webhook.token, payload(`pg-before-${i}`), `pg-before-${i}`)),
    );
    expect(before.map((a) => a.status)).toEqual([202, 202, 202]);

    await postgres.stop();
    const stoppedAt = Date.now();
    const during = await Promise.all(
      [0, 1].map((i) => api.hit(workflow.webhook.token, payload(`pg-during-${i}`), `pg-during-${i}`, 30_000)),
    );
    for (const answer of during) {
      expect(answer.status, JSON.stringify(answer)).toBe(503);
      expect((answer as Answer).headers.get('retry-after')).toMatch(/^\d+$/);
    }
    await sleep(Math.max(0, 5_000 - (Date.now() - stoppedAt)));
    await postgres.start();
    const downMs = Date.now() - stoppedAt;

    const retried = await Promise.all(
      [0, 1].map((i) =>
        waitUntil(
          60_000,
          `retry of pg-during-${i} to be accepted`,
          () => api.hit(workflow.webhook.token, payload(`pg-during-${i}`), `pg-during-${i}`, 30_000),
          (answer) => answer.status === 202,
        ),
      ),
    );
    const runIds = [...before, ...retried].map(runIdOf);
    await expectOneEmailPerRun(runIds, 'later');
    expect(stack.temporal.process.hasExited(), stack.temporal.process.output()).toBe(false);

    report('Native stack: PostgreSQL (Temporal and Hookflow databases) stopped and started', started, {
      'runs waiting in a delay during the restart': before.length,
      'PostgreSQL down (ms)': downMs,
      'deliveries refused with 503 + Retry-After while down': during.length,
      'refused deliveries accepted on retry': retried.length,
      'runs completed, one email each': runIds.length,
    });
  });
});

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};
