import { isIP } from 'node:net';
import { eq, lt } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { loginBackoff } from '../../db/schema.js';

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

/** Where the backoff state lives: the database (createDatabaseLoginBackoff), shared by every API process. */
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

/** What the backoff knows of one account. */
interface AccountState {
  failures: number;
  /** A failing client's next attempt is checked from this time on (epoch ms). */
  nextAttemptAt: number;
  failingClients: string[];
}

export interface DatabaseLoginBackoffOptions {
  db: Db;
  policy?: LoginBackoffPolicy;
  /** Clock in ms, injectable for tests. */
  now?: () => number;
}

type Transaction = Parameters<Parameters<Db['transaction']>[0]>[0];

/**
 * The backoff with its state in the `login_backoff` table, so every API process sees the same failures: N replicas
 * still answer about 100 failures an hour for an account, not N × 100. Each decision and each charge reads the
 * account's row locked (FOR UPDATE), so concurrent attempts on different replicas see each other's charges. The
 * password check itself runs outside any transaction. `maxConcurrent` is per process: it protects this process's
 * CPU from argon2 work, which is a local matter.
 */
export function createDatabaseLoginBackoff({
  db,
  policy = DEFAULT_LOGIN_BACKOFF,
  now = Date.now,
}: DatabaseLoginBackoffOptions): LoginBackoff {
  const inFlight = new Map<string, number>();
  const retryAfter = (until: number, at: number) => Math.max(1, Math.ceil((until - at) / 1000));

  /** The account's state, its row locked until the transaction ends; a clean slate when none or forgotten. */
  async function lockedState(tx: Transaction, account: string, at: number): Promise<AccountState> {
    const [row] = await tx.select().from(loginBackoff).where(eq(loginBackoff.account, account)).for('update');
    if (!row || at - row.touchedAt.getTime() >= policy.forgetAfterMs) {
      return { failures: 0, nextAttemptAt: 0, failingClients: [] };
    }
    return {
      failures: row.failures,
      nextAttemptAt: row.nextAttemptAt.getTime(),
      failingClients: row.failingClients,
    };
  }

  async function save(tx: Transaction, account: string, state: AccountState, at: number): Promise<void> {
    const values = {
      failures: state.failures,
      nextAttemptAt: new Date(state.nextAttemptAt),
      touchedAt: new Date(at),
      failingClients: state.failingClients,
    };
    await tx
      .insert(loginBackoff)
      .values({ account, ...values })
      .onConflictDoUpdate({ target: loginBackoff.account, set: values });
  }

  /** Whether `client` counts as failing for the account: it failed, or the account has too many failing clients. */
  const isFailing = (state: AccountState, client: string) =>
    state.failingClients.includes(client) || state.failingClients.length >= policy.maxClientsPerAccount;

  return {
    async attempt<T>(account: string, client: string, check: () => Promise<T | undefined>) {
      const running = inFlight.get(account) ?? 0;
      if (running >= policy.maxConcurrent) {
        return { outcome: 'throttled', retryAfterSeconds: 1 } as const;
      }
      inFlight.set(account, running + 1);
      try {
        const startedAt = now();
        const decision = await db.transaction(async (tx) => {
          const state = await lockedState(tx, account, startedAt);
          const backingOff = startedAt < state.nextAttemptAt;
          if (isFailing(state, client)) {
            if (backingOff) return { throttledFor: retryAfter(state.nextAttemptAt, startedAt), backingOff };
            // Charged before the check, so this client's concurrent attempts find the account backing off.
            state.nextAttemptAt = startedAt + backoffDelayMs(state.failures + 1, policy);
            await save(tx, account, state, startedAt);
          }
          return { throttledFor: undefined, backingOff };
        });
        if (decision.throttledFor !== undefined) {
          return { outcome: 'throttled', retryAfterSeconds: decision.throttledFor } as const;
        }

        const value = await check();
        const at = now();
        if (value !== undefined) {
          await db.delete(loginBackoff).where(eq(loginBackoff.account, account));
          return { outcome: 'success', value } as const;
        }
        const after = await db.transaction(async (tx) => {
          const state = await lockedState(tx, account, at);
          state.failures += 1;
          state.nextAttemptAt = Math.max(state.nextAttemptAt, at + backoffDelayMs(state.failures, policy));
          // Past the cap nobody is evicted (that would hand the evicted client a fresh guess): see isFailing.
          if (
            !state.failingClients.includes(client) &&
            state.failingClients.length < policy.maxClientsPerAccount
          ) {
            state.failingClients.push(client);
          }
          await save(tx, account, state, at);
          return state;
        });
        return {
          outcome: 'failure',
          retryAfterSeconds: decision.backingOff ? retryAfter(after.nextAttemptAt, at) : undefined,
        } as const;
      } finally {
        const left = (inFlight.get(account) ?? 1) - 1;
        if (left === 0) inFlight.delete(account);
        else inFlight.set(account, left);
      }
    },
  };
}

/** Deletes the state of accounts with no failure for `forgetAfterMs` (the backoff already ignores it). */
export async function deleteForgottenLoginBackoff(
  db: Db,
  at = Date.now(),
  policy: Pick<LoginBackoffPolicy, 'forgetAfterMs'> = DEFAULT_LOGIN_BACKOFF,
): Promise<void> {
  await db.delete(loginBackoff).where(lt(loginBackoff.touchedAt, new Date(at - policy.forgetAfterMs)));
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
