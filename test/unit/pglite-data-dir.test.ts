import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, expect, it } from 'vitest';
import { createDb } from '../../src/db/client.js';
import { migrateToLatest } from '../../src/db/migrate.js';

/*
 * npm start's embedded database on a fresh machine: the data directory is created (initdb, in a child process so its
 * memory peak leaves with it), migrated, and what was written is there after a reopen, as after a restart.
 */

const parent = mkdtempSync(join(tmpdir(), 'hookflow-pglite-'));
afterAll(() => rmSync(parent, { recursive: true, force: true }));

it('creates a fresh data directory, and a reopened one keeps its data', async () => {
  const dataDir = join(parent, 'nested', 'pglite');
  const config = { db: { url: undefined, pgliteDataDir: dataDir, migrateOnStart: true } };

  const first = await createDb(config);
  expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
  await migrateToLatest(first, {});
  await first.db.execute(sql`create table restart_check (note text)`);
  await first.db.execute(sql`insert into restart_check values ('kept')`);
  await first.close();

  const second = await createDb(config);
  try {
    // PGlite answers `{ rows }`.
    const result = (await second.db.execute(sql`select note from restart_check`)) as { rows: unknown[] };
    expect(result.rows).toEqual([{ note: 'kept' }]);
    // A buffer pool sized for an embedded database, not PostgreSQL's server default (128MB, all resident).
    const buffers = (await second.db.execute(sql`show shared_buffers`)) as { rows: unknown[] };
    expect(buffers.rows).toEqual([{ shared_buffers: '16MB' }]);
  } finally {
    await second.close();
  }
}, 120_000);
