export interface RateLimitResult {
  allowed: boolean;
  /** Seconds until this key may try again; 0 while allowed. */
  retryAfterSeconds: number;
  /** Hits left in the current window. */
  remaining: number;
}

export interface RateLimiterOptions {
  /** Hits allowed per key per window. */
  limit: number;
  windowMs: number;
  /** Most keys tracked at once; past it the oldest windows are forgotten first. */
  maxKeys?: number;
  /** Clock in ms, injectable for tests. */
  now?: () => number;
}

/**
 * Fixed-window counter per key (an IP, an email). It is per process: with several API replicas each one counts on
 * its own, so the effective limit is `limit × replicas`; a cluster-wide limit (PostgreSQL or Redis) is a later issue.
 *
 * Memory stays bounded without timers: every window has the same length, so the Map's insertion order is also the
 * order in which windows expire, and each hit drops expired windows from the front; `maxKeys` caps the rest.
 */
export function createRateLimiter({
  limit,
  windowMs,
  maxKeys = 100_000,
  now = Date.now,
}: RateLimiterOptions) {
  const windows = new Map<string, { count: number; resetAt: number }>();

  function prune(at: number) {
    for (const [key, window] of windows) {
      if (window.resetAt > at && windows.size <= maxKeys) break;
      windows.delete(key);
    }
  }

  return {
    hit(key: string): RateLimitResult {
      const at = now();
      let window = windows.get(key);
      if (!window || window.resetAt <= at) {
        // Re-insert so the key moves to the back of the expiry order.
        windows.delete(key);
        window = { count: 0, resetAt: at + windowMs };
        windows.set(key, window);
      }
      prune(at);
      if (window.count >= limit) {
        return {
          allowed: false,
          retryAfterSeconds: Math.max(1, Math.ceil((window.resetAt - at) / 1000)),
          remaining: 0,
        };
      }
      window.count += 1;
      return { allowed: true, retryAfterSeconds: 0, remaining: limit - window.count };
    },

    /** Forgets a key, e.g. after a successful sign-in. */
    reset(key: string): void {
      windows.delete(key);
    },

    /** Keys currently tracked (for tests and metrics). */
    size(): number {
      return windows.size;
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;
