import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { createDb, type DbHandle } from '../../src/db/client.js';
import { migrateToLatest } from '../../src/db/migrate.js';

/** The server tests create their databases on; .ci/run sets it, the default fits a local trust-auth PostgreSQL. */
export const adminDatabaseUrl =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A brand-new, empty PostgreSQL database for one test file: no test shares rows with another. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `hookflow_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(adminDatabaseUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminDatabaseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const cleanup = postgres(adminDatabaseUrl, { max: 1, onnotice: () => {} });
      try {
        await cleanup.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await cleanup.end();
      }
    },
  };
}

export type TestDriver = 'postgres' | 'pglite';

/** A migrated database of either driver; close() also drops the PostgreSQL database. */
export async function openMigratedDb(driver: TestDriver): Promise<DbHandle & { url?: string }> {
  if (driver === 'pglite') {
    const handle = await createDb({
      db: { url: undefined, pgliteDataDir: 'memory://', migrateOnStart: true },
    });
    await migrateToLatest(handle);
    return handle;
  }
  const database = await createTestDatabase();
  const handle = await createDb({ db: { url: database.url, pgliteDataDir: '', migrateOnStart: true } });
  await migrateToLatest(handle);
  return {
    ...handle,
    url: database.url,
    async close() {
      await handle.close();
      await database.drop();
    },
  };
}
