import { defineConfig } from 'drizzle-kit';

// Only `drizzle-kit generate` uses this: it diffs src/db/schema.ts against drizzle/ and writes a new migration.
// Applying migrations is the service's job (src/db/migrate.ts), on start or via `npm run db:migrate`.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
  casing: 'snake_case',
});
