import { fileURLToPath } from 'node:url';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import type { PgliteDatabase } from 'drizzle-orm/pglite';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type { DbHandle } from './client.js';

/** drizzle-kit writes the SQL here (`npm run db:generate`); it is committed and never edited by hand. */
export const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** Brings the database to the latest schema. Safe to call from several processes at once. */
export async function migrateToLatest(handle: DbHandle): Promise<void> {
  await handle.withMigrationLock(async () => {
    if (handle.driver === 'postgres') {
      await migratePostgres(handle.db as unknown as PostgresJsDatabase, { migrationsFolder });
    } else {
      await migratePglite(handle.db as unknown as PgliteDatabase, { migrationsFolder });
    }
  });
}
