import { and, asc, eq, isNotNull, or, sql } from 'drizzle-orm';
import { pgSchema, pgTable, text, uuid } from 'drizzle-orm/pg-core';
import type { WebhookCredentials } from '../secrets/webhook-credentials.js';
import type { Db } from './client.js';
import { bytea } from './schema.js';

/*
 * Databases from before migration 0007 hold webhook tokens and signing secrets in plaintext. SQL cannot compute
 * their lookup hashes or ciphertexts (the key is not in the database), so this converts them in code, between
 * migration 0007 (which adds the new columns) and 0008/0009 (which refuse plaintext, then drop its columns):
 * src/db/migrate.ts runs it there, under the migration lock. Every token accepted before the upgrade keeps working:
 * the current pair, and the previous pair of a rotation still in its grace period.
 */

/** The workflows table as it is between migrations 0007 and 0009: both the plaintext and the new columns. */
const legacyWorkflows = pgTable('workflows', {
  id: uuid('id').primaryKey(),
  webhookToken: text('webhook_token'),
  webhookSecret: text('webhook_secret'),
  previousWebhookToken: text('previous_webhook_token'),
  previousWebhookSecret: text('previous_webhook_secret'),
  webhookTokenHash: text('webhook_token_hash'),
  webhookTokenCiphertext: bytea('webhook_token_ciphertext'),
  webhookSecretCiphertext: bytea('webhook_secret_ciphertext'),
  previousWebhookTokenHash: text('previous_webhook_token_hash'),
  previousWebhookSecretCiphertext: bytea('previous_webhook_secret_ciphertext'),
});

const columns = pgSchema('information_schema').table('columns', {
  tableSchema: text('table_schema'),
  tableName: text('table_name'),
  columnName: text('column_name'),
});

const holdsPlaintext = or(
  isNotNull(legacyWorkflows.webhookToken),
  isNotNull(legacyWorkflows.webhookSecret),
  isNotNull(legacyWorkflows.previousWebhookToken),
  isNotNull(legacyWorkflows.previousWebhookSecret),
);

/** Workflows whose webhook credentials are still in plaintext; 0 once migration 0009 dropped those columns. */
export async function countPlaintextWebhookCredentials(db: Db): Promise<number> {
  const [column] = await db
    .select({ name: columns.columnName })
    .from(columns)
    .where(
      and(
        eq(columns.tableSchema, sql`current_schema()`),
        eq(columns.tableName, 'workflows'),
        eq(columns.columnName, 'webhook_token'),
      ),
    );
  if (!column) return 0;
  return db.$count(legacyWorkflows, holdsPlaintext);
}

/**
 * Converts every workflow still holding plaintext webhook credentials, `batchSize` rows per transaction, and returns
 * how many it converted. Idempotent (a converted row holds no plaintext, so it is not selected again) and safe with
 * several processes at once: each batch locks its rows (FOR UPDATE), and a row another process converted meanwhile
 * no longer matches when its lock is granted. An older API process still running in a rolling deploy may write
 * plaintext meanwhile; its rows are picked up by the next batch, and migration 0008 refuses to drop anything left.
 */
export async function convertPlaintextWebhookCredentials(
  db: Db,
  credentials: Pick<WebhookCredentials, 'tokenHash' | 'encrypt'>,
  batchSize = 200,
): Promise<number> {
  let converted = 0;
  for (;;) {
    const count = await db.transaction(async (tx) => {
      const rows = await tx
        .select()
        .from(legacyWorkflows)
        .where(holdsPlaintext)
        .orderBy(asc(legacyWorkflows.id))
        .limit(batchSize)
        .for('update');
      for (const row of rows) {
        await tx
          .update(legacyWorkflows)
          .set({
            // A row with a plaintext token is converted whole: all its credentials come from the plaintext columns.
            // (Without one, which no Hookflow version writes, the stray plaintext is only cleared.)
            ...(row.webhookToken !== null && {
              webhookTokenHash: credentials.tokenHash(row.webhookToken),
              webhookTokenCiphertext: credentials.encrypt(row.id, 'webhook-token', row.webhookToken),
              webhookSecretCiphertext:
                row.webhookSecret === null
                  ? null
                  : credentials.encrypt(row.id, 'webhook-secret', row.webhookSecret),
              previousWebhookTokenHash:
                row.previousWebhookToken === null ? null : credentials.tokenHash(row.previousWebhookToken),
              previousWebhookSecretCiphertext:
                row.previousWebhookSecret === null
                  ? null
                  : credentials.encrypt(row.id, 'webhook-secret', row.previousWebhookSecret),
            }),
            webhookToken: null,
            webhookSecret: null,
            previousWebhookToken: null,
            previousWebhookSecret: null,
          })
          .where(eq(legacyWorkflows.id, row.id));
      }
      return rows.length;
    });
    converted += count;
    if (count < batchSize) return converted;
  }
}
