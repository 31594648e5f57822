import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readMigrationFiles, type MigrationMeta } from 'drizzle-orm/migrator';
import type { PgDialect, PgSession } from 'drizzle-orm/pg-core';
import { createWebhookCredentials } from '../secrets/webhook-credentials.js';
import type { SecretsKey } from '../secrets/crypto.js';
import type { Db, DbHandle } from './client.js';
import {
  convertPlaintextWebhookCredentials,
  countPlaintextWebhookCredentials,
} from './convert-webhook-credentials.js';

/** drizzle-kit writes the SQL here (`npm run db:generate`); it is committed and never edited by hand. */
export const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url));

/**
 * The first migration that needs plaintext webhook credentials converted in code before it: it refuses any that
 * remain, and the one after it drops their columns (src/db/convert-webhook-credentials.ts).
 */
const WEBHOOK_CONVERSION_BEFORE = '0008_plaintext_webhook_credentials_guard';

/** The SQLSTATE that migration 0008 raises while plaintext webhook credentials remain. */
const PLAINTEXT_REMAINS = 'HKF01';

export interface MigrationOutcome {
  /** Workflows whose webhook token and secret this call converted from plaintext. */
  convertedWebhooks: number;
  /**
   * Workflows still holding plaintext webhook credentials because no key was given to convert them. The database is
   * then left just before migration 0008 (the code of this version reads and writes only the new columns): call
   * again with the key.
   */
  pendingWebhookConversion: number;
}

/**
 * Brings the database to the latest schema. Safe to call from several processes at once. With `secretsKey`
 * (SECRETS_ENCRYPTION_KEY) it also converts webhook credentials stored in plaintext by versions before migration
 * 0007; without it, a database that still has some stops before 0008 and says how many (a fresh or already converted
 * one is migrated to the latest whatever the key).
 */
export async function migrateToLatest(
  handle: DbHandle,
  options: { secretsKey?: SecretsKey } = {},
): Promise<MigrationOutcome> {
  return handle.withMigrationLock(async () => {
    const migrations = readMigrationFiles({ migrationsFolder });
    await applyMigrations(handle.db, migrations.slice(0, journalIndex(WEBHOOK_CONVERSION_BEFORE)));
    const credentials = options.secretsKey && createWebhookCredentials(options.secretsKey);
    let convertedWebhooks = 0;
    // An older API process (a rolling deploy) can write a plaintext row between the conversion and 0008's lock: 0008
    // then rolls back everything it began, and another pass converts that row too.
    for (let attempt = 1; ; attempt++) {
      const pendingWebhookConversion = await countPlaintextWebhookCredentials(handle.db);
      if (pendingWebhookConversion > 0) {
        if (!credentials) return { convertedWebhooks, pendingWebhookConversion };
        convertedWebhooks += await convertPlaintextWebhookCredentials(handle.db, credentials);
      }
      try {
        await applyMigrations(handle.db, migrations);
        return { convertedWebhooks, pendingWebhookConversion: 0 };
      } catch (error) {
        if (attempt >= 3 || !hasCode(error, PLAINTEXT_REMAINS)) throw error;
      }
    }
  });
}

/**
 * Applies those of `migrations` (a prefix of the journal, or all of it) that the database has not had yet, in one
 * transaction, recording them in drizzle's journal table: exactly what drizzle's `migrate()` does for both drivers,
 * which offers no way to stop part-way (it reads the whole folder).
 */
async function applyMigrations(db: Db, migrations: MigrationMeta[]): Promise<void> {
  const { dialect, session } = db as unknown as { dialect: PgDialect; session: PgSession };
  await dialect.migrate(migrations, session, { migrationsFolder });
}

/** The position of migration `tag` in the journal (and in readMigrationFiles' list, which follows it). */
function journalIndex(tag: string): number {
  const journal = JSON.parse(readFileSync(`${migrationsFolder}/meta/_journal.json`, 'utf8')) as {
    entries: { tag: string }[];
  };
  const index = journal.entries.findIndex((entry) => entry.tag === tag);
  if (index < 0) throw new Error(`migration ${tag} is missing from ${migrationsFolder}`);
  return index;
}

/** True when `error` or an error in its cause chain (Drizzle wraps driver errors) has SQLSTATE `code`. */
function hasCode(error: unknown, code: string): boolean {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    if ((current as { code?: unknown }).code === code) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
