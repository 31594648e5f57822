import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  backoffDelayMs,
  createDatabaseLoginBackoff,
  DEFAULT_LOGIN_BACKOFF,
  deleteForgottenLoginBackoff,
  loginClientKey,
  type DatabaseLoginBackoffOptions,
} from '../../src/api/services/login-backoff.js';
import { loginBackoff } from '../../src/db/schema.js';
import { openMigratedDb } from '../helpers/database.js';

/** One embedded database for the file, emptied before each test. */
let db: Awaited<ReturnType<typeof openMigratedDb>>;
beforeAll(async () => {
  db = await openMigratedDb('pglite');
});
afterAll(async () => {
  await db?.close();
});
beforeEach(async () => {
  await db.db.delete(loginBackoff);
});

/** A backoff on the test database: each call is another API process (its own in-flight counts, the same rows). */
const backoffWith = (options: Omit<DatabaseLoginBackoffOptions, 'db'>) =>
  createDatabaseLoginBackoff({ db: db.db, ...options });
const accountsTracked = async () => (await db.db.select().from(loginBackoff)).length;

function clock(start = 1_000_000) {
  let time = start;
  return { now: () => time, advance: (ms: number) => (time += ms) };
}

const wrong = () => Promise.resolve(undefined);
const right = () => Promise.resolve('user');

/** A check that stays pending until released, and counts how often it ran. */
function gatedCheck<T>(value: T | undefined) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let runs = 0;
  return {
    check: async () => {
      runs += 1;
      await gate;
      return value;
    },
    release: () => release(),
    runs: () => runs,
  };
}

describe('backoffDelayMs', () => {
  it('doubles from 1 s after each consecutive failure and stops at 40 s', () => {
    const delays = [0, 1, 2, 3, 4, 5, 6, 7, 8, 50, 5_000].map((n) =>
      backoffDelayMs(n, DEFAULT_LOGIN_BACKOFF),
    );
    expect(delays).toEqual([0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 40_000, 40_000, 40_000, 40_000]);
  });
});

describe('the login backoff', () => {
  it('lets a client that retries as soon as it may get at most about 100 wrong answers an hour (OWASP)', async () => {
    const time = clock();
    const backoff = backoffWith({ now: time.now });
    const answered: number[] = [];
    const start = time.now();
    // Three hours of an attacker that waits exactly as long as each 429 says, every attempt a wrong password.
    while (time.now() - start < 3 * 3_600_000) {
      const result = await backoff.attempt('victim@example.com', '198.51.100.7', wrong);
      if (result.outcome === 'failure') answered.push(time.now() - start);
      time.advance(result.outcome === 'throttled' ? result.retryAfterSeconds * 1000 : 1);
    }
    const perHour = [0, 1, 2].map(
      (hour) => answered.filter((t) => Math.floor(t / 3_600_000) === hour).length,
    );
    expect(Math.max(...perHour)).toBeLessThanOrEqual(100);
    // Not much stricter than it needs to be either: 95 in the first hour, 90 in each later one.
    expect(perHour[0]).toBeGreaterThanOrEqual(90);
    // Any hour-long window, not just the aligned ones.
    for (const [i, t] of answered.entries()) {
      expect(
        answered.filter((u) => u >= t && u < t + 3_600_000).length,
        `window from answer ${i}`,
      ).toBeLessThanOrEqual(100);
    }
  });

  it('refuses a failing client during the delay without checking its password, with the seconds left', async () => {
    const time = clock();
    const backoff = backoffWith({ now: time.now });
    for (let i = 0; i < 3; i++) {
      await backoff.attempt('a@example.com', 'attacker', wrong);
      time.advance(backoffDelayMs(i + 1, DEFAULT_LOGIN_BACKOFF));
    }
    // The fourth failure in a row: the next attempt waits 8 s.
    expect(await backoff.attempt('a@example.com', 'attacker', wrong)).toEqual({
      outcome: 'failure',
      retryAfterSeconds: undefined,
    });
    time.advance(1_500);
    let checked = false;
    const refused = await backoff.attempt('a@example.com', 'attacker', () => {
      checked = true;
      return right();
    });
    // The right password too: during the delay this client's answer does not depend on what it sent.
    expect(refused).toEqual({ outcome: 'throttled', retryAfterSeconds: 7 });
    expect(checked).toBe(false);
  });

  it('checks the password of a client that has not been failing: the right one succeeds and resets the account', async () => {
    const time = clock();
    const backoff = backoffWith({ now: time.now });
    for (let i = 0; i < 12; i++) {
      await backoff.attempt('a@example.com', `attacker-${i}`, wrong);
    }
    expect((await backoff.attempt('a@example.com', 'attacker-0', right)).outcome).toBe('throttled');

    expect(await backoff.attempt('a@example.com', 'owner', right)).toEqual({
      outcome: 'success',
      value: 'user',
    });
    // Reset: nobody waits any more.
    expect((await backoff.attempt('a@example.com', 'attacker-0', wrong)).outcome).toBe('failure');
  });

  it("answers a fresh client's wrong password during the delay with the wait (429), and holds that client back too", async () => {
    const time = clock();
    const backoff = backoffWith({ now: time.now });
    await backoff.attempt('a@example.com', 'attacker', wrong);
    await backoff.attempt('a@example.com', 'attacker-2', wrong);
    // Two failures so far; this third one sets the wait to 4 s.
    expect(await backoff.attempt('a@example.com', 'owner', wrong)).toEqual({
      outcome: 'failure',
      retryAfterSeconds: 4,
    });
    expect(await backoff.attempt('a@example.com', 'owner', right)).toEqual({
      outcome: 'throttled',
      retryAfterSeconds: 4,
    });
    time.advance(4_000);
    expect((await backoff.attempt('a@example.com', 'owner', right)).outcome).toBe('success');
  });

  it('gives a burst of concurrent attempts from a failing client one checked password, not one each', async () => {
    const time = clock();
    const backoff = backoffWith({ now: time.now });
    await backoff.attempt('a@example.com', 'attacker', wrong);
    time.advance(1_000);
    const gated = gatedCheck<string>(undefined);
    const burst = Array.from({ length: 20 }, () => backoff.attempt('a@example.com', 'attacker', gated.check));
    gated.release();
    const outcomes = (await Promise.all(burst)).map((result) => result.outcome);
    expect(gated.runs()).toBe(1);
    expect(outcomes.filter((outcome) => outcome === 'failure')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'throttled')).toHaveLength(19);
  });

  it('runs at most maxConcurrent checks for one account at once, and frees the slots when checks throw', async () => {
    const backoff = backoffWith({ now: clock().now });
    const gated = gatedCheck('user');
    const running = Array.from({ length: DEFAULT_LOGIN_BACKOFF.maxConcurrent }, (_, i) =>
      backoff.attempt('a@example.com', `client-${i}`, gated.check),
    );
    expect(await backoff.attempt('a@example.com', 'one-more', right)).toEqual({
      outcome: 'throttled',
      retryAfterSeconds: 1,
    });
    gated.release();
    expect((await Promise.all(running)).every((result) => result.outcome === 'success')).toBe(true);

    const failing = () => Promise.reject(new Error('database down'));
    for (let i = 0; i <= DEFAULT_LOGIN_BACKOFF.maxConcurrent; i++) {
      await expect(backoff.attempt('b@example.com', 'client', failing)).rejects.toThrow('database down');
    }
    expect((await backoff.attempt('b@example.com', 'client', right)).outcome).toBe('success');
  });

  it('resets for good on a success, even with a failure still being checked', async () => {
    const time = clock();
    const backoff = backoffWith({ now: time.now });
    for (let i = 1; i <= 8; i++) {
      await backoff.attempt('a@example.com', 'attacker', wrong);
      time.advance(backoffDelayMs(i, DEFAULT_LOGIN_BACKOFF));
    }
    const slow = gatedCheck<string>(undefined);
    const pending = backoff.attempt('a@example.com', 'attacker', slow.check);
    expect((await backoff.attempt('a@example.com', 'owner', right)).outcome).toBe('success');
    slow.release();
    expect((await pending).outcome).toBe('failure');
    // One failure after the reset: 1 s, not the 40 s of the ninth.
    time.advance(1_000);
    expect((await backoff.attempt('a@example.com', 'attacker', wrong)).outcome).toBe('failure');
  });

  it('forgets an account after 15 quiet minutes', async () => {
    const time = clock();
    const backoff = backoffWith({ now: time.now });
    for (let i = 1; i <= 10; i++) {
      expect((await backoff.attempt('a@example.com', 'c', wrong)).outcome).toBe('failure');
      time.advance(backoffDelayMs(i, DEFAULT_LOGIN_BACKOFF));
    }
    // Ten failures: each next one waits 40 s…
    expect((await backoff.attempt('a@example.com', 'c', wrong)).outcome).toBe('failure');
    time.advance(1_000);
    expect(await backoff.attempt('a@example.com', 'c', wrong)).toEqual({
      outcome: 'throttled',
      retryAfterSeconds: 39,
    });
    time.advance(15 * 60_000);
    expect(await accountsTracked()).toBe(1);
    await deleteForgottenLoginBackoff(db.db, time.now());
    expect(await accountsTracked()).toBe(0);
    // …and after 15 quiet minutes the first failure waits 1 s again.
    expect((await backoff.attempt('a@example.com', 'c', wrong)).outcome).toBe('failure');
    time.advance(1_000);
    expect((await backoff.attempt('a@example.com', 'c', wrong)).outcome).toBe('failure');
  });

  it('counts every new client as failing once an account has maxClientsPerAccount of them', async () => {
    const backoff = backoffWith({
      now: clock().now,
      policy: { ...DEFAULT_LOGIN_BACKOFF, maxClientsPerAccount: 3 },
    });
    for (const client of ['c1', 'c2', 'c3']) await backoff.attempt('a@example.com', client, wrong);
    expect((await backoff.attempt('a@example.com', 'c4', right)).outcome).toBe('throttled');
    expect((await backoff.attempt('b@example.com', 'c4', right)).outcome).toBe('success');
  });

  it('holds across API processes: a failure in one makes the others wait too', async () => {
    const time = clock();
    const [first, second] = [backoffWith({ now: time.now }), backoffWith({ now: time.now })];
    for (let i = 0; i < 3; i++) {
      expect((await first.attempt('a@example.com', 'attacker', wrong)).outcome).toBe('failure');
      time.advance(backoffDelayMs(i + 1, DEFAULT_LOGIN_BACKOFF));
    }
    expect((await first.attempt('a@example.com', 'attacker', wrong)).outcome).toBe('failure');
    // The fourth failure set an 8 s wait: the other process refuses the same client, and counts on from four.
    expect(await second.attempt('a@example.com', 'attacker', right)).toEqual({
      outcome: 'throttled',
      retryAfterSeconds: 8,
    });
    time.advance(8_000);
    expect((await second.attempt('a@example.com', 'attacker', wrong)).outcome).toBe('failure');
    time.advance(8_000);
    expect(await first.attempt('a@example.com', 'attacker', wrong)).toEqual({
      outcome: 'throttled',
      retryAfterSeconds: 8,
    });
  });
});

describe('loginClientKey', () => {
  it('is the address for IPv4 (also IPv4-mapped IPv6) and the /64 for IPv6', () => {
    expect(loginClientKey('192.0.2.7')).toBe('192.0.2.7');
    expect(loginClientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(loginClientKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(loginClientKey('2001:DB8:1:2::99')).toBe('2001:db8:1:2::/64');
    expect(loginClientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(loginClientKey('::1')).toBe('0:0:0:0::/64');
    expect(loginClientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(loginClientKey('1::2:3:4:5:192.0.2.1')).toBe('1:0:2:3::/64');
    expect(loginClientKey('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
  });
});
