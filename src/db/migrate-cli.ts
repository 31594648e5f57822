// `npm run db:migrate`: applies pending migrations to DATABASE_URL (or the embedded PGlite database) and exits.
import { loadConfig } from '../config.js';
import { createDb } from './client.js';
import { migrateToLatest } from './migrate.js';

const config = loadConfig();
const handle = await createDb(config);
try {
  await migrateToLatest(handle);
  console.log(
    `migrations applied (${handle.driver === 'postgres' ? 'PostgreSQL' : `PGlite at ${config.db.pgliteDataDir}`})`,
  );
} finally {
  await handle.close();
}
