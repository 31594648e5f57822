import argon2 from 'argon2';
import type { UserRepo } from '../../db/repos/user-repo.js';
import { AppError, UnauthorizedError } from '../../errors.js';

export const PASSWORD_MIN_LENGTH = 8;
/** Caps the work one request can make argon2 do. */
export const PASSWORD_MAX_LENGTH = 256;

/** OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane. */
const hashOptions = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export interface PublicUser {
  id: string;
  email: string;
}

export function createAuthService(deps: { users: UserRepo }) {
  const { users } = deps;
  const invalidCredentials = () =>
    new AppError('INVALID_CREDENTIALS', 401, 'Email or password is incorrect.');

  // Verified against when the email is unknown, so that answer takes as long as a wrong password does.
  let dummyHash: Promise<string> | undefined;
  const getDummyHash = () => (dummyHash ??= argon2.hash('hookflow-timing-equaliser', hashOptions));

  return {
    /** Creates an account. Throws WEAK_PASSWORD (400) or EMAIL_TAKEN (409). */
    async register(email: string, password: string): Promise<PublicUser> {
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
      const passwordHash = await argon2.hash(password, hashOptions);
      const user = await users.create({ email, passwordHash });
      return { id: user.id, email: user.email };
    },

    /** Checks a password. Unknown email and wrong password fail alike: INVALID_CREDENTIALS (401). */
    async login(email: string, password: string): Promise<PublicUser> {
      // No account has a longer password, and argon2 need not spend time on it.
      if (password.length > PASSWORD_MAX_LENGTH) throw invalidCredentials();
      const user = await users.findByEmail(email);
      if (!user) {
        await argon2.verify(await getDummyHash(), password);
        throw invalidCredentials();
      }
      if (!(await argon2.verify(user.passwordHash, password))) throw invalidCredentials();
      return { id: user.id, email: user.email };
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
