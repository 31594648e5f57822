import { describe, expect, it } from 'vitest';
import {
  createWebhookLookupCache,
  webhookLookupCacheOf,
  withWebhookLookupCache,
} from '../../src/db/repos/webhook-lookup-cache.js';
import type { WorkflowRecord, WorkflowRepo } from '../../src/db/repos/workflow-repo.js';
import type { Db } from '../../src/db/client.js';

const record = (id: string, previousWebhookExpiresAt: Date | null = null) =>
  ({ id, version: 1, enabled: true, previousWebhookExpiresAt }) as WorkflowRecord;

/** A repository over a map of token hash → record, counting the lookups that reached it. */
function fakeRepo(rows: Map<string, WorkflowRecord>) {
  const reads = { count: 0 };
  const repo = {
    findByWebhookTokenHash: (hash: string) => {
      reads.count++;
      return Promise.resolve(rows.get(hash));
    },
    softDelete: (_owner: string, id: string) => {
      for (const [hash, row] of rows) if (row.id === id) rows.delete(hash);
      return Promise.resolve(true);
    },
    replace: () => Promise.reject(new Error('the database went away after the commit')),
  } as unknown as WorkflowRepo;
  return { repo, reads };
}

describe('the webhook lookup cache', () => {
  it('answers a known token from memory until a write, then reads the database again', async () => {
    const rows = new Map([['hash-a', record('wf-a')]]);
    const { repo, reads } = fakeRepo(rows);
    const cached = withWebhookLookupCache(repo, createWebhookLookupCache());

    expect((await cached.findByWebhookTokenHash('hash-a'))?.id).toBe('wf-a');
    expect((await cached.findByWebhookTokenHash('hash-a'))?.id).toBe('wf-a');
    expect(reads.count).toBe(1);

    await cached.softDelete('owner', 'wf-a');
    expect(await cached.findByWebhookTokenHash('hash-a')).toBeUndefined();
    expect(reads.count).toBe(2);
  });

  it('forgets everything after a write that failed too (it may have committed)', async () => {
    const { repo, reads } = fakeRepo(new Map([['hash-a', record('wf-a')]]));
    const cached = withWebhookLookupCache(repo, createWebhookLookupCache());
    await cached.findByWebhookTokenHash('hash-a');
    await expect(cached.replace('owner', 'wf-a', {} as never)).rejects.toThrow('went away');
    await cached.findByWebhookTokenHash('hash-a');
    expect(reads.count).toBe(2);
  });

  it('does not remember unknown tokens (anyone can send those)', async () => {
    const { repo, reads } = fakeRepo(new Map());
    const cached = withWebhookLookupCache(repo, createWebhookLookupCache());
    await cached.findByWebhookTokenHash('nobody');
    await cached.findByWebhookTokenHash('nobody');
    expect(reads.count).toBe(2);
  });

  it('does not store what a lookup read before a write ended', async () => {
    const cache = createWebhookLookupCache();
    let finishRead!: (row: WorkflowRecord) => void;
    const inFlight = cache.lookup(
      'hash-a',
      new Date(),
      () => new Promise((resolve) => (finishRead = resolve)),
    );
    cache.invalidate(); // a write ends while the read is in flight
    finishRead(record('wf-a (as before the write)'));
    await inFlight;

    const fresh = await cache.lookup('hash-a', new Date(), () => Promise.resolve(record('wf-a (written)')));
    expect(fresh?.id).toBe('wf-a (written)');
  });

  it("asks again once a rotation's grace period has ended", async () => {
    const cache = createWebhookLookupCache();
    const graceEnds = new Date('2026-12-02T12:00:00Z');
    let reads = 0;
    const load = () => {
      reads++;
      return Promise.resolve(record('wf-a', graceEnds));
    };
    await cache.lookup('old-hash', new Date('2026-12-02T11:59:59Z'), load);
    await cache.lookup('old-hash', new Date('2026-12-02T11:59:59.999Z'), load);
    expect(reads).toBe(1);
    await cache.lookup('old-hash', graceEnds, load);
    expect(reads).toBe(2);
  });

  it('holds at most its bound, forgetting the token stored first', async () => {
    const cache = createWebhookLookupCache(2);
    let reads = 0;
    const load = (id: string) => () => {
      reads++;
      return Promise.resolve(record(id));
    };
    for (const hash of ['a', 'b', 'c']) await cache.lookup(hash, new Date(), load(hash));
    await cache.lookup('c', new Date(), load('c'));
    await cache.lookup('b', new Date(), load('b'));
    expect(reads).toBe(3);
    await cache.lookup('a', new Date(), load('a'));
    expect(reads).toBe(4);
  });

  it('exists for PGlite only, one per database, shared by every app on it', () => {
    const db = {} as Db;
    expect(webhookLookupCacheOf({ db, driver: 'postgres' })).toBeUndefined();
    const cache = webhookLookupCacheOf({ db, driver: 'pglite' });
    expect(cache).toBeDefined();
    expect(webhookLookupCacheOf({ db, driver: 'pglite' })).toBe(cache);
    expect(webhookLookupCacheOf({ db: {} as Db, driver: 'pglite' })).not.toBe(cache);
  });
});
