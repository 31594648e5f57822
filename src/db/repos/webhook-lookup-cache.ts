import type { DbHandle } from '../client.js';
import type { WorkflowRecord, WorkflowRepo } from './workflow-repo.js';

/**
 * How many webhook tokens the cache remembers; past that the least recently stored is forgotten. A record is a few
 * KB (its steps), so the cache stays in the tens of MB at most.
 */
const MAX_ENTRIES = 10_000;

interface Entry {
  record: WorkflowRecord;
  /** Epoch ms after which the entry must be looked up again (a replaced token's grace ends); Infinity: never. */
  validUntil: number;
}

/**
 * Webhook token → workflow, remembered in memory, for a database that only this process writes.
 *
 * Why: on the embedded database (PGlite, PostgreSQL compiled to WebAssembly, running on the API's thread) the lookup
 * every webhook starts with costs ~2.7 ms of that thread's CPU, more than everything else the API does for the
 * delivery (bench/RESULTS.md). Why it is exact: PGlite has one opener, so every write to `workflows` goes through
 * this process's repository, which clears the cache after each one ({@link withWebhookLookupCache}). On PostgreSQL
 * other API replicas write too, so no cache is used there: a deleted or rotated webhook must stop at once everywhere.
 */
export interface WebhookLookupCache {
  /** The workflow behind `tokenHash` as of `now`: from memory, or from `load` (then remembered if found). */
  lookup(
    tokenHash: string,
    now: Date,
    load: () => Promise<WorkflowRecord | undefined>,
  ): Promise<WorkflowRecord | undefined>;
  /** Forgets everything: called after every write to workflows. */
  invalidate(): void;
}

export function createWebhookLookupCache(maxEntries = MAX_ENTRIES): WebhookLookupCache {
  const entries = new Map<string, Entry>();
  // Bumped by every write: a lookup that read the database before a write ended must not store what it read.
  let generation = 0;

  return {
    async lookup(tokenHash, now, load) {
      const cached = entries.get(tokenHash);
      if (cached && now.getTime() < cached.validUntil) return cached.record;
      entries.delete(tokenHash);
      const readAt = generation;
      const record = await load();
      // Unknown tokens are not remembered: anyone can send those, and they would fill the cache.
      if (record && readAt === generation) {
        if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
        // While a rotation's old token is in its grace period the record says until when: past it, ask again (the
        // database then answers that the old token is unknown).
        const validUntil = record.previousWebhookExpiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
        entries.set(tokenHash, { record, validUntil });
      }
      return record;
    },
    invalidate() {
      generation++;
      entries.clear();
    },
  };
}

/** `repo` with its webhook lookups served through `cache`, and every write clearing it. */
export function withWebhookLookupCache(repo: WorkflowRepo, cache: WebhookLookupCache): WorkflowRepo {
  const afterWrite = async <Result>(write: Promise<Result>): Promise<Result> => {
    try {
      return await write;
    } finally {
      // Also after a failed write: it may have committed before the error reached here.
      cache.invalidate();
    }
  };
  return {
    ...repo,
    findByWebhookTokenHash: (tokenHash, now = new Date()) =>
      cache.lookup(tokenHash, now, () => repo.findByWebhookTokenHash(tokenHash, now)),
    create: (...args) => afterWrite(repo.create(...args)),
    replace: (...args) => afterWrite(repo.replace(...args)),
    softDelete: (...args) => afterWrite(repo.softDelete(...args)),
    rotateWebhook: (...args) => afterWrite(repo.rotateWebhook(...args)),
  };
}

const cachesByDatabase = new WeakMap<DbHandle['db'], WebhookLookupCache>();

/**
 * The cache of `handle`'s database when this process is its only writer (PGlite), shared by every app on that handle
 * so that one app's write clears what another remembered; undefined on PostgreSQL.
 */
export function webhookLookupCacheOf(
  handle: Pick<DbHandle, 'db' | 'driver'>,
): WebhookLookupCache | undefined {
  if (handle.driver !== 'pglite') return undefined;
  let cache = cachesByDatabase.get(handle.db);
  if (!cache) cachesByDatabase.set(handle.db, (cache = createWebhookLookupCache()));
  return cache;
}
