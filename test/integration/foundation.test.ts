import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createActivities } from '../../src/activities/index.js';
import { createConsoleTransport } from '../../src/activities/email-transport.js';
import { buildApp } from '../../src/api/app.js';
import { createDb } from '../../src/db/client.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { connectWorker, createHookflowWorker } from '../../src/temporal/worker.js';
import { HOOKFLOW_OWNER_ID, HOOKFLOW_WORKFLOW_ID } from '../../src/temporal/search-attributes.js';
import type { RunProgress, RunStepsInput } from '../../src/workflows/types.js';
import { RUN_STEPS_WORKFLOW_TYPE } from '../../src/workflows/names.js';
import { testConfig } from '../helpers/config.js';
import { createTestDatabase, openMigratedDb, type TestDriver } from '../helpers/database.js';
import { noEmailQuota, noStoredSecrets } from '../helpers/stack.js';

const temporalAddress = inject('temporalAddress');

describe.each<TestDriver>(['postgres', 'pglite'])('database and readiness on %s', (driver) => {
  let db: Awaited<ReturnType<typeof openMigratedDb>>;
  let connection: Connection;

  beforeAll(async () => {
    db = await openMigratedDb(driver);
    connection = await Connection.connect({ address: temporalAddress });
  });
  afterAll(async () => {
    await connection?.close();
    await db?.close();
  });

  it('migrates to a schema with users, workflows and their versions', async () => {
    const [user] = await db.db
      .insert((await import('../../src/db/schema.js')).users)
      .values({ email: `someone-${randomUUID()}@example.com`, passwordHash: 'x' })
      .returning();
    expect(user?.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers /healthz and a ready /readyz when PostgreSQL and Temporal answer', async () => {
    const app = await buildApp({
      config: testConfig(),
      db,
      temporal: { connection, client: new Client({ connection }) },
    });
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({
      ready: true,
      checks: { postgres: { ok: true }, temporal: { ok: true } },
    });
    await app.close();
  });

  it('answers 503 from /readyz, naming Temporal but not why, when Temporal cannot be reached', async () => {
    const unreachable = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 });
    const app = await buildApp({
      config: testConfig(),
      db,
      temporal: { connection: unreachable, client: new Client({ connection: unreachable }) },
    });
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.headers['retry-after']).toBeDefined();
    // Anonymous callers learn up or down per dependency, not the failure's text (addresses, driver messages).
    expect(ready.json()).toEqual({
      ready: false,
      checks: {
        postgres: { ok: true, latencyMs: expect.any(Number) as number },
        temporal: { ok: false, latencyMs: expect.any(Number) as number },
      },
    });
    expect(ready.body).not.toContain('127.0.0.1');
    await app.close();
  });
});

describe('migrations on PostgreSQL', () => {
  it('are safe when two processes start at once', async () => {
    const database = await createTestDatabase();
    const config = { db: { url: database.url, pgliteDataDir: '', migrateOnStart: true } };
    const [a, b] = await Promise.all([createDb(config), createDb(config)]);
    try {
      await Promise.all([migrateToLatest(a), migrateToLatest(b), migrateToLatest(a)]);
      const sql = postgres(database.url, { max: 1 });
      const tables = await sql<{ table_name: string }[]>`
        select table_name from information_schema.tables where table_schema = 'public' order by table_name`;
      await sql.end();
      expect(tables.map((row) => row.table_name)).toEqual([
        'invitations',
        'login_backoff',
        'rate_limits',
        'secrets',
        'users',
        'workflow_versions',
        'workflows',
      ]);
    } finally {
      await a.close();
      await b.close();
      await database.drop();
    }
  });
});

describe('the interpreter workflow on a real worker', () => {
  it('runs a delay and an email step end to end and records each step', async () => {
    const config = testConfig({ TEMPORAL_WORKFLOW_BUNDLE: inject('workflowBundlePath') });
    const printed: string[] = [];
    const activities = createActivities({
      config,
      transport: createConsoleTransport((text) => printed.push(text)),
      secrets: noStoredSecrets,
      emailQuota: noEmailQuota,
    });
    const workerConnection = await connectWorker(temporalAddress);
    const worker = await createHookflowWorker({
      connection: workerConnection,
      temporal: config.temporal,
      email: config.email,
      activities,
    });
    const connection = await Connection.connect({ address: temporalAddress });
    const client = new Client({ connection });
    const runId = `run_${randomUUID()}`;
    const input: RunStepsInput = {
      run: { id: runId, ownerId: randomUUID() },
      definition: {
        workflowId: randomUUID(),
        version: 1,
        name: 'Foundation',
        steps: [
          { id: 'pause', type: 'delay', params: { duration: '1s' } },
          {
            id: 'hello',
            type: 'email',
            params: {
              to: '{{trigger.body.email}}',
              subject: 'Hi {{trigger.body.name}}',
              text: 'Hello from {{workflow.name}}',
            },
          },
        ],
      },
      trigger: {
        type: 'manual',
        receivedAt: new Date().toISOString(),
        body: { email: 'ada@example.com', name: 'Ada' },
        query: {},
        headers: {},
      },
    };
    try {
      const result = await worker.runUntil(
        client.workflow.execute(RUN_STEPS_WORKFLOW_TYPE, {
          taskQueue: config.temporal.taskQueue,
          workflowId: runId,
          args: [input],
          typedSearchAttributes: [
            { key: HOOKFLOW_WORKFLOW_ID, value: input.definition.workflowId },
            { key: HOOKFLOW_OWNER_ID, value: input.run.ownerId },
          ],
        }) as Promise<RunProgress>,
      );
      expect(result.steps.map((s) => [s.id, s.status])).toEqual([
        ['pause', 'completed'],
        ['hello', 'completed'],
      ]);
      expect(result.steps[1]?.attempts).toBe(1);
      expect(printed.join('')).toContain('To: ada@example.com');
      expect(printed.join('')).toContain('Subject: Hi Ada');
      expect(printed.join('')).toContain('Hello from Foundation');
      expect(printed.join('')).toContain(`Idempotency-Key: ${runId}/hello`);
    } finally {
      await connection.close();
      await workerConnection.close();
    }
  });
});
