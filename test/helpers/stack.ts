import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { inject } from 'vitest';
import { createActivities, emailQuotaFor } from '../../src/activities/index.js';
import type { EmailQuota } from '../../src/activities/send-email.js';
import { createResendTransport } from '../../src/activities/email-transport.js';
import { buildApp, type App, type AppDeps } from '../../src/api/app.js';
import type { RunResource } from '../../src/api/services/run-service.js';
import type { CreatedWorkflowResource } from '../../src/api/services/workflow-service.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { DbHandle } from '../../src/db/client.js';
import type { SecretResolver } from '../../src/secrets/resolver.js';
import { secretResolverFor } from '../../src/secrets/resolver.js';
import { connectTemporal } from '../../src/temporal/connection.js';
import { connectWorker, createHookflowWorker } from '../../src/temporal/worker.js';
import { startWorkerThread } from '../../src/temporal/worker-thread.js';
import { testEnv } from './config.js';
import { openMigratedDb, type TestDriver } from './database.js';
import { startFakeResend, type FakeResend } from './fake-resend.js';

/**
 * The whole product for one test file: the real app (driven by inject), a real worker on the shared Temporal dev
 * server (own task queue), a real database, and the fake Resend reached through the real SDK.
 */
export interface Stack {
  app: App;
  resend: FakeResend;
  client: Client;
  /** What the app was built from, to build another app on the same database (a restarted API). */
  config: Config;
  db: DbHandle;
  /** Registers a fresh user and returns its bearer header. */
  signUp(): Promise<{ authorization: string; userId: string }>;
  /** POST /v1/workflows as `authorization` with `definition` (name and steps); fails the test unless 201. */
  createWorkflow(authorization: string, definition: object): Promise<CreatedWorkflowResource>;
  /** GET /v1/runs/:id until the run is no longer running (`timeoutMs`, default 20 s); returns it. */
  runToEnd(authorization: string, runId: string, timeoutMs?: number): Promise<RunResource>;
  /** POST /hooks/:token with a JSON `body`, as a webhook sender would; fails the test unless 202; the run id. */
  deliver(webhookToken: string, body: unknown): Promise<string>;
  close(): Promise<void>;
}

export async function startStack(
  options: {
    driver?: TestDriver;
    env?: Record<string, string>;
    /** Outside vitest (the replay recorder): the server to use, and no prebuilt bundle. */
    temporalAddress?: string;
    /**
     * `thread`: the worker runs as npm start runs it, in a worker thread that asks this one for secrets and quotas
     * (and sends email through the SDK from there). Default `inline`: on the test's own event loop. `none`: no
     * worker (the test starts one with startInlineWorker when it wants the runs to proceed).
     */
    worker?: 'inline' | 'thread' | 'none';
  } = {},
): Promise<Stack> {
  const temporalAddress = options.temporalAddress ?? inject('temporalAddress');
  const resend = await startFakeResend();
  const env = testEnv({
    TEMPORAL_WORKFLOW_BUNDLE: options.temporalAddress ? undefined : inject('workflowBundlePath'),
    RESEND_API_KEY: 're_test_key',
    RESEND_BASE_URL: resend.url,
    PUBLIC_URL: 'http://hookflow.test',
    ...options.env,
  });
  const config = loadConfig(env);
  const db = await openMigratedDb(options.driver ?? 'postgres');
  // The production wiring: the data converter (payload encryption when the env sets keys) comes with the config.
  const { connection, client } = await connectTemporal({ ...config.temporal, address: temporalAddress });
  let stopWorker: () => Promise<void>;
  let startRun: AppDeps['temporal']['startRun'];
  if (options.worker === 'none') stopWorker = () => Promise.resolve();
  else if (options.worker === 'thread') {
    // As npm start wires it: the app's run starts go through the thread, eager onto its worker.
    const thread = await startThreadWorker(env, temporalAddress, config, db);
    stopWorker = () => thread.stop();
    startRun = (input, deadline) => thread.startRun(input, deadline);
  } else stopWorker = await startInlineWorker(config, temporalAddress, db);
  const app = await buildApp({ config, db, temporal: { connection, client, startRun } });

  return {
    app,
    resend,
    client,
    config,
    db,
    ...appSteps(app),
    async close() {
      await app.close();
      await stopWorker();
      await connection.close();
      await db.close();
      await resend.close();
    },
  };
}

/** What a test does through the app as a user would: sign up, create a workflow, wait for a run to end. */
export function appSteps(app: App): Pick<Stack, 'signUp' | 'createWorkflow' | 'runToEnd' | 'deliver'> {
  return {
    async signUp() {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/auth/register',
        payload: { email: `user-${randomUUID()}@example.com`, password: 'correct horse battery staple' },
      });
      if (response.statusCode !== 201) throw new Error(`sign-up failed: ${response.body}`);
      const body = response.json<{ user: { id: string }; token: string }>();
      return { authorization: `Bearer ${body.token}`, userId: body.user.id };
    },
    async createWorkflow(authorization, definition) {
      const created = await app.inject({
        method: 'POST',
        url: '/v1/workflows',
        headers: { authorization },
        payload: definition,
      });
      if (created.statusCode !== 201) throw new Error(`workflow not created: ${created.body}`);
      return created.json<CreatedWorkflowResource>();
    },
    async deliver(webhookToken, body) {
      const response = await app.inject({
        method: 'POST',
        url: `/hooks/${webhookToken}`,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
      if (response.statusCode !== 202)
        throw new Error(`webhook not accepted: ${response.statusCode} ${response.body}`);
      return response.json<{ runId: string }>().runId;
    },
    runToEnd(authorization, runId, timeoutMs) {
      return eventually(
        async () =>
          (await app.inject({ url: `/v1/runs/${runId}`, headers: { authorization } })).json<RunResource>(),
        (run) => run.status !== 'running',
        timeoutMs,
      );
    },
  };
}

/** A worker on this event loop, with its own connection; resolves to its stop function. */
export async function startInlineWorker(config: Config, temporalAddress: string, db: DbHandle) {
  const workerConnection = await connectWorker(temporalAddress, config.temporal.connection);
  const worker = await createHookflowWorker({
    connection: workerConnection,
    temporal: config.temporal,
    email: config.email,
    activities: createActivities({
      config,
      transport: createResendTransport(config.email),
      secrets: secretResolverFor(config, db),
      emailQuota: emailQuotaFor(config, db.db),
    }),
    shutdownGraceMs: 1000,
  });
  const running = worker.run();
  return async () => {
    worker.shutdown();
    await running;
    await workerConnection.close();
  };
}

/** npm start's worker: a worker thread built from `env`, its database calls answered from `db` here. */
async function startThreadWorker(
  env: Record<string, string | undefined>,
  temporalAddress: string,
  config: Config,
  db: DbHandle,
) {
  return startWorkerThread({
    // Tests end with runs still waiting in delays: a second is grace enough, as for the inline worker.
    data: { env: { ...env, SHUTDOWN_GRACE_MS: '1000' }, temporalAddress, runtimeLogLevel: config.logLevel },
    config,
    db,
  });
}

/** Polls `read` until `done` says so; fails with the last value seen. */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    value = await read();
  }
  return value;
}

/** For workers of tests without a database, which do not test the quota: every send is within it. */
export const noEmailQuota: EmailQuota = {
  limit: Number.MAX_SAFE_INTEGER,
  charge: () => Promise.resolve({ allowed: true, retryAfterSeconds: 0, remaining: Number.MAX_SAFE_INTEGER }),
};

/** For workers of tests without a database: an account store that holds no secrets. */
export const noStoredSecrets: SecretResolver = {
  resolveSecrets: (_ownerId, names) => Promise.resolve({ values: new Map(), missing: [...names] }),
};
