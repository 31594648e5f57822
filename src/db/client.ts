import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { Config } from '../config.js';
import { schema } from './schema.js';

/** The Drizzle database, whichever driver is underneath; repositories only see this. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface DbHandle {
  db: Db;
  driver: 'postgres' | 'pglite';
  /** Runs `fn` while holding a cluster-wide lock, so two processes starting at once do not race. */
  withMigrationLock<T>(fn: () => Promise<T>): Promise<T>;
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * PostgreSQL's buffer pool inside PGlite's WebAssembly memory, which it touches whole at start. PostgreSQL's default
 * (128MB) is sized for a server; the embedded database of a single-process install is a few MB, and pages outside the
 * pool are read from the data directory's files. Measured (bench/RESULTS.md): ~100 MiB less resident than 128MB.
 */
const PGLITE_SHARED_BUFFERS = '16MB';

// Any constant works; it only has to be the same for every Hookflow process sharing a database.
const MIGRATION_LOCK_KEY = 0x686f6f6b; // "hook"

/** postgres.js when DATABASE_URL is set, otherwise an embedded PGlite database under PGLITE_DATA_DIR. */
export async function createDb(config: Pick<Config, 'db'>): Promise<DbHandle> {
  if (config.db.url) return createPostgresDb(config.db.url);
  return createPgliteDb(config.db.pgliteDataDir);
}

function createPostgresDb(url: string): DbHandle {
  const sql = postgres(url, {
    max: 10,
    // During an outage a request should fail fast (503) rather than hang for postgres.js's default 30 s.
    connect_timeout: 5,
    // Migrations print NOTICEs ("schema already exists, skipping"); they are noise in the service log.
    onnotice: () => {},
    connection: { application_name: 'hookflow' },
  });
  const db = drizzlePostgres(sql, { schema }) as unknown as Db;
  return {
    db,
    driver: 'postgres',
    async withMigrationLock(fn) {
      // A session-level advisory lock lives on one connection: reserve it for the whole critical section.
      const lockConnection = await sql.reserve();
      try {
        await lockConnection`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
        return await fn();
      } finally {
        await lockConnection`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.catch(() => undefined);
        lockConnection.release();
      }
    },
    async ping() {
      await sql`select 1`;
    },
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}

async function createPgliteDb(dataDir: string): Promise<DbHandle> {
  // `memory://` keeps everything in RAM (tests); anything else is a directory that persists across restarts.
  if (!dataDir.startsWith('memory://')) {
    mkdirSync(dataDir, { recursive: true });
    if (!existsSync(join(dataDir, 'PG_VERSION'))) await initPgliteDataDir(dataDir);
  }
  const client = await PGlite.create(dataDir, {
    startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${PGLITE_SHARED_BUFFERS}`],
  });
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  return {
    db,
    driver: 'pglite',
    // PGlite is single-process by construction (it owns its data directory), so there is nobody to race.
    withMigrationLock: (fn) => fn(),
    async ping() {
      await client.query('select 1');
    },
    async close() {
      await client.close();
    },
  };
}

/**
 * Creates a fresh PGlite data directory (initdb) in a child process. initdb grows PGlite's WebAssembly memory to
 * ~1.2 GB at its peak and a WebAssembly memory never shrinks: done in this process, ~390 MiB of it stayed for the
 * process's life (bench/RESULTS.md); opening the directory afterwards costs what any later start costs.
 */
async function initPgliteDataDir(dataDir: string): Promise<void> {
  const script = `
    const { PGlite } = await import(process.argv[1]);
    const client = await PGlite.create(process.argv[2]);
    await client.close();`;
  await promisify(execFile)(process.execPath, [
    '--input-type=module',
    '--eval',
    script,
    import.meta.resolve('@electric-sql/pglite'),
    dataDir,
  ]);
}
