import { eq, sql } from 'drizzle-orm';
import type { Db } from '../client.js';
import { invitations } from '../schema.js';

/** Why an invitation cannot be used; `unknown` also covers a token that was never issued. */
export type InvitationProblem = 'unknown' | 'used' | 'expired';

/** Invitations by token hash; the token itself never reaches the database. Redeeming is the user repo's (one transaction). */
export function createInvitationRepo(db: Db) {
  return {
    /** Stores an invitation valid for `ttlSeconds` from now (the database's clock, which also judges expiry). */
    async create(input: {
      tokenHash: string;
      createdBy: string;
      ttlSeconds: number;
    }): Promise<{ expiresAt: Date }> {
      const [row] = await db
        .insert(invitations)
        .values({
          tokenHash: input.tokenHash,
          createdBy: input.createdBy,
          expiresAt: sql`now() + make_interval(secs => ${input.ttlSeconds})`,
        })
        .returning({ expiresAt: invitations.expiresAt });
      if (!row) throw new Error('insert into invitations returned no row');
      return row;
    },

    /** Why the invitation with this token hash cannot be used now, or undefined when it can. */
    problem: (tokenHash: string) => invitationProblem(db, tokenHash),
  };
}

export type InvitationRepo = ReturnType<typeof createInvitationRepo>;

/** Shared with the user repo, which asks again inside its transaction when redeeming fails. */
export async function invitationProblem(
  db: Pick<Db, 'select'>,
  tokenHash: string,
): Promise<InvitationProblem | undefined> {
  const [row] = await db
    .select({ usedAt: invitations.usedAt, expired: sql<boolean>`${invitations.expiresAt} <= now()` })
    .from(invitations)
    .where(eq(invitations.tokenHash, tokenHash))
    .limit(1);
  if (!row) return 'unknown';
  if (row.usedAt) return 'used';
  if (row.expired) return 'expired';
  return undefined;
}
