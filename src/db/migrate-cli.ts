// `npm run db:migrate`: applies pending migrations to DATABASE_URL (or the embedded PGlite database) and exits.
import { loadConfig } from '../config.js';
import { createDb } from './client.js';
import { migrateToLatest } from './migrate.js';

const config = loadConfig();
const handle = await createDb(config);
try {
  // The key converts webhook credentials stored in plaintext by versions before migration 0007.
  const outcome = await migrateToLatest(handle, { secretsKey: config.secrets.encryptionKey });
  if (outcome.pendingWebhookConversion > 0) {
    console.error(
      `${outcome.pendingWebhookConversion} workflows still hold webhook tokens or signing secrets in plaintext, and ` +
        'converting them needs SECRETS_ENCRYPTION_KEY (the same as the API): set it and run this again. Migrations stopped ' +
        'before 0008.',
    );
    process.exitCode = 1;
  } else {
    console.log(
      `migrations applied (${handle.driver === 'postgres' ? 'PostgreSQL' : `PGlite at ${config.db.pgliteDataDir}`})` +
        (outcome.convertedWebhooks > 0
          ? `; webhook credentials of ${outcome.convertedWebhooks} workflows converted from plaintext`
          : ''),
    );
  }
} finally {
  await handle.close();
}
