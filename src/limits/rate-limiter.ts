import { lt } from 'drizzle-orm';
import {
  RateLimiterDrizzle,
  RateLimiterMemory,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import type { Db } from '../db/client.js';
import { rateLimits } from '../db/schema.js';

export interface RateLimitResult {
  allowed: boolean;
  /** Seconds until this key may try again; 0 while allowed. */
  retryAfterSeconds: number;
  /** Hits left in the current window. */
  remaining: number;
}

export interface RateLimiter {
  /**
   * Counts `points` hits (default 1) for `key` (an IP, an account, a webhook) and says whether they are within the
   * limit. Refused hits count too: a key over its limit stays refused until its window ends.
   */
  hit(key: string, points?: number): Promise<RateLimitResult>;
}

export interface RateLimiterOptions {
  db: Db;
  /** Names the limit; keys of different limits never share a counter. */
  name: string;
  /** Hits allowed per key per window. */
  limit: number;
  windowMs: number;
}

/**
 * A fixed-window limit per key that every API process on the same database shares, so N replicas still allow
 * `limit` hits, not N × `limit`. The counting is rate-limiter-flexible's: one atomic upsert per hit into
 * `rate_limits` (PostgreSQL or PGlite alike).
 *
 * Two in-memory parts the library offers, and why: once a key is over its limit this process refuses it from memory
 * until its window ends, so a flood costs no database writes; and while the database cannot be reached each process
 * counts on its own (the limit then holds per process) instead of failing every request.
 */
export function createRateLimiter({ db, name, limit, windowMs }: RateLimiterOptions): RateLimiter {
  const duration = windowMs / 1000;
  return countedBy(
    new RateLimiterDrizzle({
      storeClient: db,
      schema: rateLimits,
      keyPrefix: name,
      points: limit,
      duration,
      inMemoryBlockOnConsumed: limit + 1,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix: name, points: limit, duration }),
      // Expired rows are deleted by deleteExpiredRateLimits, on a timer the app owns and stops on close.
      clearExpiredByTimeout: false,
    }),
  );
}

/**
 * The same limit counted in this process's memory, for a database only one process opens (PGlite): there is no
 * other replica to share counters with, and the upsert per hit costs the embedded database ~1.4 ms of the API
 * thread's CPU (bench/RESULTS.md). A restart starts every window afresh.
 */
export function createMemoryRateLimiter({
  name,
  limit,
  windowMs,
}: Omit<RateLimiterOptions, 'db'>): RateLimiter {
  return countedBy(new RateLimiterMemory({ keyPrefix: name, points: limit, duration: windowMs / 1000 }));
}

function countedBy(limiter: RateLimiterAbstract): RateLimiter {
  return {
    async hit(key, points = 1) {
      try {
        const counted = await limiter.consume(key, points);
        return { allowed: true, retryAfterSeconds: 0, remaining: counted.remainingPoints };
      } catch (refusal) {
        if (!(refusal instanceof RateLimiterRes)) throw refusal;
        // Rounded up, so a client that waits as told is allowed.
        return {
          allowed: false,
          retryAfterSeconds: Math.max(1, Math.ceil(refusal.msBeforeNext / 1000)),
          remaining: 0,
        };
      }
    },
  };
}

/** Deletes the counters of windows that ended before `olderThan` (they only take space). */
export async function deleteExpiredRateLimits(db: Db, olderThan = new Date()): Promise<void> {
  await db.delete(rateLimits).where(lt(rateLimits.expire, olderThan));
}
