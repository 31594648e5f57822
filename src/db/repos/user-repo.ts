import { eq } from 'drizzle-orm';
import { ConflictError } from '../../errors.js';
import type { Db } from '../client.js';
import { users } from '../schema.js';

export type User = typeof users.$inferSelect;

/** PostgreSQL's unique_violation SQLSTATE. */
const UNIQUE_VIOLATION = '23505';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Emails are compared and stored trimmed and lower-cased, so uniqueness is case-insensitive. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function createUserRepo(db: Db) {
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

    /** Throws ConflictError EMAIL_TAKEN when the email is already registered (also under a concurrent insert). */
    async create(input: { email: string; passwordHash: string }): Promise<User> {
      try {
        const [user] = await db
          .insert(users)
          .values({ email: normalizeEmail(input.email), passwordHash: input.passwordHash })
          .returning();
        if (!user) throw new Error('insert into users returned no row');
        return user;
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw new ConflictError(
            'EMAIL_TAKEN',
            'An account with this email already exists: sign in with POST /v1/auth/login.',
          );
        }
        throw error;
      }
    },
  };
}

export type UserRepo = ReturnType<typeof createUserRepo>;

/** Drizzle wraps driver errors (DrizzleQueryError) with the original in `cause`; both drivers set `code`. */
function isUniqueViolation(error: unknown): boolean {
  const code = (value: unknown) => (value as { code?: unknown } | null | undefined)?.code;
  return (
    code(error) === UNIQUE_VIOLATION ||
    code((error as { cause?: unknown } | null)?.cause) === UNIQUE_VIOLATION
  );
}
