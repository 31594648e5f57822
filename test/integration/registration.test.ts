import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { eq, sql } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { buildApp, type App } from '../../src/api/app.js';
import { createDb } from '../../src/db/client.js';
import { migrateToLatest, migrationsFolder } from '../../src/db/migrate.js';
import { createUserRepo } from '../../src/db/repos/user-repo.js';
import { invitations, users } from '../../src/db/schema.js';
import { testConfig } from '../helpers/config.js';
import { createTestDatabase, openMigratedDb, type TestDriver } from '../helpers/database.js';

/*
 * REGISTRATION_MODE: first-user (the default: the first account is the owner, the others come by invitation), open,
 * closed. Every test builds its own app on its own empty database, since "the first account" is what is tested.
 */

const PASSWORD = 'correct horse battery staple';
/** One secret for every app here, so that a token from one app works on another built on the same database. */
const JWT_SECRET = randomBytes(32).toString('hex');
type Db = Awaited<ReturnType<typeof openMigratedDb>>;

let connection: Connection;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
});
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await connection?.close();
});

/** An app in `mode` (undefined: the default) on a fresh database of `driver`, or on `db` when given. */
async function appIn(mode: string | undefined, options: { driver?: TestDriver; db?: Db } = {}) {
  const db = options.db ?? (await openMigratedDb(options.driver ?? 'pglite'));
  if (!options.db) cleanups.push(() => db.close());
  const app = await buildApp({
    config: testConfig({ REGISTRATION_MODE: mode, JWT_SECRET }),
    db,
    temporal: { connection, client: new Client({ connection }) },
  });
  cleanups.push(() => app.close());
  return { app, db, ...client(app) };
}

function client(app: App) {
  const invite = (token?: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/invitations',
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
  return {
    register: (body: Record<string, unknown>) =>
      app.inject({ method: 'POST', url: '/v1/auth/register', payload: { password: PASSWORD, ...body } }),
    invite,
    /** An invitation token from the owner whose access token this is. */
    invitation: async (ownerToken: string): Promise<string> => {
      const response = await invite(ownerToken);
      expect(response.statusCode, response.body).toBe(201);
      return response.json<{ token: string }>().token;
    },
  };
}

const newEmail = () => `user-${randomUUID()}@example.com`;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function expectError(response: LightMyRequestResponse, status: number, code: string) {
  expect(response.statusCode, response.body).toBe(status);
  const body = response.json<{
    error: { code: string; message: string; details: unknown[] };
    requestId: string;
  }>();
  expect(body.error.code).toBe(code);
  expect(body.requestId).toBe(response.headers['x-request-id']);
  return body.error;
}

function expectCreated(response: LightMyRequestResponse) {
  expect(response.statusCode, response.body).toBe(201);
  return response.json<{ user: { id: string; email: string }; token: string }>();
}

async function roles(db: Db) {
  return db.db.select({ email: users.email, role: users.role }).from(users).orderBy(users.createdAt);
}

describe.each<TestDriver>(['postgres', 'pglite'])(
  'REGISTRATION_MODE=first-user (the default) on %s',
  (driver) => {
    it('lets the first account in as the owner and asks every later one for an invitation', async () => {
      const { db, register } = await appIn(undefined, { driver });
      const owner = expectCreated(await register({ email: 'owner@example.com' }));
      expect(owner.user.email).toBe('owner@example.com');

      const refused = expectError(await register({ email: newEmail() }), 403, 'INVITATION_REQUIRED');
      expect(refused.message).toContain('POST /v1/invitations');
      expect(refused.message).toContain('"invitation"');
      // Answered before the email is looked at: an existing email gets the same answer, not 409.
      expectError(await register({ email: 'owner@example.com' }), 403, 'INVITATION_REQUIRED');
      expect(await roles(db)).toEqual([{ email: 'owner@example.com', role: 'owner' }]);
    });

    it('signs up exactly one account per invitation, which the owner alone creates and which is stored hashed', async () => {
      const { db, register, invite } = await appIn('first-user', { driver });
      const owner = expectCreated(await register({ email: newEmail() }));

      const created = await invite(owner.token);
      expect(created.statusCode, created.body).toBe(201);
      const invitation = created.json<{ token: string; expiresAt: string }>();
      // 256 random bits, base64url, with a prefix that says what it is.
      expect(invitation.token).toMatch(/^inv_[A-Za-z0-9_-]{43}$/);
      const daysLeft = (Date.parse(invitation.expiresAt) - Date.now()) / 86_400_000;
      expect(daysLeft).toBeGreaterThan(6.99);
      expect(daysLeft).toBeLessThanOrEqual(7);
      // The database holds the SHA-256 only: nothing in the row is, or contains, the token.
      const rows = await db.db.select().from(invitations);
      expect(rows.map((row) => row.tokenHash)).toEqual([sha256(invitation.token)]);
      expect(JSON.stringify(rows)).not.toContain(invitation.token.slice(4));

      const memberEmail = newEmail();
      const member = expectCreated(await register({ email: memberEmail, invitation: invitation.token }));
      const used = expectError(
        await register({ email: newEmail(), invitation: invitation.token }),
        403,
        'INVITATION_INVALID',
      );
      expect(used.message).toContain('already been used');
      expect(used.message).toContain('POST /v1/invitations');

      const unknown = expectError(
        await register({ email: newEmail(), invitation: `inv_${'A'.repeat(43)}` }),
        403,
        'INVITATION_INVALID',
      );
      expect(unknown.message).toContain('not known');

      // Only the owner invites: a member gets 403, an anonymous caller 401.
      expect(expectError(await invite(member.token), 403, 'OWNER_REQUIRED').message).toContain('owner');
      expectError(await invite(), 401, 'UNAUTHORIZED');

      expect((await roles(db)).map((row) => row.role)).toEqual(['owner', 'member']);
      const [redeemed] = await db.db.select().from(invitations);
      expect(redeemed?.usedBy).toBe(member.user.id);
    });

    it('refuses an expired invitation, saying so', async () => {
      const { db, register, invitation } = await appIn('first-user', { driver });
      const owner = expectCreated(await register({ email: newEmail() }));
      const token = await invitation(owner.token);
      await db.db
        .update(invitations)
        .set({ expiresAt: sql`now() - interval '1 minute'` })
        .where(eq(invitations.tokenHash, sha256(token)));

      const expired = expectError(
        await register({ email: newEmail(), invitation: token }),
        403,
        'INVITATION_INVALID',
      );
      expect(expired.message).toContain('expired');
      expect(expired.message).toContain('7 days');
    });

    it('keeps an invitation whose sign-up failed (email taken, weak password) for the next try', async () => {
      const { register, invitation } = await appIn('first-user', { driver });
      const ownerEmail = newEmail();
      const owner = expectCreated(await register({ email: ownerEmail }));
      const token = await invitation(owner.token);

      expectError(await register({ email: ownerEmail, invitation: token }), 409, 'EMAIL_TAKEN');
      expectError(
        await register({ email: newEmail(), invitation: token, password: 'short' }),
        400,
        'WEAK_PASSWORD',
      );
      expectCreated(await register({ email: newEmail(), invitation: token }));
      expectError(await register({ email: newEmail(), invitation: token }), 403, 'INVITATION_INVALID');
    });
  },
);

describe('REGISTRATION_MODE=first-user under concurrency (PostgreSQL)', () => {
  it('makes exactly one owner of concurrent first sign-ups; the others are asked for an invitation', async () => {
    const { db, register } = await appIn('first-user', { driver: 'postgres' });
    const answers = await Promise.all(Array.from({ length: 8 }, () => register({ email: newEmail() })));
    const statuses = answers.map((answer) => answer.statusCode);
    expect(
      statuses.filter((status) => status === 201),
      statuses.join(),
    ).toHaveLength(1);
    for (const answer of answers.filter((a) => a.statusCode !== 201)) {
      expectError(answer, 403, 'INVITATION_REQUIRED');
    }
    expect((await roles(db)).map((row) => row.role)).toEqual(['owner']);
  });

  it('makes one owner of concurrent createOwner calls that all found the table empty', async () => {
    const db = await openMigratedDb('postgres');
    cleanups.push(() => db.close());
    const repo = createUserRepo(db.db);
    const created = await Promise.all(
      Array.from({ length: 10 }, () => repo.createOwner({ email: newEmail(), passwordHash: 'x' })),
    );
    expect(created.filter((user) => user !== undefined).map((user) => user.role)).toEqual(['owner']);
    expect(await roles(db)).toHaveLength(1);
  });

  it('refuses a second owner in the database itself, whatever the code does', async () => {
    const { db, register } = await appIn('first-user', { driver: 'postgres' });
    expectCreated(await register({ email: newEmail() }));
    await expect(
      db.db.insert(users).values({ email: newEmail(), passwordHash: 'x', role: 'owner' }),
    ).rejects.toMatchObject({ cause: { constraint_name: 'users_single_owner_idx' } });
  });

  it('creates one account from concurrent sign-ups with the same invitation', async () => {
    const { db, register, invitation } = await appIn('first-user', { driver: 'postgres' });
    const owner = expectCreated(await register({ email: newEmail() }));
    const token = await invitation(owner.token);
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => register({ email: newEmail(), invitation: token })),
    );
    expect(answers.filter((answer) => answer.statusCode === 201)).toHaveLength(1);
    for (const answer of answers.filter((a) => a.statusCode !== 201)) {
      expect(expectError(answer, 403, 'INVITATION_INVALID').message).toContain('already been used');
    }
    expect(await roles(db)).toHaveLength(2);
  });
});

describe('REGISTRATION_MODE=open', () => {
  it('lets anyone sign up without an invitation (ignoring one if sent); the first account is still the owner', async () => {
    const { db, register } = await appIn('open');
    expectCreated(await register({ email: 'first@example.com' }));
    expectCreated(await register({ email: 'second@example.com' }));
    expectCreated(await register({ email: 'third@example.com', invitation: 'not-an-invitation' }));
    expect(await roles(db)).toEqual([
      { email: 'first@example.com', role: 'owner' },
      { email: 'second@example.com', role: 'member' },
      { email: 'third@example.com', role: 'member' },
    ]);
  });
});

describe('REGISTRATION_MODE=closed', () => {
  it('refuses every sign-up, the first one too, with 403 REGISTRATION_CLOSED', async () => {
    const { db, register } = await appIn('closed');
    const first = expectError(await register({ email: newEmail() }), 403, 'REGISTRATION_CLOSED');
    expect(first.message).toContain('closed');
    expect(first.message).toContain('operator');
    expectError(await register({ email: newEmail(), invitation: 'inv_x' }), 403, 'REGISTRATION_CLOSED');
    expect(await roles(db)).toEqual([]);
  });

  it('tells the owner that an invitation would be useless while registration is closed', async () => {
    const opened = await appIn('first-user');
    const owner = expectCreated(await opened.register({ email: newEmail() }));
    const closed = await appIn('closed', { db: opened.db });
    const refused = expectError(await closed.invite(owner.token), 409, 'REGISTRATION_CLOSED');
    expect(refused.message).toContain('REGISTRATION_MODE=first-user');
  });
});

describe('upgrading a database from before accounts had roles', () => {
  it('makes its oldest account the owner, so that someone can invite rather than the next stranger', async () => {
    // The migrations as they were before roles: the journal cut after 0002.
    const before = mkdtempSync(join(tmpdir(), 'hookflow-migrations-'));
    cpSync(migrationsFolder, before, { recursive: true });
    const journalPath = join(before, 'meta', '_journal.json');
    const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
    journal.entries = journal.entries.slice(
      0,
      journal.entries.findIndex((e) => e.tag === '0002_schedules') + 1,
    );
    writeFileSync(journalPath, JSON.stringify(journal));

    const database = await createTestDatabase();
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    const db = await createDb({ db: { url: database.url, pgliteDataDir: '', migrateOnStart: true } });
    cleanups.push(() => db.close().then(() => database.drop()));
    try {
      await migrate(drizzle(sql), { migrationsFolder: before });
      await sql`insert into users (email, password_hash, created_at) values
        ('second@example.com', 'x', now() - interval '1 day'), ('first@example.com', 'x', now() - interval '2 days')`;
      await migrateToLatest(db);
      expect(await roles(db)).toEqual([
        { email: 'first@example.com', role: 'owner' },
        { email: 'second@example.com', role: 'member' },
      ]);
      const { register } = await appIn('first-user', { db });
      expectError(await register({ email: newEmail() }), 403, 'INVITATION_REQUIRED');
    } finally {
      await sql.end();
      rmSync(before, { recursive: true, force: true });
    }
  });
});
