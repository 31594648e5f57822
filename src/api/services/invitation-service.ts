import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '../../config.js';
import type { InvitationProblem, InvitationRepo } from '../../db/repos/invitation-repo.js';
import type { UserRepo } from '../../db/repos/user-repo.js';
import { AppError, UnauthorizedError } from '../../errors.js';

export type RegistrationMode = Config['auth']['registrationMode'];

/** How long an invitation can be used. */
export const INVITATION_TTL_SECONDS = 7 * 24 * 3600;

/**
 * What the database keeps of an invitation token: its SHA-256 (hex). The token carries 256 random bits, so a plain
 * hash cannot be reversed by guessing, and looking it up by hash leaves no timing to measure on the token itself.
 */
export function hashInvitationToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The 403 INVITATION_INVALID for each reason, each with what to do next. */
export function invitationInvalidError(problem: InvitationProblem): AppError {
  const why = {
    unknown: 'This invitation token is not known here: check that it was copied whole',
    used: 'This invitation has already been used (each one creates a single account)',
    expired: `This invitation has expired (invitations last ${INVITATION_TTL_SECONDS / 86_400} days)`,
  }[problem];
  return new AppError(
    'INVITATION_INVALID',
    403,
    `${why}. Ask the owner of this Hookflow server for a new one (POST /v1/invitations) and send it as "invitation".`,
    [{ path: 'body.invitation', message: `invitation ${problem}` }],
  );
}

export function createInvitationService(deps: {
  users: Pick<UserRepo, 'findById'>;
  invitations: Pick<InvitationRepo, 'create'>;
  registrationMode: RegistrationMode;
}) {
  return {
    /**
     * A new single-use sign-up token, for the owner only (403 OWNER_REQUIRED otherwise). The token is returned this
     * once and stored only as its hash.
     */
    async create(userId: string): Promise<{ token: string; expiresAt: string }> {
      const user = await deps.users.findById(userId);
      if (!user) throw new UnauthorizedError('The account for this token no longer exists: register again.');
      if (user.role !== 'owner') {
        throw new AppError(
          'OWNER_REQUIRED',
          403,
          'Only the owner of this Hookflow server (its first account) can create invitations: ask them for one.',
        );
      }
      if (deps.registrationMode === 'closed') {
        throw new AppError(
          'REGISTRATION_CLOSED',
          409,
          'Registration is closed on this server (REGISTRATION_MODE=closed), so an invitation could not be used. ' +
            'Set REGISTRATION_MODE=first-user to let people sign up with invitations.',
        );
      }
      const token = `inv_${randomBytes(32).toString('base64url')}`;
      const { expiresAt } = await deps.invitations.create({
        tokenHash: hashInvitationToken(token),
        createdBy: user.id,
        ttlSeconds: INVITATION_TTL_SECONDS,
      });
      return { token, expiresAt: expiresAt.toISOString() };
    },
  };
}

export type InvitationService = ReturnType<typeof createInvitationService>;
