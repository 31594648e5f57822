import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { accessSync, constants, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import argon2 from 'argon2';
import { sql, type SQL } from 'drizzle-orm';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import type { PgliteDatabase } from 'drizzle-orm/pglite';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.js';
import type { CreatedWorkflowResource, WorkflowResource } from '../../src/api/services/workflow-service.js';
import { createDb, type DbHandle } from '../../src/db/client.js';
import { migrateToLatest, migrationsFolder } from '../../src/db/migrate.js';
import { testConfig } from '../helpers/config.js';
import { createTestDatabase, openMigratedDb, type TestDriver } from '../helpers/database.js';
import { findPostgresBinDir } from '../helpers/private-postgres.js';

/*
 * Webhook tokens and signing secrets at rest (issue 11): a dump of the database reveals neither (only keyed hashes
 * and ciphertexts under SECRETS_ENCRYPTION_KEY are stored), webhooks keep working, current and previous pair alike,
 * databases from before the change are converted on start without breaking a URL, and a ciphertext copied to
 * another workflow's row does not decrypt. Runs start on a task queue no worker polls (a one-hour delay step).
 */

const SECRETS_ENCRYPTION_KEY = randomBytes(32).toString('base64');
const config = () => testConfig({ SECRETS_ENCRYPTION_KEY });
const secretsKey = config().secrets.encryptionKey!;
const PASSWORD = 'at rest passphrase';

let connection: Connection;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  connection = await Connection.connect({ address: inject('temporalAddress') });
});
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await connection?.close();
});

async function appOn(db: DbHandle): Promise<App> {
  const app = await buildApp({ config: config(), db, temporal: { client: new Client({ connection }) } });
  cleanups.push(() => app.close());
  return app;
}

async function openDb(driver: TestDriver): Promise<DbHandle & { url?: string }> {
  const db = await openMigratedDb(driver);
  cleanups.push(() => db.close());
  return db;
}

async function signIn(app: App, email: string, register: boolean): Promise<string> {
  const response = await app.inject({
    method: 'POST',
    url: register ? '/v1/auth/register' : '/v1/auth/login',
    payload: { email, password: PASSWORD },
  });
  expect(response.statusCode, response.body).toBe(register ? 201 : 200);
  return `Bearer ${response.json<{ token: string }>().token}`;
}

type Created = CreatedWorkflowResource & { signingSecret: string };

async function createWorkflow(app: App, authorization: string, signing = 'standard-webhooks') {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/workflows',
    headers: { authorization },
    payload: {
      name: 'At rest',
      webhook: { signing },
      steps: [{ id: 'wait', type: 'delay', params: { duration: '1h' } }],
    },
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<Created>();
}

async function rotate(app: App, authorization: string, id: string) {
  const response = await app.inject({
    method: 'POST',
    url: `/v1/workflows/${id}/webhook/rotate`,
    headers: { authorization },
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<Created>();
}

const body = '{"email":"at-rest@example.com"}';

/** Standard Webhooks signing done here, independently of the code under test. */
function signedBy(secret: string): Record<string, string> {
  const id = `msg_${randomUUID()}`;
  const timestamp = Math.floor(Date.now() / 1000);
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` };
}

async function deliver(app: App, token: string, headers: Record<string, string> = {}) {
  const response = await app.inject({
    method: 'POST',
    url: `/hooks/${token}`,
    headers: { 'content-type': 'application/json', ...headers },
    payload: body,
  });
  return { status: response.statusCode, code: response.json<{ error?: { code: string } }>().error?.code };
}

/** Rows of a raw query on either driver (postgres.js answers an array, PGlite `{rows}`). */
async function rows<T>(db: DbHandle, query: SQL): Promise<T[]> {
  const result: unknown = await db.db.execute(query);
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/**
 * Every row of every table (Hookflow's and drizzle's journal) rendered as PostgreSQL's text of the whole row: what
 * `select *` dumps show, bytea as hex.
 */
async function dumpRows(db: DbHandle): Promise<string> {
  const tables = await rows<{ table_schema: string; table_name: string }>(
    db,
    sql`select table_schema, table_name from information_schema.tables
        where table_schema in ('public', 'drizzle') and table_type = 'BASE TABLE' order by 1, 2`,
  );
  expect(tables.map((table) => table.table_name)).toContain('workflows');
  const lines: string[] = [];
  for (const { table_schema: schema, table_name: table } of tables) {
    const dumped = await rows<{ row: string }>(
      db,
      sql`select t::text as row from ${sql.identifier(schema)}.${sql.identifier(table)} t`,
    );
    lines.push(`-- ${schema}.${table}`, ...dumped.map((line) => line.row));
  }
  return lines.join('\n');
}

/**
 * What must not appear in a dump for `values` (tokens and `whsec_` secrets): each value, the random part after its
 * prefix, and both as hex (a bytea column holding them in the clear prints that way), and a secret's key bytes.
 */
function needles(...values: string[]): string[] {
  return values.flatMap((value) => {
    const random = value.replace(/^(whk_|whsec_)/, '');
    const found = [value, random, Buffer.from(value).toString('hex'), Buffer.from(random).toString('hex')];
    if (value.startsWith('whsec_')) found.push(Buffer.from(random, 'base64').toString('hex'));
    return found;
  });
}

function expectNoneIn(dump: string, values: string[]) {
  for (const needle of needles(...values))
    expect(dump.includes(needle), `dump contains ${needle}`).toBe(false);
}

/** pg_dump beside the server programs the fault tests use, or on PATH; undefined when there is none. */
function findPgDump(): string | undefined {
  const candidates = [];
  try {
    candidates.push(join(findPostgresBinDir(), 'pg_dump'));
  } catch {
    // no server programs: PATH only
  }
  candidates.push(...(process.env.PATH ?? '').split(':').map((dir) => join(dir, 'pg_dump')));
  return candidates.find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
const pgDump = findPgDump();

describe.each<TestDriver>(['postgres', 'pglite'])('on %s', (driver) => {
  it('stores no webhook token or signing secret, current or previous, that a dump would show; webhooks work as before', async () => {
    const db = await openDb(driver);
    const app = await appOn(db);
    const authorization = await signIn(app, 'dump@example.com', true);
    const created = await createWorkflow(app, authorization);
    const rotated = await rotate(app, authorization, created.id);
    expect(rotated.webhook.previousTokenValidUntil).toEqual(expect.any(String));
    const values = [
      created.webhook.token,
      created.signingSecret,
      rotated.webhook.token,
      rotated.signingSecret,
    ];

    const dump = await dumpRows(db);
    expect(dump).toContain(created.id); // the workflow's row is in it
    expectNoneIn(dump, values);
    if (driver === 'postgres' && pgDump) {
      const full = execFileSync(pgDump, ['--no-owner', db.url!], { encoding: 'utf8', maxBuffer: 64 << 20 });
      expect(full).toContain(created.id);
      expectNoneIn(full, values);
    }

    // The owner still sees the current URL (GET), and the secret only in the answers of create and rotate.
    const shown = await app.inject({ url: `/v1/workflows/${created.id}`, headers: { authorization } });
    expect(shown.json<WorkflowResource>().webhook).toMatchObject({
      token: rotated.webhook.token,
      url: `${config().http.publicUrl}/hooks/${rotated.webhook.token}`,
    });
    expect(shown.body).not.toContain(rotated.signingSecret);

    // Both pairs work inside the grace period, each with its own secret only.
    expect(await deliver(app, created.webhook.token, signedBy(created.signingSecret))).toEqual({
      status: 202,
    });
    expect(await deliver(app, rotated.webhook.token, signedBy(rotated.signingSecret))).toEqual({
      status: 202,
    });
    expect((await deliver(app, created.webhook.token, signedBy(rotated.signingSecret))).status).toBe(401);
    expect((await deliver(app, rotated.webhook.token, signedBy(created.signingSecret))).status).toBe(401);
    expect((await deliver(app, rotated.webhook.token, {})).status).toBe(401);
    expect((await deliver(app, `whk_${randomBytes(32).toString('base64url')}`)).status).toBe(404);
  });
});

describe('a ciphertext copied to another workflow', () => {
  it('does not decrypt there: the owner sees that workflow without its URL and why, the webhook answers 404, and rotating repairs it', async () => {
    const db = await openDb('postgres');
    const app = await appOn(db);
    const authorization = await signIn(app, 'copy@example.com', true);
    const a = await createWorkflow(app, authorization);
    const b = await createWorkflow(app, authorization);
    await db.db.execute(sql`
      update workflows set
        webhook_token_ciphertext = (select webhook_token_ciphertext from workflows where id = ${a.id}),
        webhook_secret_ciphertext = (select webhook_secret_ciphertext from workflows where id = ${a.id})
      where id = ${b.id}`);

    // One unreadable webhook is that workflow's problem: it is shown (without its URL, with what to do), and the
    // owner's list still holds every workflow, A with its URL as before.
    const single = await app.inject({ url: `/v1/workflows/${b.id}`, headers: { authorization } });
    const list = await app.inject({ url: '/v1/workflows', headers: { authorization } });
    for (const shown of [single, list]) expect(shown.statusCode, shown.body).toBe(200);
    const listed = list.json<{ items: WorkflowResource[] }>().items;
    expect(listed.map((workflow) => workflow.id).sort()).toEqual([a.id, b.id].sort());
    expect(listed.find((workflow) => workflow.id === a.id)?.webhook).toMatchObject({
      url: a.webhook.url,
      token: a.webhook.token,
    });
    for (const shownB of [single.json<WorkflowResource>(), listed.find((workflow) => workflow.id === b.id)]) {
      expect(shownB).toMatchObject({
        id: b.id,
        name: b.name,
        webhook: {
          url: null,
          token: null,
          signing: 'standard-webhooks',
          error: { code: 'WEBHOOK_CREDENTIALS_UNREADABLE' },
        },
      });
      expect(shownB?.webhook.error?.message).toContain(b.id);
      expect(shownB?.webhook.error?.message).toContain(`/v1/workflows/:id/webhook/rotate`);
      // Nothing decrypted with B's binding leaks into its view (A's token is shown in A's own item only).
      for (const revealed of needles(a.webhook.token, a.signingSecret, b.webhook.token, b.signingSecret)) {
        expect(JSON.stringify(shownB).includes(revealed)).toBe(false);
      }
    }
    for (const shown of [single, list]) {
      for (const revealed of needles(a.signingSecret, b.signingSecret)) {
        expect(shown.body.includes(revealed)).toBe(false);
      }
      expect(shown.body).not.toContain(SECRETS_ENCRYPTION_KEY);
    }
    // B's token is still found by its hash, but its secret does not decrypt: nothing can pass, A's secret included.
    for (const secret of [a.signingSecret, b.signingSecret]) {
      expect(await deliver(app, b.webhook.token, signedBy(secret))).toEqual({
        status: 404,
        code: 'WEBHOOK_NOT_FOUND',
      });
    }
    // A is untouched.
    expect(await deliver(app, a.webhook.token, signedBy(a.signingSecret))).toEqual({ status: 202 });
    expect((await app.inject({ url: `/v1/workflows/${a.id}`, headers: { authorization } })).statusCode).toBe(
      200,
    );

    // Rotating B issues a fresh pair without reading the broken one.
    const repaired = await rotate(app, authorization, b.id);
    expect(await deliver(app, repaired.webhook.token, signedBy(repaired.signingSecret))).toEqual({
      status: 202,
    });
    const afterRotation = await app.inject({ url: `/v1/workflows/${b.id}`, headers: { authorization } });
    expect(afterRotation.json<WorkflowResource>().webhook).toEqual({
      url: repaired.webhook.url,
      token: repaired.webhook.token,
      signing: 'standard-webhooks',
      previousTokenValidUntil: expect.any(String) as string,
    });
  });
});

/** A copy of the migrations folder whose journal ends before `tag`: the schema of an older Hookflow. */
function migrationsBefore(tag: string): string {
  const folder = mkdtempSync(join(tmpdir(), 'hookflow-migrations-'));
  cleanups.push(() => Promise.resolve(rmSync(folder, { recursive: true, force: true })));
  cpSync(migrationsFolder, folder, { recursive: true });
  const journalPath = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
  const index = journal.entries.findIndex((entry) => entry.tag === tag);
  expect(index).toBeGreaterThan(0);
  journal.entries = journal.entries.slice(0, index);
  writeFileSync(journalPath, JSON.stringify(journal));
  return folder;
}

async function migrateWithFolder(db: DbHandle, folder: string): Promise<void> {
  if (db.driver === 'postgres') {
    await migratePostgres(db.db as unknown as PostgresJsDatabase, { migrationsFolder: folder });
  } else {
    await migratePglite(db.db as unknown as PgliteDatabase, { migrationsFolder: folder });
  }
}

const newToken = () => `whk_${randomBytes(32).toString('base64url')}`;
const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/** A database as the build before encryption at rest left it: plaintext tokens and secrets, one pair in grace. */
async function legacyDatabase(driver: TestDriver) {
  let db: DbHandle & { url?: string };
  if (driver === 'pglite') {
    db = await createDb({ db: { url: undefined, pgliteDataDir: 'memory://', migrateOnStart: true } });
    cleanups.push(() => db.close());
  } else {
    const database = await createTestDatabase();
    const handle = await createDb({ db: { url: database.url, pgliteDataDir: '', migrateOnStart: true } });
    db = { ...handle, url: database.url };
    cleanups.push(() => handle.close().then(() => database.drop()));
  }
  await migrateWithFolder(db, migrationsBefore('0007_webhook_credentials_encrypted'));

  const email = `legacy-${randomUUID()}@example.com`;
  const userId = randomUUID();
  const signed = { id: randomUUID(), token: newToken(), secret: newSecret() };
  const previous = { token: newToken(), secret: newSecret() };
  const unsigned = { id: randomUUID(), token: newToken(), secret: newSecret() };
  await db.db.execute(sql`insert into users (id, email, password_hash, role)
    values (${userId}, ${email}, ${await argon2.hash(PASSWORD)}, 'owner')`);
  await db.db
    .execute(sql`insert into workflows (id, owner_id, current_version, webhook_token, webhook_signing,
      webhook_secret, previous_webhook_token, previous_webhook_secret, previous_webhook_expires_at)
    values (${signed.id}, ${userId}, 1, ${signed.token}, 'standard-webhooks', ${signed.secret},
      ${previous.token}, ${previous.secret}, now() + interval '1 day'),
      (${unsigned.id}, ${userId}, 1, ${unsigned.token}, 'none', ${unsigned.secret}, null, null, null)`);
  const steps = JSON.stringify([{ id: 'wait', type: 'delay', params: { duration: '1h' } }]);
  await db.db.execute(sql`insert into workflow_versions (workflow_id, version, name, steps)
    values (${signed.id}, 1, 'Signed before', ${steps}::jsonb), (${unsigned.id}, 1, 'Unsigned before', ${steps}::jsonb)`);
  return { db, email, signed, previous, unsigned };
}

/** The SQLSTATE of `error` or of an error in its cause chain (Drizzle wraps driver errors). */
function sqlStateOf(error: unknown): unknown {
  for (let current = error; current; current = (current as { cause?: unknown }).cause) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

const plaintextColumns = [
  'webhook_token',
  'webhook_secret',
  'previous_webhook_token',
  'previous_webhook_secret',
];
const workflowColumns = async (db: DbHandle) =>
  (
    await rows<{ column_name: string }>(
      db,
      sql`select column_name from information_schema.columns
          where table_schema = current_schema() and table_name = 'workflows'`,
    )
  ).map((column) => column.column_name);

describe.each<TestDriver>(['postgres', 'pglite'])(
  'upgrading a database with plaintext webhook credentials (%s)',
  (driver) => {
    it('converts them on start: old URLs and secrets keep working, and the plaintext is gone', async () => {
      const { db, email, signed, previous, unsigned } = await legacyDatabase(driver);
      const plaintext = [
        signed.token,
        signed.secret,
        previous.token,
        previous.secret,
        unsigned.token,
        unsigned.secret,
      ];

      // Without the key (npm start's first pass) nothing is converted and nothing is dropped.
      expect(await migrateToLatest(db)).toEqual({ convertedWebhooks: 0, pendingWebhookConversion: 2 });
      expect(await workflowColumns(db)).toEqual(expect.arrayContaining(plaintextColumns));
      expect(await dumpRows(db)).toContain(signed.token);

      // With it, as the API starts: converted once, even by two processes at once (PostgreSQL).
      const others =
        driver === 'postgres'
          ? [await createDb({ db: { url: db.url, pgliteDataDir: '', migrateOnStart: true } })]
          : [];
      try {
        const outcomes = await Promise.all(
          [db, ...others].map((handle) => migrateToLatest(handle, { secretsKey })),
        );
        expect(outcomes.map((outcome) => outcome.pendingWebhookConversion)).toEqual(outcomes.map(() => 0));
        expect(outcomes.reduce((sum, outcome) => sum + outcome.convertedWebhooks, 0)).toBe(2);
      } finally {
        for (const other of others) await other.close();
      }
      expect((await workflowColumns(db)).filter((column) => plaintextColumns.includes(column))).toEqual([]);
      expectNoneIn(await dumpRows(db), plaintext);
      expect(await migrateToLatest(db, { secretsKey })).toEqual({
        convertedWebhooks: 0,
        pendingWebhookConversion: 0,
      });

      const app = await appOn(db);
      const authorization = await signIn(app, email, false);
      const shown = await app.inject({ url: `/v1/workflows/${signed.id}`, headers: { authorization } });
      expect(shown.statusCode, shown.body).toBe(200);
      expect(shown.json<WorkflowResource>().webhook).toMatchObject({
        token: signed.token,
        url: `${config().http.publicUrl}/hooks/${signed.token}`,
        signing: 'standard-webhooks',
        previousTokenValidUntil: expect.any(String) as string,
      });

      // Every URL accepted before the upgrade still is, with the secret that went with it.
      expect(await deliver(app, signed.token, signedBy(signed.secret))).toEqual({ status: 202 });
      expect(await deliver(app, previous.token, signedBy(previous.secret))).toEqual({ status: 202 });
      expect(await deliver(app, unsigned.token)).toEqual({ status: 202 });
      expect((await deliver(app, signed.token, signedBy(previous.secret))).status).toBe(401);
      expect((await deliver(app, previous.token, signedBy(signed.secret))).status).toBe(401);

      // A rotation after the upgrade keeps the converted pair working through its grace.
      const rotated = await rotate(app, authorization, signed.id);
      expect(await deliver(app, rotated.webhook.token, signedBy(rotated.signingSecret))).toEqual({
        status: 202,
      });
      expect(await deliver(app, signed.token, signedBy(signed.secret))).toEqual({ status: 202 });
      expect((await deliver(app, previous.token, signedBy(previous.secret))).status).toBe(404);
    });

    it('refuses to drop plaintext columns that still hold credentials, whatever applies the migrations', async () => {
      const { db, signed } = await legacyDatabase(driver);
      // drizzle's own migrator, which knows nothing of the conversion, stops at migration 0008 and undoes its work.
      const refused = await migrateWithFolder(db, migrationsFolder).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(sqlStateOf(refused)).toBe('HKF01');
      expect(await workflowColumns(db)).toEqual(expect.arrayContaining(plaintextColumns));
      expect(await dumpRows(db)).toContain(signed.token);
    });
  },
);
