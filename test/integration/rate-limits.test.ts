import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { buildApp, type App } from '../../src/api/app.js';
import { createRateLimiter, deleteExpiredRateLimits } from '../../src/limits/rate-limiter.js';
import { createDb, type DbHandle } from '../../src/db/client.js';
import { rateLimits } from '../../src/db/schema.js';
import { testConfig } from '../helpers/config.js';
import { openMigratedDb, type TestDriver } from '../helpers/database.js';

/*
 * Rate limits are counted in the database, so they hold across API replicas: two apps on one PostgreSQL database
 * (two "replicas") share every limit, where each used to count alone (N replicas = N × the limit).
 */

const PASSWORD = 'correct horse battery staple';
const JWT_SECRET = randomBytes(32).toString('hex');
const SECRETS_KEY = randomBytes(32).toString('base64');

let connection: Connection;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
});
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await connection?.close();
});
afterEach(() => {
  vi.useRealTimers();
});

async function migrated(driver: TestDriver) {
  const db = await openMigratedDb(driver);
  cleanups.push(() => db.close());
  return db;
}

/** Two API replicas on one PostgreSQL database (each with its own connection pool), configured alike by `env`. */
async function twoReplicas(env: Record<string, string>): Promise<[App, App]> {
  const first = await migrated('postgres');
  const second = await createDb({ db: { url: first.url, pgliteDataDir: '', migrateOnStart: false } });
  cleanups.push(() => second.close());
  const config = testConfig({
    JWT_SECRET,
    SECRETS_ENCRYPTION_KEY: SECRETS_KEY,
    REGISTRATION_MODE: 'open',
    ...env,
  });
  const apps = await Promise.all(
    [first, second].map((db) =>
      buildApp({ config, db, temporal: { connection, client: new Client({ connection }) } }),
    ),
  );
  for (const app of apps) cleanups.push(() => app.close());
  return apps as [App, App];
}

const register = (app: App, email: string) =>
  app.inject({ method: 'POST', url: '/v1/auth/register', payload: { email, password: PASSWORD } });

describe('rate limits across API replicas', () => {
  it('registration: two replicas together allow the per-IP limit once, not once each', async () => {
    const replicas = await twoReplicas({ REGISTER_RATE_LIMIT_PER_MINUTE: '3' });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await register(replicas[i % 2]!, `user${i}@example.com`)).statusCode);
    }
    expect(statuses).toEqual([201, 201, 201, 429, 429, 429]);
    const refused = await register(replicas[0], 'late@example.com');
    expect(refused.headers['retry-after']).toMatch(/^\d+$/);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(refused.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
  });

  it('sign-in per IP, webhook deliveries and manual runs are shared limits too', async () => {
    const replicas = await twoReplicas({
      LOGIN_RATE_LIMIT_PER_MINUTE: '4',
      WEBHOOK_RATE_LIMIT_PER_MINUTE: '4',
      MANUAL_RUNS_PER_MINUTE: '2',
    });
    const { token } = (await register(replicas[0], 'owner@example.com')).json<{ token: string }>();
    const authorization = `Bearer ${token}`;

    const logins: number[] = [];
    for (let i = 0; i < 6; i++) {
      const answer = await replicas[i % 2]!.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email: 'owner@example.com', password: PASSWORD },
      });
      logins.push(answer.statusCode);
    }
    expect(logins).toEqual([200, 200, 200, 200, 429, 429]);

    const created = await replicas[1].inject({
      method: 'POST',
      url: '/v1/workflows',
      headers: { authorization },
      payload: {
        name: 'limited',
        steps: [{ id: 'wait', type: 'delay', params: { duration: '1h' } }],
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const workflow = created.json<{ id: string; webhook: { url: string } }>();
    const hookPath = new URL(workflow.webhook.url).pathname;
    const deliveries: number[] = [];
    for (let i = 0; i < 6; i++) {
      const answer = await replicas[i % 2]!.inject({ method: 'POST', url: hookPath, payload: { i } });
      deliveries.push(answer.statusCode);
    }
    expect(deliveries).toEqual([202, 202, 202, 202, 429, 429]);

    const manual: number[] = [];
    for (let i = 0; i < 4; i++) {
      const answer = await replicas[i % 2]!.inject({
        method: 'POST',
        url: `/v1/workflows/${workflow.id}/runs`,
        headers: { authorization },
        payload: {},
      });
      manual.push(answer.statusCode);
    }
    expect(manual).toEqual([202, 202, 429, 429]);
  });
});

describe('the sign-in backoff across API replicas', () => {
  it('a client that failed on one replica waits on the others too', async () => {
    const replicas = await twoReplicas({});
    await register(replicas[0], 'victim@example.com');
    const signIn = (app: App, password: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        remoteAddress: '198.51.100.23',
        payload: { email: 'victim@example.com', password },
      });
    expect((await signIn(replicas[0], 'guess one')).statusCode).toBe(401);
    expect((await signIn(replicas[1], 'guess two')).statusCode).toBe(429);
    // Even the right password: during the wait this client's answer does not depend on what it sent.
    const refused = await signIn(replicas[1], PASSWORD);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
  });
});

describe.each(['pglite', 'postgres'] as const)('the database-backed limiter (%s)', (driver) => {
  it('allows `limit` hits per key and window, refuses with the wait rounded up, and starts afresh after', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const db = await migrated(driver);
    const limiter = createRateLimiter({ db: db.db, name: 'test', limit: 2, windowMs: 60_000 });
    expect(await limiter.hit('a')).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 1 });
    expect(await limiter.hit('a')).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 0 });
    expect(await limiter.hit('a')).toEqual({ allowed: false, retryAfterSeconds: 60, remaining: 0 });
    // Another key and another limit's same key have counters of their own.
    expect((await limiter.hit('b')).allowed).toBe(true);
    const other = createRateLimiter({ db: db.db, name: 'other', limit: 1, windowMs: 60_000 });
    expect((await other.hit('a')).allowed).toBe(true);

    vi.advanceTimersByTime(59_500);
    expect(await limiter.hit('a')).toEqual({ allowed: false, retryAfterSeconds: 1, remaining: 0 });
    vi.advanceTimersByTime(501);
    expect(await limiter.hit('a')).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 1 });
  });

  it('deletes the counters of ended windows and keeps the live ones', async () => {
    const db = await migrated(driver);
    const limiter = createRateLimiter({ db: db.db, name: 'cleanup', limit: 5, windowMs: 60_000 });
    await limiter.hit('live');
    await db.db
      .insert(rateLimits)
      .values({ key: 'cleanup:ended', points: 3, expire: new Date(Date.now() - 1) });
    await deleteExpiredRateLimits(db.db);
    expect((await db.db.select().from(rateLimits)).map((row) => row.key)).toEqual(['cleanup:live']);
  });
});

it('while the database cannot be reached, each process still enforces the limit on its own', async () => {
  const db: DbHandle = await openMigratedDb('postgres');
  const limiter = createRateLimiter({ db: db.db, name: 'outage', limit: 2, windowMs: 60_000 });
  await db.close(); // also drops the database: every query now fails
  const answers = [await limiter.hit('k'), await limiter.hit('k'), await limiter.hit('k')];
  expect(answers.map((answer) => answer.allowed)).toEqual([true, true, false]);
});
