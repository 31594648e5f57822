import argon2 from 'argon2';
import type { InvitationRepo } from '../../db/repos/invitation-repo.js';
import { normalizeEmail, type User, type UserRepo } from '../../db/repos/user-repo.js';
import { AppError, UnauthorizedError } from '../../errors.js';
import { hashInvitationToken, invitationInvalidError, type RegistrationMode } from './invitation-service.js';
import { loginClientKey, type LoginBackoff } from './login-backoff.js';

export const PASSWORD_MIN_LENGTH = 8;
/** Caps the work one request can make argon2 do. */
export const PASSWORD_MAX_LENGTH = 256;

/** OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane. */
const hashOptions = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export interface PublicUser {
  id: string;
  email: string;
}

export function createAuthService(deps: {
  users: UserRepo;
  invitations: Pick<InvitationRepo, 'problem'>;
  registrationMode: RegistrationMode;
  loginBackoff: LoginBackoff;
}) {
  const { users, registrationMode, loginBackoff } = deps;
  const invalidCredentials = () =>
    new AppError('INVALID_CREDENTIALS', 401, 'Email or password is incorrect.');
  const tooManyAttempts = (retryAfterSeconds: number) =>
    new AppError(
      'RATE_LIMITED',
      429,
      `Too many failed sign-in attempts for this email: try again in ${retryAfterSeconds} seconds.`,
      [],
      { 'retry-after': String(retryAfterSeconds) },
    );
  const invitationRequired = () =>
    new AppError(
      'INVITATION_REQUIRED',
      403,
      'This Hookflow server already has an owner, so new accounts need an invitation: ask the owner to create one ' +
        '(POST /v1/invitations) and send it as "invitation" with your email and password.',
      [{ path: 'body.invitation', message: 'required' }],
    );

  // Verified against when the email is unknown, so that answer takes as long as a wrong password does.
  let dummyHash: Promise<string> | undefined;
  const getDummyHash = () => (dummyHash ??= argon2.hash('hookflow-timing-equaliser', hashOptions));

  return {
    /**
     * Creates an account, as REGISTRATION_MODE allows: closed → 403 REGISTRATION_CLOSED; first-user → the first
     * account becomes the owner and later ones need an invitation (403 INVITATION_REQUIRED / INVITATION_INVALID);
     * open → anyone (the invitation is not read). Then WEAK_PASSWORD (400) or EMAIL_TAKEN (409).
     */
    async register(input: {
      email: string;
      password: string;
      invitation?: string | undefined;
    }): Promise<PublicUser> {
      const { email, password, invitation } = input;
      if (registrationMode === 'closed') {
        throw new AppError(
          'REGISTRATION_CLOSED',
          403,
          'Registration is closed on this Hookflow server: no new accounts can be created. Ask its operator.',
        );
      }
      // Answered before the password is looked at or hashed: a refused sign-up costs no argon2 work, and says
      // nothing about which emails have accounts.
      const invitationHash =
        registrationMode === 'first-user' && invitation !== undefined
          ? hashInvitationToken(invitation)
          : undefined;
      if (registrationMode === 'first-user') {
        if (invitationHash === undefined) {
          if (await users.any()) throw invitationRequired();
        } else {
          const problem = await deps.invitations.problem(invitationHash);
          if (problem) throw invitationInvalidError(problem);
        }
      }
      if (password.length < PASSWORD_MIN_LENGTH || password.length > PASSWORD_MAX_LENGTH) {
        throw new AppError(
          'WEAK_PASSWORD',
          400,
          `The password must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters long (it has ${password.length}); a passphrase of a few words works well.`,
          [
            {
              path: 'body.password',
              message: `must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`,
            },
          ],
        );
      }
      const account = { email, passwordHash: await argon2.hash(password, hashOptions) };
      // In every mode the first account is the owner, so switching to first-user later finds someone to invite.
      let user: User | undefined;
      if (registrationMode === 'open') {
        user = (await users.createOwner(account)) ?? (await users.create(account));
      } else if (invitationHash === undefined) {
        // Checked again here, atomically: of concurrent first sign-ups only one becomes the owner.
        user = await users.createOwner(account);
        if (!user) throw invitationRequired();
      } else {
        const created = await users.createInvited(account, invitationHash);
        if ('problem' in created) throw invitationInvalidError(created.problem);
        user = created.user;
      }
      return { id: user.id, email: user.email };
    },

    /**
     * Checks a password from `clientAddress`. Unknown email and wrong password fail alike: INVALID_CREDENTIALS (401),
     * or RATE_LIMITED (429, Retry-After) while the email backs off (login-backoff.ts: a client that has not been
     * failing still gets its password checked, so the right one always works from there).
     */
    async login(email: string, password: string, clientAddress: string): Promise<PublicUser> {
      // No account has a longer password, and argon2 need not spend time on it.
      if (password.length > PASSWORD_MAX_LENGTH) throw invalidCredentials();
      // Keyed by the email, known or not: the backoff must not tell which emails have accounts.
      const result = await loginBackoff.attempt(
        normalizeEmail(email),
        loginClientKey(clientAddress),
        async () => {
          const user = await users.findByEmail(email);
          if (!user) {
            await argon2.verify(await getDummyHash(), password);
            return undefined;
          }
          return (await argon2.verify(user.passwordHash, password)) ? user : undefined;
        },
      );
      switch (result.outcome) {
        case 'success':
          return { id: result.value.id, email: result.value.email };
        case 'throttled':
          throw tooManyAttempts(result.retryAfterSeconds);
        case 'failure':
          if (result.retryAfterSeconds !== undefined) throw tooManyAttempts(result.retryAfterSeconds);
          throw invalidCredentials();
      }
    },

    /** The signed-in user; UNAUTHORIZED (401) when the account behind a still-valid token is gone. */
    async me(userId: string): Promise<PublicUser> {
      const user = await users.findById(userId);
      if (!user) throw new UnauthorizedError('The account for this token no longer exists: register again.');
      return { id: user.id, email: user.email };
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
