import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { ConflictError } from '../../errors.js';
import type { Db } from '../client.js';
import { invitations, users } from '../schema.js';
import { invitationProblem, type InvitationProblem } from './invitation-repo.js';

export type User = typeof users.$inferSelect;

/** PostgreSQL's unique_violation SQLSTATE. */
const UNIQUE_VIOLATION = '23505';
/** The unique partial index that admits one owner (src/db/schema.ts). */
const SINGLE_OWNER_INDEX = 'users_single_owner_idx';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Emails are compared and stored trimmed and lower-cased, so uniqueness is case-insensitive. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function createUserRepo(db: Db) {
  const any = async (): Promise<boolean> => {
    const [row] = await db.select({ id: users.id }).from(users).limit(1);
    return row !== undefined;
  };

  return {
    async findByEmail(email: string): Promise<User | undefined> {
      const [user] = await db
        .select()
        .from(users)
        .where(eq(users.email, normalizeEmail(email)))
        .limit(1);
      return user;
    },

    async findById(id: string): Promise<User | undefined> {
      // A malformed id cannot name a user; asking PostgreSQL would fail with "invalid input syntax for uuid".
      if (!UUID.test(id)) return undefined;
      const [user] = await db.select().from(users).where(eq(users.id, id)).limit(1);
      return user;
    },

    /** Whether the account still exists: one primary-key lookup, made for every authenticated request. */
    async exists(id: string): Promise<boolean> {
      if (!UUID.test(id)) return false;
      const [row] = await db.select({ id: users.id }).from(users).where(eq(users.id, id)).limit(1);
      return row !== undefined;
    },

    /** Whether any account exists. */
    any,

    /** A member account. Throws ConflictError EMAIL_TAKEN when the email is already registered. */
    async create(input: { email: string; passwordHash: string }): Promise<User> {
      return insertUser(db, { ...input, role: 'member' });
    },

    /**
     * The first account, as the owner; undefined when an account exists already. Race-safe: of concurrent first
     * sign-ups one insert wins and the others hit the single-owner index and get undefined too.
     */
    async createOwner(input: { email: string; passwordHash: string }): Promise<User | undefined> {
      if (await any()) return undefined;
      try {
        return await insertUser(db, { ...input, role: 'owner' });
      } catch (error) {
        if (uniqueViolationOf(error) === SINGLE_OWNER_INDEX) return undefined;
        throw error;
      }
    },

    /**
     * A member account created with an invitation, which is used up in the same transaction: a concurrent sign-up
     * with the same token waits for this one and then finds it used; EMAIL_TAKEN (409) leaves it unused.
     */
    async createInvited(
      input: { email: string; passwordHash: string },
      invitationTokenHash: string,
    ): Promise<{ user: User } | { problem: InvitationProblem }> {
      return db.transaction(async (tx) => {
        const [invitation] = await tx
          .update(invitations)
          .set({ usedAt: sql`now()` })
          .where(
            and(
              eq(invitations.tokenHash, invitationTokenHash),
              isNull(invitations.usedAt),
              gt(invitations.expiresAt, sql`now()`),
            ),
          )
          .returning({ id: invitations.id });
        // Not redeemable: say why (a row it could not update is unknown, used or expired; never valid again).
        if (!invitation) return { problem: (await invitationProblem(tx, invitationTokenHash)) ?? 'used' };
        const user = await insertUser(tx, { ...input, role: 'member' });
        await tx.update(invitations).set({ usedBy: user.id }).where(eq(invitations.id, invitation.id));
        return { user };
      });
    },
  };
}

async function insertUser(
  db: Pick<Db, 'insert'>,
  input: { email: string; passwordHash: string; role: User['role'] },
): Promise<User> {
  try {
    const [user] = await db
      .insert(users)
      .values({ email: normalizeEmail(input.email), passwordHash: input.passwordHash, role: input.role })
      .returning();
    if (!user) throw new Error('insert into users returned no row');
    return user;
  } catch (error) {
    const violated = uniqueViolationOf(error);
    if (violated !== undefined && violated !== SINGLE_OWNER_INDEX) {
      throw new ConflictError(
        'EMAIL_TAKEN',
        'An account with this email already exists: sign in with POST /v1/auth/login.',
      );
    }
    throw error;
  }
}

export type UserRepo = ReturnType<typeof createUserRepo>;

/**
 * The constraint a unique violation names ('' when the driver did not say), or undefined for any other error.
 * Drizzle wraps driver errors (DrizzleQueryError) with the original in `cause`; postgres.js names the constraint
 * `constraint_name`, PGlite `constraint`.
 */
function uniqueViolationOf(error: unknown): string | undefined {
  for (const candidate of [error, (error as { cause?: unknown } | null)?.cause]) {
    const fields = candidate as { code?: unknown; constraint_name?: unknown; constraint?: unknown } | null;
    if (fields?.code !== UNIQUE_VIOLATION) continue;
    const name = fields.constraint_name ?? fields.constraint;
    return typeof name === 'string' ? name : '';
  }
  return undefined;
}
