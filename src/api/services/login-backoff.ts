import { isIP } from 'node:net';

/**
 * Per-account exponential backoff of failed sign-ins (OWASP: slow guessing down to about 100 failures an hour without
 * letting anyone lock the owner out).
 *
 * The rule: after each wrong password the account's next checked attempt is delayed (1 s, 2 s, 4 s, … capped at
 * 40 s, so at most about 100 failures an hour get an answer); a success resets it. The delay holds back the clients
 * that have been failing for this account, not the account itself: a client that has not failed for it still has its
 * password checked, so the right password from anywhere else is never refused. Its wrong password during the delay
 * answers 429 like the others' (and it becomes a failing client).
 *
 * Why not "check the password first and throttle only failures": during the delay a 429 would then mean "wrong"
 * and a 200 "right", so the attacker's guessing would go on at full speed, every attempt still an answer. Here a
 * failing client's attempt during the delay is refused before the password is looked at: the answer is the same
 * whatever the password, and it comes without the argon2 work, so its timing says nothing either.
 *
 * Oracles: the state is keyed by email, known or not (unknown emails go through the same steps with a dummy hash),
 * so neither the 429s nor their timing tell whether an account exists. Races: a failing client's attempt is charged
 * as a failure before its password is checked (refunded by a success), so a burst of concurrent guesses from it gets
 * one answer, not one each; and at most `maxConcurrent` checks run for one account at once.
 *
 * What it does not stop: an attacker with many addresses gets one checked guess per address (IPv6 counts per /64)
 * while the account backs off, at most `maxClientsPerAccount` of them; past that every new client counts as failing
 * during the delay, which can then refuse the owner too (until the delay ends). The per-IP limit stays in front.
 */
export interface LoginBackoffPolicy {
  /** Delay after the first failure; each further consecutive failure doubles it. */
  initialDelayMs: number;
  /** Longest delay: at most 3_600_000 / maxDelayMs failures an hour for one account, once it is reached. */
  maxDelayMs: number;
  /** An account with no failure for this long starts afresh. */
  forgetAfterMs: number;
  /** Password checks running at once for one account; more answer 429 (Retry-After 1). */
  maxConcurrent: number;
  /** Failing clients remembered per account; past it every new client counts as failing during the delay. */
  maxClientsPerAccount: number;
}

export const DEFAULT_LOGIN_BACKOFF: LoginBackoffPolicy = {
  initialDelayMs: 1_000,
  // 1 + 2 + … + 32 s after the first 6 failures, then 40 s each: 95 answered failures in the first hour, 90 later.
  maxDelayMs: 40_000,
  forgetAfterMs: 15 * 60_000,
  maxConcurrent: 8,
  maxClientsPerAccount: 1_000,
};

/** How long the next attempt waits after `consecutiveFailures` failures in a row (0 for none). */
export function backoffDelayMs(consecutiveFailures: number, policy: LoginBackoffPolicy): number {
  if (consecutiveFailures <= 0) return 0;
  // 2 ** 31 and up is past any sane cap anyway; the min keeps the exponent finite.
  const doubled = policy.initialDelayMs * 2 ** Math.min(consecutiveFailures - 1, 30);
  return Math.min(doubled, policy.maxDelayMs);
}

/** The outcome of one sign-in attempt as the backoff saw it. */
export type LoginAttemptResult<T> =
  | { outcome: 'success'; value: T }
  /** The password was checked and wrong. `retryAfterSeconds`: the account was backing off when it came (answer 429). */
  | { outcome: 'failure'; retryAfterSeconds: number | undefined }
  /** Refused before the password was looked at. */
  | { outcome: 'throttled'; retryAfterSeconds: number };

/**
 * Where the backoff state lives. This one is in memory (per API process, like the rate limiter); a PostgreSQL one
 * implements the same call with a row per account locked for the decision and the charge.
 */
export interface LoginBackoff {
  /**
   * Runs `check` (the password check: a value on success, undefined on a wrong password) for `client` signing in
   * to `account`, unless that client must wait, and records what it found.
   */
  attempt<T>(
    account: string,
    client: string,
    check: () => Promise<T | undefined>,
  ): Promise<LoginAttemptResult<T>>;
}

interface AccountState {
  failures: number;
  /** A failing client's next attempt is checked from this time on. */
  nextAttemptAt: number;
  /** Last failure or charge: the entry is forgotten `forgetAfterMs` after it. */
  touchedAt: number;
  failingClients: Set<string>;
  inFlight: number;
}

export interface MemoryLoginBackoffOptions {
  policy?: LoginBackoffPolicy;
  /** Most accounts tracked at once; past it the least recently failing are forgotten first. */
  maxAccounts?: number;
  /** Clock in ms, injectable for tests. */
  now?: () => number;
}

export function createMemoryLoginBackoff({
  policy = DEFAULT_LOGIN_BACKOFF,
  maxAccounts = 100_000,
  now = Date.now,
}: MemoryLoginBackoffOptions = {}): LoginBackoff & { size(): number } {
  // Insertion order is touch order (every touch re-inserts), and every entry lives forgetAfterMs past its last touch,
  // so expired entries are always at the front.
  const accounts = new Map<string, AccountState>();

  function prune(at: number) {
    for (const [key, state] of accounts) {
      const expired = at - state.touchedAt >= policy.forgetAfterMs && state.inFlight === 0;
      if (!expired && accounts.size <= maxAccounts) break;
      accounts.delete(key);
    }
  }

  function touch(key: string, state: AccountState, at: number) {
    state.touchedAt = at;
    accounts.delete(key);
    accounts.set(key, state);
  }

  const retryAfter = (until: number, at: number) => Math.max(1, Math.ceil((until - at) / 1000));

  return {
    async attempt<T>(account: string, client: string, check: () => Promise<T | undefined>) {
      const startedAt = now();
      prune(startedAt);
      let state = accounts.get(account);
      if (!state) {
        state = {
          failures: 0,
          nextAttemptAt: 0,
          touchedAt: startedAt,
          failingClients: new Set(),
          inFlight: 0,
        };
        accounts.set(account, state);
      }
      const backingOff = startedAt < state.nextAttemptAt;
      const failing =
        state.failingClients.has(client) || state.failingClients.size >= policy.maxClientsPerAccount;
      if (failing && backingOff) {
        return {
          outcome: 'throttled',
          retryAfterSeconds: retryAfter(state.nextAttemptAt, startedAt),
        } as const;
      }
      if (state.inFlight >= policy.maxConcurrent) {
        return { outcome: 'throttled', retryAfterSeconds: 1 } as const;
      }
      if (failing) {
        // Charged before the check, so this client's concurrent attempts find the account backing off.
        state.nextAttemptAt = startedAt + backoffDelayMs(state.failures + 1, policy);
        touch(account, state, startedAt);
      }
      state.inFlight += 1;
      let value: T | undefined;
      try {
        value = await check();
      } finally {
        state.inFlight -= 1;
      }
      const at = now();
      if (value !== undefined) {
        // Reset in place too: a failure still in flight then lands on a clean slate, not on the old count.
        state.failures = 0;
        state.nextAttemptAt = 0;
        state.failingClients.clear();
        if (accounts.get(account) === state) accounts.delete(account);
        return { outcome: 'success', value } as const;
      }
      state.failures += 1;
      state.nextAttemptAt = Math.max(state.nextAttemptAt, at + backoffDelayMs(state.failures, policy));
      // Past the cap nobody is evicted (that would hand the evicted client a fresh guess): see `failing` above.
      if (state.failingClients.size < policy.maxClientsPerAccount) state.failingClients.add(client);
      // The entry may have been forgotten meanwhile (maxAccounts); put it back, its failure counts.
      touch(account, state, at);
      prune(at);
      return {
        outcome: 'failure',
        retryAfterSeconds: backingOff ? retryAfter(state.nextAttemptAt, at) : undefined,
      } as const;
    },

    /** Accounts currently tracked (for tests and metrics). */
    size: () => accounts.size,
  };
}

/**
 * The client identity failures are remembered under: the IPv4 address, or the /64 of an IPv6 one (one subscriber
 * line gets a whole /64, so counting single IPv6 addresses would hand it 2^64 fresh clients).
 */
export function loginClientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  if (isIP(address) !== 6) return address;
  // A trailing dotted quad (`64:ff9b::192.0.2.1`) is two groups; zeros fill `::` up to eight.
  const text = address
    .split('%')[0]!
    .replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a: string, b: string, c: string, d: string) =>
      [(Number(a) << 8) | Number(b), (Number(c) << 8) | Number(d)].map((n) => n.toString(16)).join(':'),
    );
  const [head = '', tail] = text.split('::');
  const split = (part: string) => (part === '' ? [] : part.split(':'));
  const groups =
    tail === undefined
      ? split(head)
      : [
          ...split(head),
          ...Array<string>(8 - split(head).length - split(tail).length).fill('0'),
          ...split(tail),
        ];
  return `${groups
    .slice(0, 4)
    .map((group) => parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}
