import { describe, expect, it } from 'vitest';
import { createRateLimiter } from '../../src/api/services/rate-limiter.js';

function clock(start = 1_000_000) {
  let time = start;
  return { now: () => time, advance: (ms: number) => (time += ms) };
}

describe('createRateLimiter', () => {
  it('allows `limit` hits per window, then refuses with the seconds left until the window resets', () => {
    const time = clock();
    const limiter = createRateLimiter({ limit: 3, windowMs: 60_000, now: time.now });
    expect([1, 2, 3].map(() => limiter.hit('ip:1'))).toEqual([
      { allowed: true, retryAfterSeconds: 0, remaining: 2 },
      { allowed: true, retryAfterSeconds: 0, remaining: 1 },
      { allowed: true, retryAfterSeconds: 0, remaining: 0 },
    ]);
    expect(limiter.hit('ip:1')).toEqual({ allowed: false, retryAfterSeconds: 60, remaining: 0 });
    time.advance(59_001);
    expect(limiter.hit('ip:1')).toEqual({ allowed: false, retryAfterSeconds: 1, remaining: 0 });
    time.advance(999);
    expect(limiter.hit('ip:1')).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 2 });
  });

  it('rounds a partial second of waiting up, so a client that waits as told is allowed', () => {
    const time = clock();
    const limiter = createRateLimiter({ limit: 1, windowMs: 1_500, now: time.now });
    limiter.hit('k');
    time.advance(100);
    const refused = limiter.hit('k');
    expect(refused.retryAfterSeconds).toBe(2);
    time.advance(refused.retryAfterSeconds * 1000);
    expect(limiter.hit('k').allowed).toBe(true);
  });

  it('counts each key on its own', () => {
    const limiter = createRateLimiter({ limit: 1, windowMs: 60_000, now: clock().now });
    expect(limiter.hit('email:a@example.com').allowed).toBe(true);
    expect(limiter.hit('email:a@example.com').allowed).toBe(false);
    expect(limiter.hit('email:b@example.com').allowed).toBe(true);
  });

  it('forgets a key on reset', () => {
    const limiter = createRateLimiter({ limit: 1, windowMs: 60_000, now: clock().now });
    limiter.hit('k');
    expect(limiter.hit('k').allowed).toBe(false);
    limiter.reset('k');
    expect(limiter.hit('k').allowed).toBe(true);
  });

  it('drops expired keys as time passes, so memory does not grow with every client ever seen', () => {
    const time = clock();
    const limiter = createRateLimiter({ limit: 5, windowMs: 1_000, now: time.now });
    for (let i = 0; i < 1_000; i += 1) limiter.hit(`ip:${i}`);
    expect(limiter.size()).toBe(1_000);
    time.advance(1_000);
    limiter.hit('ip:new');
    expect(limiter.size()).toBe(1);
  });

  it('keeps a key whose window was renewed while older ones expire', () => {
    const time = clock();
    const limiter = createRateLimiter({ limit: 5, windowMs: 1_000, now: time.now });
    limiter.hit('old');
    limiter.hit('renewed');
    time.advance(1_000);
    limiter.hit('renewed'); // a new window: it now expires after 'old'
    time.advance(500);
    limiter.hit('other');
    expect(limiter.size()).toBe(2);
    expect(limiter.hit('renewed').remaining).toBe(3);
  });

  it('caps the number of keys, evicting the oldest windows first', () => {
    const time = clock();
    const limiter = createRateLimiter({ limit: 1, windowMs: 60_000, maxKeys: 3, now: time.now });
    for (const key of ['a', 'b', 'c', 'd']) {
      limiter.hit(key);
      time.advance(1);
    }
    expect(limiter.size()).toBe(3);
    // 'a' was evicted, so it starts afresh; 'd' is still counted.
    expect(limiter.hit('a').allowed).toBe(true);
    expect(limiter.hit('d').allowed).toBe(false);
  });
});
